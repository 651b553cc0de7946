//! SAML 2.0 messages (Web Browser SSO profile): our `AuthnRequest` (signed, HTTP-Redirect or
//! HTTP-POST binding) and the checks on the IdP's `Response`.
//!
//! XML security is libxmlsec1's through `samael`: signature verification reduced to the
//! signed content, decryption of `EncryptedAssertion`, enveloped signing. What we add around
//! it: no DTDs, exactly one `Response` and at most one assertion in the whole document (an
//! XML-signature-wrapping attack needs a second copy of the signed element), a required
//! `AudienceRestriction`, the level map, and a persistent subject.

use super::keys::{Pair, SpKeys};
use crate::config::{LevelVocabulary, SamlBinding, UpstreamConfig};
use crate::domain::claims::verified_claim;
use crate::domain::level::Loa;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use quick_xml::events::Event;
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer};
use samael::metadata::EntityDescriptor;
use samael::schema::Assertion;
use samael::service_provider::{Error as SpError, ServiceProviderBuilder};
use serde_json::{Map, Value};
use std::io::Write;

/// Largest `SAMLResponse` form value we read (base64).
pub const MAX_RESPONSE_B64: usize = 512 * 1024;
/// Clock skew allowed on `NotBefore` / `NotOnOrAfter`.
const SKEW_SECS: i64 = 60;
/// How old a response's `IssueInstant` may be.
const ISSUE_DELAY_SECS: i64 = 300;

pub const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const AKDB_NS: &str = "https://www.akdb.de/request/2018/09";

/// Why a response is refused.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error("the response is not well-formed: {0}")]
    Malformed(String),
    #[error("the signature is missing or invalid")]
    Signature,
    #[error("the citizen cancelled at the identity provider")]
    Cancelled,
    #[error("the identity provider did not reach the requested level")]
    LevelNotReached,
    #[error("the identity provider answered with status {0}")]
    Status(String),
    #[error("the response is not valid for us: {0}")]
    Invalid(String),
}

/// What a valid response confirmed.
#[derive(Debug, Clone)]
pub struct Verified {
    pub assertion_id: String,
    /// Until when the assertion may be presented (for the replay cache).
    pub not_on_or_after: Option<chrono::DateTime<chrono::Utc>>,
    pub subject: String,
    pub level: Loa,
    /// Verified claims as (name, JSON value).
    pub claims: Vec<(String, String)>,
    pub email: Option<String>,
}

/// The IdP as its metadata describes it.
#[derive(Clone)]
pub struct Idp {
    pub entity_id: String,
    pub sso_redirect: Option<String>,
    pub sso_post: Option<String>,
    pub descriptor: EntityDescriptor,
}

/// Refuses a document type declaration: SAML has no use for one, and entities are the way to
/// XXE and billion-laughs attacks.
pub fn no_dtd(xml: &str) -> Result<(), ResponseError> {
    let lower = xml.to_ascii_lowercase();
    if lower.contains("<!doctype") || lower.contains("<!entity") {
        return Err(ResponseError::Malformed("a DTD is not allowed".into()));
    }
    // libxml2 would follow another declared encoding, and then read another document than
    // the one these checks read.
    if let Some(decl) = lower.trim_start().strip_prefix("<?xml")
        && let Some(end) = decl.find("?>")
        && decl[..end].contains("encoding")
        && !(decl[..end].contains("\"utf-8\"") || decl[..end].contains("'utf-8'"))
    {
        return Err(ResponseError::Malformed("only UTF-8 is accepted".into()));
    }
    Ok(())
}

impl Idp {
    /// Reads IdP metadata (an `EntityDescriptor` with an `IDPSSODescriptor` and at least
    /// one signing certificate).
    ///
    /// # Errors
    /// A sentence saying what is missing.
    pub fn parse(xml: &str, trust: Option<&CertificateDer>) -> Result<Self, String> {
        no_dtd(xml).map_err(|e| e.to_string())?;
        let xml = match trust {
            Some(cert) => {
                use samael::crypto::{Crypto, CryptoProvider, ReduceMode};
                Crypto::reduce_xml_to_signed(
                    xml,
                    std::slice::from_ref(cert),
                    ReduceMode::ValidateAndMarkNoAncestors,
                )
                .map_err(|_| "the metadata's signature is missing or invalid".to_owned())?
            }
            None => xml.to_owned(),
        };
        let descriptor: EntityDescriptor = samael::metadata::de::from_str(&xml)
            .map_err(|e| format!("not an EntityDescriptor: {e}"))?;
        let entity_id = descriptor
            .entity_id
            .clone()
            .ok_or("the metadata has no entityID")?;
        let idp = descriptor
            .idp_sso_descriptors
            .as_ref()
            .and_then(|d| d.first())
            .ok_or("the metadata has no IDPSSODescriptor")?;
        let signing = idp
            .key_descriptors
            .iter()
            .filter(|k| k.key_use.as_deref().is_none_or(|u| u == "signing"))
            .any(|k| {
                k.key_info
                    .x509_data
                    .as_ref()
                    .is_some_and(|x| !x.certificates.is_empty())
            });
        if !signing {
            // Without a certificate samael would accept unsigned responses.
            return Err("the metadata names no signing certificate".into());
        }
        let sso = |binding: &str| {
            idp.single_sign_on_services
                .iter()
                .find(|s| s.binding == binding)
                .map(|s| s.location.clone())
        };
        Ok(Self {
            entity_id,
            sso_redirect: sso(REDIRECT_BINDING),
            sso_post: sso(POST_BINDING),
            descriptor,
        })
    }
}

/// Where the upstream's `AuthnRequest` goes, and how.
#[derive(Debug, Clone)]
pub enum Departure {
    /// A 303 to this URL (HTTP-Redirect binding).
    Redirect(String),
    /// A form posted to `url` (HTTP-POST binding).
    Post {
        url: String,
        saml_request: String,
        relay_state: String,
    },
}

/// Escapes text for XML content and attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// The enveloped-signature template xmlsec fills (exclusive c14n, RSA-SHA256).
pub fn signature_template(ref_id: &str, cert_b64: &str) -> String {
    format!(
        concat!(
            r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>"#,
            r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
            r#"<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>"#,
            r##"<ds:Reference URI="#{}"><ds:Transforms>"##,
            r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#,
            r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
            r#"</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>"#,
            r#"<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>"#,
            r#"<ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data>"#,
            r#"<ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"#
        ),
        esc(ref_id),
        cert_b64
    )
}

/// Signs a document whose root carries `ID` and a [`signature_template`].
///
/// # Errors
/// When xmlsec refuses.
pub fn sign(xml: &str, key: &Pair) -> Result<String, String> {
    use samael::crypto::{Crypto, CryptoProvider};
    Crypto::sign_xml(xml, &key.key_der).map_err(|e| format!("signing: {e}"))
}

/// The `AuthnRequestContext` value for `level` in the upstream's vocabulary.
#[must_use]
pub fn class_ref(vocabulary: LevelVocabulary, level: Loa) -> &'static str {
    match (vocabulary, level) {
        (LevelVocabulary::Stork, Loa::Low) => "STORK-QAA-Level-1",
        (LevelVocabulary::Stork, Loa::Substantial) => "STORK-QAA-Level-3",
        (LevelVocabulary::Stork, Loa::High) => "STORK-QAA-Level-4",
        (LevelVocabulary::Eidas, l) => l.acr(),
    }
}

/// Our level for an upstream's level value: the configured map, else the vocabulary's
/// standard words (STORK 1-2 low, 3 substantial, 4 high; the eIDAS URIs).
#[must_use]
pub fn level_of(u: &UpstreamConfig, value: &str) -> Option<Loa> {
    if u.acr_map.is_empty() {
        Loa::from_acr(value.trim())
    } else {
        u.acr_map.get(value.trim()).and_then(|l| Loa::from_name(l))
    }
}

/// The attributes to request, each with whether it is required (the subject attribute,
/// first).
#[must_use]
pub fn requested_attributes(u: &UpstreamConfig) -> Vec<(&str, bool)> {
    let subject = u.subject_attribute.as_deref();
    subject
        .map(|s| (s, true))
        .into_iter()
        .chain(
            u.attributes
                .keys()
                .map(String::as_str)
                .filter(|n| Some(*n) != subject)
                .map(|n| (n, false)),
        )
        .collect()
}

/// Our request to the IdP (owned: it is signed on the blocking pool).
pub struct Request {
    pub upstream: UpstreamConfig,
    pub idp: std::sync::Arc<Idp>,
    pub entity_id: String,
    pub acs: String,
    pub id: String,
    pub level: Loa,
    pub relay_state: String,
    /// Ask the IdP to authenticate again (a step-up must not reuse an older login there).
    pub force: bool,
}

impl Request {
    fn xml(&self, signature: Option<&str>) -> String {
        let u = &self.upstream;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let dest = match u.binding {
            SamlBinding::Redirect => self.idp.sso_redirect.as_deref(),
            SamlBinding::Post => self.idp.sso_post.as_deref(),
        }
        .unwrap_or_default();
        let mut x = format!(
            concat!(
                r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" "#,
                r#"xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" "#,
                r#"IssueInstant="{now}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" "#,
                r#"ProtocolBinding="{binding}" ForceAuthn="{force}">"#,
                r#"<saml:Issuer>{issuer}</saml:Issuer>"#
            ),
            id = esc(&self.id),
            now = now,
            dest = esc(dest),
            acs = esc(&self.acs),
            binding = POST_BINDING,
            force = self.force,
            issuer = esc(&self.entity_id),
        );
        if let Some(s) = signature {
            x.push_str(s);
        }
        // BundID's extension for the attributes to release (AKDB, version 2).
        if !u.attributes.is_empty() || u.subject_attribute.is_some() {
            x.push_str(&format!(
                r#"<samlp:Extensions><akdb:AuthenticationRequest xmlns:akdb="{AKDB_NS}" Version="2"><akdb:RequestedAttributes>"#
            ));
            for (name, required) in requested_attributes(u) {
                x.push_str(&format!(
                    r#"<akdb:RequestedAttribute Name="{}" RequiredAttribute="{required}"/>"#,
                    esc(name)
                ));
            }
            x.push_str(
                "</akdb:RequestedAttributes></akdb:AuthenticationRequest></samlp:Extensions>",
            );
        }
        if u.subject_attribute.is_none() {
            x.push_str(&format!(
                r#"<samlp:NameIDPolicy Format="{PERSISTENT}" AllowCreate="true"/>"#
            ));
        }
        x.push_str(&format!(
            r#"<samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>{}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#,
            class_ref(u.level_vocabulary, self.level)
        ));
        x.push_str("</samlp:AuthnRequest>");
        x
    }

    /// The signed request in the upstream's binding.
    ///
    /// # Errors
    /// When the IdP has no endpoint for the binding, or signing fails.
    pub fn departure(&self, keys: &SpKeys) -> Result<Departure, String> {
        match self.upstream.binding {
            SamlBinding::Redirect => {
                let dest = self
                    .idp
                    .sso_redirect
                    .as_deref()
                    .ok_or("the IdP has no HTTP-Redirect SSO endpoint")?;
                let mut deflated = Vec::new();
                {
                    let mut enc = flate2::write::DeflateEncoder::new(
                        &mut deflated,
                        flate2::Compression::default(),
                    );
                    enc.write_all(self.xml(None).as_bytes())
                        .map_err(|e| e.to_string())?;
                    enc.finish().map_err(|e| e.to_string())?;
                }
                let mut url = url::Url::parse(dest).map_err(|e| e.to_string())?;
                // SAML Bindings §3.4.4.1: the signature covers exactly SAMLRequest,
                // RelayState and SigAlg, in that order.
                url.set_query(None);
                url.query_pairs_mut()
                    .append_pair("SAMLRequest", &STANDARD.encode(&deflated))
                    .append_pair("RelayState", &self.relay_state);
                let signed = samael::crypto::sign_url(url, &keys.signer().key)
                    .map_err(|e| format!("signing: {e}"))?;
                Ok(Departure::Redirect(signed.into()))
            }
            SamlBinding::Post => {
                let dest = self
                    .idp
                    .sso_post
                    .clone()
                    .ok_or("the IdP has no HTTP-POST SSO endpoint")?;
                let template = signature_template(&self.id, &keys.signer().cert_b64());
                let signed = sign(&self.xml(Some(&template)), keys.signer())?;
                Ok(Departure::Post {
                    url: dest,
                    saml_request: STANDARD.encode(signed.as_bytes()),
                    relay_state: self.relay_state.clone(),
                })
            }
        }
    }
}

/// What the raw document looks like before any cryptography.
struct Shape {
    /// `StatusCode` values, outermost first.
    status: Vec<String>,
}

/// The transforms a SAML signature may name (SAML Core §5.4.4): anything else is work an
/// attacker could make libxmlsec1 do before the signature value is checked.
const TRANSFORMS: [&[u8]; 5] = [
    b"http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    b"http://www.w3.org/2001/10/xml-exc-c14n#",
    b"http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    b"http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    b"http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
];

fn attr(s: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<Vec<u8>> {
    s.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .map(|a| a.value.into_owned())
}

/// Counts the elements an XML-signature-wrapping attack would have to duplicate, and
/// allows only the signature shape SAML uses (SAML Core §5.4): at most two signatures,
/// each a child of the `Response` or the `Assertion`, each with one same-document
/// `Reference` and the standard transforms; no `Object`, `Manifest` or `RetrievalMethod`.
/// libxmlsec1 follows references and runs transforms before it checks the signature value,
/// so anything else is refused before it gets there.
fn shape(xml: &str) -> Result<Shape, ResponseError> {
    no_dtd(xml)?;
    let bad = |what: &str| Err(ResponseError::Malformed(what.to_owned()));
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut responses, mut assertions, mut signatures, mut references) = (0u32, 0u32, 0u32, 0u32);
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut status = Vec::new();
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| ResponseError::Malformed(e.to_string()))?;
        let (s, empty) = match &ev {
            Event::Start(s) => (s, false),
            Event::Empty(s) => (s, true),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => break,
            Event::DocType(_) => return bad("a DTD is not allowed"),
            _ => continue,
        };
        let local = s.local_name().as_ref().to_vec();
        if stack.is_empty() && responses > 0 {
            return bad("one root element");
        }
        match local.as_slice() {
            b"Response" => responses += 1,
            b"Assertion" | b"EncryptedAssertion" => assertions += 1,
            b"Signature" => {
                signatures += 1;
                let parent = stack.last().map(Vec::as_slice);
                if signatures > 2 || !matches!(parent, Some(b"Response" | b"Assertion")) {
                    return bad("unexpected signature");
                }
            }
            b"Reference" => {
                references += 1;
                let uri = attr(s, b"URI").unwrap_or_default();
                if references > signatures || uri.len() < 2 || uri.first() != Some(&b'#') {
                    return bad("a signature may reference only its element");
                }
            }
            b"Transform" => {
                let alg = attr(s, b"Algorithm").unwrap_or_default();
                if !TRANSFORMS.contains(&alg.as_slice()) {
                    return bad("transform not allowed");
                }
            }
            b"Object" | b"Manifest" | b"RetrievalMethod" | b"XPath" => {
                return bad("not allowed in a signature");
            }
            b"StatusCode" => {
                if let Some(v) = s
                    .attributes()
                    .flatten()
                    .find(|a| a.key.local_name().as_ref() == b"Value")
                {
                    status.push(String::from_utf8_lossy(&v.value).into_owned());
                }
            }
            _ => {}
        }
        if stack.is_empty() && local != b"Response" {
            return bad("expected a Response");
        }
        if !empty {
            stack.push(local);
        }
    }
    if responses != 1 || assertions > 1 {
        return Err(ResponseError::Malformed(
            "expected one Response with at most one assertion".into(),
        ));
    }
    Ok(Shape { status })
}

const DSIG: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";

/// Repeats the in-scope `xmlns:ds` declaration on each `ds:KeyInfo` start tag that lacks
/// one. samael 0.0.22 reads the declaration as a required field of the `KeyInfo` inside
/// `EncryptedData`, so a response whose IdP declared `ds` once at the root (pysaml2, and
/// any serialiser that hoists namespaces) would not parse. The repeated declaration binds
/// the prefix to the URI it already has: the document's meaning is unchanged, and both
/// canonicalisations leave out a declaration that an output ancestor already made, so
/// signatures are unaffected (W3C C14N §2.3, Exclusive C14N §3).
fn declare_ds(xml: &str) -> Result<String, ResponseError> {
    use quick_xml::name::ResolveResult;
    let mut reader = quick_xml::NsReader::from_str(xml);
    let mut inserts = Vec::new();
    loop {
        let pos = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let ev = reader
            .read_resolved_event()
            .map_err(|e| ResponseError::Malformed(e.to_string()))?;
        match ev {
            (ResolveResult::Bound(ns), Event::Start(s) | Event::Empty(s))
                if ns.as_ref() == DSIG && s.name().as_ref() == b"ds:KeyInfo" =>
            {
                let declared = s
                    .attributes()
                    .flatten()
                    .any(|a| a.key.as_ref() == b"xmlns:ds");
                if !declared {
                    inserts.push(pos + "<ds:KeyInfo".len());
                }
            }
            (_, Event::Eof) => break,
            _ => {}
        }
    }
    let mut out = String::with_capacity(xml.len() + inserts.len() * 48);
    let mut at = 0;
    for i in inserts {
        let Some(head) = xml.get(at..i) else {
            return Err(ResponseError::Malformed("unexpected KeyInfo".into()));
        };
        out.push_str(head);
        out.push_str(r#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#""#);
        at = i;
    }
    out.push_str(xml.get(at..).unwrap_or_default());
    Ok(out)
}

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

fn status_error(shape: &Shape) -> ResponseError {
    let nested = shape.status.get(1).map(String::as_str).unwrap_or_default();
    match nested.rsplit(':').next().unwrap_or_default() {
        "AuthnFailed" | "RequestDenied" => ResponseError::Cancelled,
        "NoAuthnContext" => ResponseError::LevelNotReached,
        _ => ResponseError::Status(shape.status.join(" / ")),
    }
}

/// The checks a service provider owes a `Response` (SAML Profiles §4.1.4.3), for the
/// request `request_id`, at the level `min_level` or higher (owned: it runs on the blocking
/// pool).
pub struct Check {
    pub upstream: UpstreamConfig,
    pub idp: std::sync::Arc<Idp>,
    pub keys: SpKeys,
    pub entity_id: String,
    pub acs: String,
    pub request_id: String,
    pub min_level: Loa,
}

impl Check {
    /// # Errors
    /// Why the response is refused.
    pub fn verify(&self, saml_response: &str) -> Result<Verified, ResponseError> {
        if saml_response.len() > MAX_RESPONSE_B64 {
            return Err(ResponseError::Malformed("the response is too large".into()));
        }
        let compact: String = saml_response
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = STANDARD
            .decode(compact)
            .map_err(|_| ResponseError::Malformed("SAMLResponse is not base64".into()))?;
        let xml = std::str::from_utf8(&bytes)
            .map_err(|_| ResponseError::Malformed("SAMLResponse is not UTF-8".into()))?;
        let shape = shape(xml)?;
        let patched = declare_ds(xml)?;
        let xml = patched.as_str();
        let mut last = ResponseError::Signature;
        for key in self.keys.decryption_keys() {
            match self.with_key(xml, key) {
                Ok(a) => return self.read(&a),
                Err(SpError::ResponseBadStatusCode { .. }) => return Err(status_error(&shape)),
                Err(SpError::FailedToValidateSignature) => return Err(ResponseError::Signature),
                // The previous encryption key may still be the one the IdP used.
                Err(e @ (SpError::FailedToDecryptAssertion | SpError::CryptoProviderError(_))) => {
                    last = ResponseError::Invalid(e.to_string());
                }
                Err(e) => return Err(ResponseError::Invalid(e.to_string())),
            }
        }
        if shape.status.first().is_some_and(|s| s != SUCCESS) {
            return Err(status_error(&shape));
        }
        Err(last)
    }

    fn with_key(&self, xml: &str, key: &Pair) -> Result<Assertion, SpError> {
        let sp = ServiceProviderBuilder::default()
            .entity_id(Some(self.entity_id.clone()))
            .key(Some(key.key.clone()))
            .idp_metadata(self.idp.descriptor.clone())
            .acs_url(Some(self.acs.clone()))
            .metadata_url(None)
            .slo_url(None)
            .allow_idp_initiated(false)
            .max_clock_skew(chrono::Duration::seconds(SKEW_SECS))
            .max_issue_delay(chrono::Duration::seconds(ISSUE_DELAY_SECS))
            .allowed_signature_algorithms(Some(vec![
                AllowedSignatureAlgorithm::RsaSha256,
                AllowedSignatureAlgorithm::RsaSha384,
                AllowedSignatureAlgorithm::RsaSha512,
                AllowedSignatureAlgorithm::EcdsaSha256,
                AllowedSignatureAlgorithm::EcdsaSha384,
                AllowedSignatureAlgorithm::EcdsaSha512,
            ]))
            .build()
            .map_err(|_| SpError::UnexpectedError)?;
        sp.parse_xml_response(xml, Some(&[self.request_id.as_str()]))
    }

    fn read(&self, a: &Assertion) -> Result<Verified, ResponseError> {
        let invalid = |s: &str| ResponseError::Invalid(s.to_owned());
        if a.id.is_empty() {
            return Err(invalid("the assertion has no ID"));
        }
        // samael checks the audience only when one is named; the profile requires it.
        let audience_ok = a
            .conditions
            .as_ref()
            .and_then(|c| c.audience_restrictions.as_ref())
            .is_some_and(|rs| {
                !rs.is_empty() && rs.iter().all(|r| r.audience.contains(&self.entity_id))
            });
        if !audience_ok {
            return Err(invalid("the assertion is not restricted to our entity id"));
        }
        // Attributes by name, first value each.
        let mut attrs: Vec<(String, String)> = Vec::new();
        for st in a.attribute_statements.iter().flatten() {
            for at in &st.attributes {
                if let (Some(name), Some(v)) =
                    (&at.name, at.values.iter().find_map(|v| v.value.clone()))
                {
                    attrs.push((name.clone(), v));
                }
            }
        }
        let attr = |name: &str| {
            attrs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.trim().to_owned())
        };
        let u = &self.upstream;
        let level_value = match &u.level_attribute {
            Some(name) => attr(name),
            None => a
                .authn_statements
                .iter()
                .flatten()
                .find_map(|s| s.authn_context.as_ref())
                .and_then(|c| c.value.as_ref())
                .and_then(|v| v.value.clone()),
        }
        .ok_or_else(|| invalid("the assertion names no level"))?;
        let level =
            level_of(u, &level_value).ok_or_else(|| invalid("the asserted level is unknown"))?;
        if level < self.min_level {
            // Never lowered silently: the portal asked for more.
            return Err(ResponseError::LevelNotReached);
        }
        let subject = match &u.subject_attribute {
            Some(name) => attr(name).filter(|v| !v.is_empty()),
            None => a
                .subject
                .as_ref()
                .and_then(|s| s.name_id.as_ref())
                // Only a persistent NameID names the same person for good (an e-mail
                // address or an unspecified one may be given to someone else later).
                .filter(|n| n.format.as_deref() == Some(PERSISTENT))
                .map(|n| n.value.trim().to_owned())
                .filter(|v| !v.is_empty()),
        }
        .ok_or_else(|| invalid("the assertion carries no persistent subject"))?;
        if subject.len() > 256 {
            return Err(invalid("the subject is too long"));
        }
        let mut claims = Vec::new();
        let mut address = Map::new();
        let mut email = None;
        for (name, target) in &u.attributes {
            let Some(v) = attr(name).filter(|v| !v.is_empty()) else {
                continue;
            };
            match target.split_once('.') {
                Some(("address", part)) if v.chars().count() <= 256 => {
                    address.insert(part.to_owned(), Value::String(v));
                }
                _ if target == "email" => email = Some(v),
                _ => {
                    if let Ok(stored) = verified_claim(target, &Value::String(v)) {
                        claims.push((target.clone(), stored));
                    }
                }
            }
        }
        if !address.is_empty()
            && let Ok(stored) = verified_claim("address", &Value::Object(address))
        {
            claims.push(("address".into(), stored));
        }
        let not_on_or_after = a
            .subject
            .as_ref()
            .and_then(|s| s.subject_confirmations.as_ref())
            .and_then(|c| c.first())
            .and_then(|c| c.subject_confirmation_data.as_ref())
            .and_then(|d| d.not_on_or_after);
        Ok(Verified {
            assertion_id: a.id.clone(),
            not_on_or_after,
            subject,
            level,
            claims,
            email,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_needs_a_second_copy_and_is_refused() {
        let one = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="r"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"/></samlp:StatusCode></samlp:Status><saml:Assertion ID="a"/></samlp:Response>"#;
        let s = shape(one).expect("one of each");
        assert!(matches!(status_error(&s), ResponseError::LevelNotReached));
        let two = one.replace(
            r#"<saml:Assertion ID="a"/>"#,
            r#"<saml:Assertion ID="a"/><samlp:Extensions><saml:Assertion ID="b"/></samlp:Extensions>"#,
        );
        assert!(shape(&two).is_err());
        let nested = format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x">{one}</samlp:Response>"#
        );
        assert!(shape(&nested).is_err());
        assert!(shape(r#"<!DOCTYPE x [<!ENTITY a "b">]><Response/>"#).is_err());
        let signed = |reference: &str, transform: &str| {
            format!(
                r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="r"><ds:Signature><ds:SignedInfo>{reference}<ds:Transforms><ds:Transform Algorithm="{transform}"/></ds:Transforms></ds:SignedInfo></ds:Signature></samlp:Response>"#
            )
        };
        let exc = "http://www.w3.org/2001/10/xml-exc-c14n#";
        assert!(shape(&signed(r#"<ds:Reference URI="file:///dev/zero"/>"#, exc)).is_err());
        assert!(shape(&signed(r#"<ds:Reference URI=""/>"#, exc)).is_err());
        assert!(shape(&signed(r##"<ds:Reference URI="#r"/>"##, exc)).is_ok());
        assert!(
            shape(&signed(
                r##"<ds:Reference URI="#r"/><ds:Reference URI="#r"/>"##,
                exc
            ))
            .is_err()
        );
        assert!(
            shape(&signed(
                r##"<ds:Reference URI="#r"/>"##,
                "http://www.w3.org/TR/1999/REC-xpath-19991116"
            ))
            .is_err()
        );
        assert!(shape(r#"<?xml version="1.0" encoding="UTF-7"?><Response/>"#).is_err());
        assert!(
            shape(r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"/>"#)
                .is_err()
        );
    }

    #[test]
    fn ds_is_declared_again_only_where_missing() {
        let xml = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:KeyInfo><x/></ds:KeyInfo><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/><other:KeyInfo xmlns:other="urn:x"/></samlp:Response>"#;
        let out = declare_ds(xml).expect("well-formed");
        assert_eq!(
            out.matches(r#"<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#""#)
                .count(),
            2,
            "{out}"
        );
        assert_eq!(
            out.len(),
            xml.len() + r#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#""#.len()
        );
        assert!(declare_ds("<a><b></a>").is_err());
    }

    #[test]
    fn levels_in_both_vocabularies() {
        let u = UpstreamConfig::default();
        assert_eq!(level_of(&u, "STORK-QAA-Level-4"), Some(Loa::High));
        assert_eq!(level_of(&u, "STORK-QAA-Level-3"), Some(Loa::Substantial));
        assert_eq!(
            level_of(&u, "http://eidas.europa.eu/LoA/high"),
            Some(Loa::High)
        );
        assert_eq!(level_of(&u, "urn:unknown"), None);
        let mut mapped = UpstreamConfig::default();
        mapped.acr_map.insert("eid".into(), "high".into());
        assert_eq!(level_of(&mapped, "eid"), Some(Loa::High));
        assert_eq!(
            level_of(&mapped, "STORK-QAA-Level-4"),
            None,
            "the map replaces the standard words"
        );
        assert_eq!(
            class_ref(LevelVocabulary::Stork, Loa::Substantial),
            "STORK-QAA-Level-3"
        );
        assert_eq!(
            class_ref(LevelVocabulary::Eidas, Loa::High),
            "http://eidas.europa.eu/LoA/high"
        );
    }
}
