//! BundID as a SAML 2.0 upstream, against a real SAML identity provider nobody here wrote:
//! pysaml2's (tests/saml/idp.py) signs and encrypts its assertions, asserts STORK levels and
//! BundID-style attributes, and can misbehave on request.

use crate::helpers::rp::{discover, finish, jwt_payload, start};
use crate::helpers::{Backend, TestApp, hidden, location, query_param, spawn_app_configured};
use buergerkonto::config::{UpstreamConfig, UpstreamKind};
use openidconnect::TokenResponse;
use serde_json::{Value, json};
use std::io::BufRead;

const BPK2: &str = "urn:oid:1.3.6.1.4.1.25484.494450.3";
const GIVEN: &str = "urn:oid:2.5.4.42";
const FAMILY: &str = "urn:oid:2.5.4.4";
const BIRTH: &str = "urn:oid:1.2.40.0.10.2.1.1.55";
const MAIL: &str = "urn:oid:0.9.2342.19200300.100.1.3";
const POSTAL: &str = "urn:oid:2.5.4.17";
const LOCALITY: &str = "urn:oid:2.5.4.7";

/// The fake BundID: a pysaml2 IdP on loopback, killed when dropped.
pub struct FakeBundId {
    child: std::process::Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for FakeBundId {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FakeBundId {
    /// `None` outside CI when python3 with pysaml2 or xmlsec1 is missing.
    pub fn start() -> Option<Self> {
        let ready = std::process::Command::new("python3")
            .args(["-c", "import saml2"])
            .output()
            .is_ok_and(|o| o.status.success())
            && std::process::Command::new("xmlsec1")
                .arg("--version")
                .output()
                .is_ok();
        if !ready {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but pysaml2 or xmlsec1 is missing"
            );
            eprintln!("skipped: pysaml2 or xmlsec1 is not installed");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/saml/idp.py");
        let mut child = std::process::Command::new("python3")
            .args([script, "--dir", &dir.path().display().to_string()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the IdP");
        let out = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .expect("the IdP says READY");
        let base = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("unexpected IdP output {line:?}"))
            .to_owned();
        Some(Self {
            child,
            base,
            dir,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        })
    }

    fn metadata_path(&self) -> String {
        self.dir
            .path()
            .join("idp-metadata.xml")
            .display()
            .to_string()
    }

    /// Follows our redirect to the IdP; returns the key of its login page.
    pub async fn login_page(&self, url: &str) -> String {
        let r = self.http.get(url).send().await.expect("IdP");
        let status = r.status();
        let body = r.text().await.expect("body");
        assert_eq!(status, 200, "the IdP accepts our signed request: {body}");
        hidden(&body, "key").expect("login page key")
    }

    /// The last request the IdP accepted.
    pub async fn last_request(&self) -> Value {
        self.http
            .get(format!("{}/last-request", self.base))
            .send()
            .await
            .expect("IdP")
            .json()
            .await
            .expect("json")
    }

    /// The IdP's answer for `subject` at STORK `level`: (SAMLResponse, RelayState).
    pub async fn answer(
        &self,
        key: &str,
        subject: &str,
        level: u8,
        attributes: &Value,
        mischief: &str,
    ) -> (String, String) {
        let r = self
            .http
            .post(format!("{}/login", self.base))
            .form(&[
                ("key", key),
                ("subject", subject),
                ("level", &level.to_string()),
                ("attributes", &attributes.to_string()),
                ("mischief", mischief),
            ])
            .send()
            .await
            .expect("IdP");
        let status = r.status();
        let body = r.text().await.expect("body");
        assert_eq!(status, 200, "IdP answer: {body}");
        (
            hidden(&body, "SAMLResponse").expect("SAMLResponse"),
            hidden(&body, "RelayState").unwrap_or_default(),
        )
    }
}

/// Our server with the fake BundID as upstream `bundid`; our SP metadata registered there.
pub async fn spawn_with_bundid(idp: &FakeBundId) -> TestApp {
    spawn_with_bundid_as(idp, |_| {}).await
}

/// The same, with the upstream's configuration changed by `tweak`.
async fn spawn_with_bundid_as(
    idp: &FakeBundId,
    tweak: impl FnOnce(&mut UpstreamConfig),
) -> TestApp {
    let metadata = idp.metadata_path();
    let app = spawn_app_configured(Backend::Default, |raw| {
        let mut u = UpstreamConfig {
            id: "bundid".into(),
            name: "BundID".into(),
            kind: UpstreamKind::Saml,
            idp_metadata: metadata,
            metadata_refresh_secs: 3600,
            subject_attribute: Some(BPK2.into()),
            attributes: [
                (GIVEN, "given_name"),
                (FAMILY, "family_name"),
                (BIRTH, "birthdate"),
                (MAIL, "email"),
                (POSTAL, "address.postal_code"),
                (LOCALITY, "address.locality"),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect(),
            ..UpstreamConfig::default()
        };
        tweak(&mut u);
        raw.upstreams.push(u);
    })
    .await;
    register_metadata(idp, &app).await;
    app
}

/// Gives the IdP our current SP metadata.
async fn register_metadata(idp: &FakeBundId, app: &TestApp) -> String {
    let r = app.get("/saml/bundid/metadata").await;
    assert_eq!(r.status(), 200);
    let xml = r.text().await.expect("metadata");
    assert!(
        xml.contains("<ds:SignatureValue>")
            && xml.contains(&format!("{}/saml/bundid/acs", app.config.issuer_str()))
            && xml.contains(BPK2),
        "our metadata is signed and names the ACS and the attributes: {xml}"
    );
    let r = idp
        .http
        .post(format!("{}/setup/sp", idp.base))
        .body(xml.clone())
        .send()
        .await
        .expect("IdP setup");
    assert_eq!(r.status(), 204, "the IdP takes our metadata");
    xml
}

fn citizen(bpk: &str, email: &str) -> Value {
    json!({
        BPK2: bpk,
        GIVEN: "Erika",
        FAMILY: "Mustermann",
        BIRTH: "1964-08-12",
        MAIL: email,
        POSTAL: "29614",
        LOCALITY: "Soltau",
    })
}

/// Presses "Mit BundID anmelden" on the login page of `req`; returns the IdP URL.
async fn press_bundid(app: &TestApp, req: &str) -> String {
    let page = format!("/login?req={req}");
    let body = app.get(&page).await.text().await.expect("login page");
    assert!(
        body.contains("Mit BundID anmelden"),
        "the login page offers BundID"
    );
    let csrf = hidden(&body, "csrf").expect("csrf");
    let r = app
        .post_form("/anmelden/extern/bundid", &[("csrf", &csrf), ("req", req)])
        .await;
    assert_eq!(r.status(), 303);
    location(&r)
}

/// A login round trip from the plain login page; the key of the IdP's login page.
async fn round_trip(app: &TestApp, idp: &FakeBundId) -> String {
    idp.login_page(&press_bundid(app, "").await).await
}

/// Posts the IdP's answer to our ACS as the browser's auto-submitted form would.
async fn post_acs(app: &TestApp, response: &str, relay: &str) -> reqwest::Response {
    app.post_form(
        "/saml/bundid/acs",
        &[("SAMLResponse", response), ("RelayState", relay)],
    )
    .await
}

/// An authorization request of a portal for `acr`; returns (rp, flow, req).
async fn portal_request(
    app: &TestApp,
    acr: &str,
) -> (
    crate::helpers::rp::Rp,
    crate::helpers::rp::Flow,
    crate::helpers::TestClient,
    String,
) {
    let c = app
        .add_client(
            &app.tenant,
            &[
                "--scope", "openid", "--scope", "profile", "--scope", "address",
            ],
        )
        .await;
    let rp = discover(app, &c).await;
    let flow = start(&rp, &["openid", "profile"], &[("acr_values", acr)]);
    let r = app.get(&flow.url).await;
    let login = location(&r);
    let req = query_param(&login, "req").unwrap_or_else(|| panic!("login page: {login}"));
    (rp, flow, c, req)
}

/// From the ACS's 303 to the portal's callback: `/saml/weiter`, the resumed request, consent.
async fn back_to_portal(app: &TestApp, acs: reqwest::Response) -> String {
    assert_eq!(acs.status(), 303, "the ACS accepts the response");
    let weiter = location(&acs);
    assert!(weiter.starts_with("/saml/weiter?t="));
    back_to_portal_from(app, &weiter).await
}

const HIGH: &str = "http://eidas.europa.eu/LoA/high";

#[tokio::test]
async fn a_level_4_bundid_login_reaches_high_in_the_id_token() {
    let Some(idp) = FakeBundId::start() else {
        return;
    };
    let app = spawn_with_bundid(&idp).await;
    let (rp, flow, _, req) = portal_request(&app, HIGH).await;
    let to_idp = press_bundid(&app, &req).await;
    assert!(to_idp.starts_with(&idp.base) && to_idp.contains("Signature="));
    let key = idp.login_page(&to_idp).await;
    let sent = idp.last_request().await;
    assert_eq!(sent["signed"], true);
    assert_eq!(sent["comparison"], "minimum");
    assert_eq!(
        sent["authn_context_class_refs"],
        json!(["STORK-QAA-Level-4"])
    );
    let asked: Vec<&str> = sent["requested_attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(asked.contains(&BPK2) && asked.contains(&GIVEN), "{asked:?}");

    let (resp, relay) = idp
        .answer(
            &key,
            "x",
            4,
            &citizen("bpk-erika", "erika@example.org"),
            "none",
        )
        .await;
    let callback = back_to_portal(&app, post_acs(&app, &resp, &relay).await).await;
    let tokens = finish(&app, &rp, flow, &callback).await;
    let id = jwt_payload(&tokens.id_token().expect("id token").to_string());
    assert_eq!(id["acr"], HIGH, "BundID's level 4 is high");
    assert_eq!(id["level_source"], "upstream:bundid");
    assert_eq!(id["given_name"], "Erika", "verified names with consent");
    assert_eq!(id["birthdate"], "1964-08-12");

    // The first login made the account, with BundID's address and a confirmed identity.
    let (ok, shown, err) = app.cli(&["user", "show", "--email", "erika@example.org"], None);
    assert!(ok, "{err}");
    assert_eq!(shown["proofing_level"], "high", "{shown}");

    // The next login finds the same account (one upstream identity, one account).
    let mut app = app;
    app.reset_browser();
    let (_, _, _, req) = portal_request(&app, HIGH).await;
    let key = idp.login_page(&press_bundid(&app, &req).await).await;
    let (resp, relay) = idp
        .answer(
            &key,
            "x",
            4,
            &citizen("bpk-erika", "other@example.org"),
            "none",
        )
        .await;
    back_to_portal(&app, post_acs(&app, &resp, &relay).await).await;
    let (ok, list, _) = app.cli(&["user", "list"], None);
    assert!(ok);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

#[tokio::test]
async fn a_level_3_answer_for_a_high_request_is_refused_never_lowered() {
    let Some(idp) = FakeBundId::start() else {
        return;
    };
    let app = spawn_with_bundid(&idp).await;
    let (_, _, _, req) = portal_request(&app, HIGH).await;
    let key = idp.login_page(&press_bundid(&app, &req).await).await;
    let (resp, relay) = idp
        .answer(&key, "x", 3, &citizen("bpk-max", "max@example.org"), "none")
        .await;
    let r = post_acs(&app, &resp, &relay).await;
    assert_eq!(r.status(), 403);
    let page = r.text().await.expect("page");
    assert!(page.contains("Vertrauensniveau nicht erreicht"), "{page}");
    // The IdP itself saying so is the same page.
    let (resp, relay) = idp.answer(&key, "x", 4, &json!({}), "nolevel").await;
    assert_eq!(post_acs(&app, &resp, &relay).await.status(), 403);
    let r = app.get("/konto").await;
    assert!(location(&r).starts_with("/login"), "no session");
    let (_, list, _) = app.cli(&["user", "list"], None);
    assert_eq!(list, json!([]), "no account");
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unb64(s: &str) -> String {
    use base64::Engine;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .expect("base64"),
    )
    .expect("utf-8")
}

#[tokio::test]
async fn hostile_responses_are_refused_with_a_page_and_nothing_is_linked() {
    let Some(idp) = FakeBundId::start() else {
        return;
    };
    let app = spawn_with_bundid(&idp).await;
    let erika = citizen("bpk-erika", "erika@example.org");
    for mischief in [
        "unsigned",
        "expired",
        "audience",
        "destination",
        "recipient",
        "foreignkey",
    ] {
        let key = round_trip(&app, &idp).await;
        let (resp, relay) = idp.answer(&key, "x", 4, &erika, mischief).await;
        let r = post_acs(&app, &resp, &relay).await;
        assert_eq!(r.status(), 400, "{mischief} is refused");
        let page = r.text().await.expect("page");
        assert!(page.contains("nichts übernommen"), "{mischief}: {page}");
    }
    // Tampered: one character of the signed response changed.
    let key = round_trip(&app, &idp).await;
    let (resp, relay) = idp.answer(&key, "x", 4, &erika, "none").await;
    let xml = unb64(&resp);
    let tampered = xml.replacen("IssueInstant=\"20", "IssueInstant=\"19", 1);
    assert_ne!(tampered, xml);
    assert_eq!(post_acs(&app, &b64(&tampered), &relay).await.status(), 400);
    // Wrapped: the signed response inside a forged one that carries Mallory's assertion,
    // and Mallory's assertion beside the signed one.
    let key = round_trip(&app, &idp).await;
    let (plain, relay) = idp
        .answer(
            &key,
            "x",
            4,
            &citizen("bpk-mallory", "mallory@example.org"),
            "plain",
        )
        .await;
    let signed = unb64(&plain);
    let body_start = signed.find("<samlp:Response").expect("response");
    let signed = &signed[body_start..];
    let assertion_at = signed.find("<saml:Assertion").expect("assertion");
    let assertion_end = signed.find("</saml:Assertion>").expect("end") + "</saml:Assertion>".len();
    let evil_assertion = signed[assertion_at..assertion_end]
        .replace("bpk-mallory", "bpk-erika")
        .replacen("ID=\"", "ID=\"evil", 1);
    let outer = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_evil" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><samlp:Extensions>{signed}</samlp:Extensions>{evil_assertion}</samlp:Response>"#
    );
    assert_eq!(post_acs(&app, &b64(&outer), &relay).await.status(), 400);
    let beside = format!(
        "{}{}{}",
        &signed[..assertion_at],
        evil_assertion,
        &signed[assertion_at..]
    );
    assert_eq!(post_acs(&app, &b64(&beside), &relay).await.status(), 400);
    // A signature that references more than its element (work for libxmlsec1 before the
    // signature value is checked) is refused before that.
    let file_ref = signed.replacen(
        r##"<ds:Reference URI="#"##,
        r##"<ds:Reference URI="file:///dev/zero"/><ds:Reference URI="#"##,
        1,
    );
    assert_ne!(file_ref, signed);
    assert_eq!(post_acs(&app, &b64(&file_ref), &relay).await.status(), 400);
    // A cancelled login says so.
    let key = round_trip(&app, &idp).await;
    let (resp, relay) = idp.answer(&key, "x", 4, &json!({}), "cancel").await;
    let r = post_acs(&app, &resp, &relay).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.expect("page").contains("abgebrochen"));
    // An unknown RelayState is no round trip of ours.
    let (resp, _) = idp.answer(&key, "x", 4, &erika, "none").await;
    assert_eq!(post_acs(&app, &resp, "forged").await.status(), 400);

    // Nothing of the above linked or created anything.
    let (_, list, _) = app.cli(&["user", "list"], None);
    assert_eq!(list, json!([]), "no account");
    let r = app.get("/konto").await;
    assert!(location(&r).starts_with("/login"), "no session");

    // A round trip takes a few wrong answers, then it is given up.
    let key = round_trip(&app, &idp).await;
    for _ in 0..5 {
        let (resp, relay) = idp.answer(&key, "x", 4, &erika, "unsigned").await;
        assert_eq!(post_acs(&app, &resp, &relay).await.status(), 400);
    }
    let (resp, relay) = idp.answer(&key, "x", 4, &erika, "none").await;
    assert_eq!(
        post_acs(&app, &resp, &relay).await.status(),
        400,
        "given up"
    );

    // A genuine answer is taken, once.
    let key = round_trip(&app, &idp).await;
    let (resp, relay) = idp.answer(&key, "x", 4, &erika, "none").await;
    let first = post_acs(&app, &resp, &relay).await;
    assert_eq!(first.status(), 303);
    let again = post_acs(&app, &resp, &relay).await;
    assert_eq!(again.status(), 400, "each assertion once");
    // Another browser cannot take the result.
    let stranger = crate::helpers::browser_client();
    let r = stranger
        .get(app.url(&location(&first)))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 400, "bound to the browser that began");
}

#[tokio::test]
async fn the_same_answer_forty_times_at_once_logs_in_once() {
    let Some(idp) = FakeBundId::start() else {
        return;
    };
    let app = spawn_with_bundid(&idp).await;
    let key = idp.login_page(&press_bundid(&app, "").await).await;
    let (resp, relay) = idp
        .answer(
            &key,
            "x",
            4,
            &citizen("bpk-erika", "erika@example.org"),
            "none",
        )
        .await;
    let tries = (0..40).map(|_| post_acs(&app, &resp, &relay));
    let answers = futures_util::future::join_all(tries).await;
    let accepted = answers.iter().filter(|r| r.status() == 303).count();
    assert_eq!(accepted, 1, "one response, one result");
    assert!(
        answers
            .iter()
            .all(|r| r.status() == 303 || r.status() == 400)
    );
}

const SUBSTANTIAL: &str = "http://eidas.europa.eu/LoA/substantial";

#[tokio::test]
async fn a_process_that_requires_bundid_refuses_a_clerk_proofed_account_until_the_bundid_step_up() {
    use crate::levels::enrol_totp;
    use buergerkonto::crypto::totp::code_at;
    let Some(idp) = FakeBundId::start() else {
        return;
    };
    let app = spawn_with_bundid(&idp).await;
    let (ok, p, err) = app.cli(
        &[
            "process",
            "set",
            "--id",
            "wohngeld",
            "--name",
            "Wohngeld",
            "--level",
            "substantial",
            "--upstream-required",
        ],
        None,
    );
    assert!(ok && p["upstream_required"] == true, "{err} {p}");
    let r = app.get("/api/v1/processes/wohngeld").await;
    let shown: Value = r.json().await.expect("json");
    assert_eq!(shown["upstream_required"], true, "{shown}");

    // Erika: confirmed at the Bürgerbüro (substantial), with an authenticator app, logged in
    // with password and code: substantial by our own means.
    const PW: &str = "ein langes Passwort";
    app.register_and_verify("erika@example.org", PW).await;
    let (ok, _, err) = app.cli(
        &[
            "user",
            "verify-identity",
            "--email",
            "erika@example.org",
            "--level",
            "substantial",
            "--document-type",
            "personalausweis",
            "--clerk",
            "Frau Amt",
        ],
        None,
    );
    assert!(ok, "{err}");
    let (secret, enrol_step, _) = enrol_totp(&app).await;
    let (_, _, _, req) = portal_request(&app, SUBSTANTIAL).await;
    let csrf = app.csrf_of(&format!("/login/otp?req={req}")).await;
    let code = format!("{:06}", code_at(&secret, enrol_step + 1));
    let r = app
        .post_form(
            "/login/otp",
            &[("csrf", &csrf), ("req", &req), ("code", &code)],
        )
        .await;
    assert_eq!(location(&r), format!("/authorize/resume?req={req}"));
    assert!(
        query_param(&back_to_portal_from(&app, &location(&r)).await, "code").is_some(),
        "substantial by our own means is enough for a plain substantial request"
    );

    // The process wants BundID: the same session gets no code, but the way there.
    let c = app
        .add_client(&app.tenant, &["--scope", "openid", "--scope", "profile"])
        .await;
    let rp = discover(&app, &c).await;
    let flow = start(&rp, &["openid", "profile"], &[("process", "wohngeld")]);
    let r = app.get(&flow.url).await;
    assert_eq!(
        r.status(),
        200,
        "no code without BundID: {:?}",
        r.headers().get("location")
    );
    let page = r.text().await.expect("page");
    assert!(
        page.contains("Mit BundID bestätigen") && page.contains("§ 3 Abs. 4 OZG"),
        "{page}"
    );
    let req = hidden(&page, "req").expect("req");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/authorize/extern/bundid",
            &[("csrf", &csrf), ("req", &req)],
        )
        .await;
    assert_eq!(r.status(), 303);
    let key = idp.login_page(&location(&r)).await;
    let sent = idp.last_request().await;
    assert_eq!(
        sent["authn_context_class_refs"],
        json!(["STORK-QAA-Level-3"])
    );
    assert!(
        sent["xml"]
            .as_str()
            .is_some_and(|x| x.contains(r#"ForceAuthn="true""#))
    );
    let (resp, relay) = idp
        .answer(
            &key,
            "x",
            3,
            &citizen("bpk-erika", "erika@example.org"),
            "none",
        )
        .await;
    let callback = back_to_portal(&app, post_acs(&app, &resp, &relay).await).await;
    let tokens = finish(&app, &rp, flow, &callback).await;
    let id = jwt_payload(&tokens.id_token().expect("id token").to_string());
    assert_eq!(id["acr"], SUBSTANTIAL);
    assert_eq!(
        id["level_source"], "upstream:bundid",
        "the portal can check it too"
    );

    // A step-up is this person's: someone else's eID does not take the account over.
    let csrf = app.csrf_of("/konto/sicherheit").await;
    let r = app
        .post_form("/authorize/extern/bundid", &[("csrf", &csrf), ("req", "")])
        .await;
    let key = idp.login_page(&location(&r)).await;
    let (resp, relay) = idp
        .answer(
            &key,
            "x",
            4,
            &citizen("bpk-mallory", "mallory@example.org"),
            "none",
        )
        .await;
    let acs = post_acs(&app, &resp, &relay).await;
    let r = app.get(&location(&acs)).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.expect("page").contains("anderen Person"));
    let (_, shown, _) = app.cli(&["user", "show", "--email", "erika@example.org"], None);
    assert_eq!(
        shown["proofing_level"], "substantial",
        "nothing raised: {shown}"
    );
}

/// Follows our redirects from `path` (consent answered) to the portal's callback.
async fn back_to_portal_from(app: &TestApp, path: &str) -> String {
    let mut next = path.to_owned();
    for _ in 0..5 {
        if next.starts_with("/consent") {
            let req = query_param(&next, "req").expect("req");
            let csrf = app.csrf_of(&next).await;
            let r = app
                .post_form(
                    "/consent",
                    &[("csrf", &csrf), ("req", &req), ("decision", "allow")],
                )
                .await;
            return location(&r);
        }
        if !next.starts_with('/') {
            return next;
        }
        let r = app.get(&next).await;
        assert!(r.status().is_redirection(), "at {next}: {}", r.status());
        next = location(&r);
    }
    panic!("no way back to the portal");
}

#[tokio::test]
async fn the_post_binding_and_metadata_read_from_a_url_work_too() {
    let Some(idp) = FakeBundId::start() else {
        return;
    };
    let url = format!("{}/metadata", idp.base);
    let app = spawn_with_bundid_as(&idp, |u| {
        u.idp_metadata = url;
        u.binding = buergerkonto::config::SamlBinding::Post;
        u.level_vocabulary = buergerkonto::config::LevelVocabulary::Eidas;
    })
    .await;
    let page = app.get("/login").await.text().await.expect("login page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = app
        .post_form("/anmelden/extern/bundid", &[("csrf", &csrf), ("req", "")])
        .await;
    assert_eq!(r.status(), 200, "a form to post to the IdP");
    let page = r.text().await.expect("page");
    assert!(
        page.contains(&format!(r#"action="{}/sso/post""#, idp.base)),
        "{page}"
    );
    let form = [
        (
            "SAMLRequest",
            hidden(&page, "SAMLRequest").expect("request"),
        ),
        ("RelayState", hidden(&page, "RelayState").expect("relay")),
    ];
    let r = idp
        .http
        .post(format!("{}/sso/post", idp.base))
        .form(&form)
        .send()
        .await
        .expect("IdP");
    let body = r.text().await.expect("body");
    let key =
        hidden(&body, "key").unwrap_or_else(|| panic!("the IdP accepts the signed POST: {body}"));
    let sent = idp.last_request().await;
    assert_eq!(sent["binding"], "post");
    assert_eq!(
        sent["authn_context_class_refs"],
        json!(["http://eidas.europa.eu/LoA/low"])
    );
    let r = idp
        .http
        .post(format!("{}/login", idp.base))
        .form(&[
            ("key", key.as_str()),
            ("subject", "x"),
            ("level", "3"),
            ("vocab", "eidas"),
            (
                "attributes",
                &citizen("bpk-max", "max@example.org").to_string(),
            ),
        ])
        .send()
        .await
        .expect("IdP");
    let body = r.text().await.expect("body");
    let (resp, relay) = (
        hidden(&body, "SAMLResponse").expect("response"),
        hidden(&body, "RelayState").expect("relay"),
    );
    let r = post_acs(&app, &resp, &relay).await;
    assert_eq!(r.status(), 303);
    let r = app.get(&location(&r)).await;
    assert_eq!(location(&r), "/konto", "logged in without a portal");
    let (ok, shown, err) = app.cli(&["user", "show", "--email", "max@example.org"], None);
    assert!(ok, "{err}");
    assert_eq!(
        shown["proofing_level"], "substantial",
        "the eIDAS level, mapped"
    );
}

#[tokio::test]
async fn a_key_rotation_keeps_working_while_the_idp_still_has_the_old_metadata() {
    let Some(idp) = FakeBundId::start() else {
        return;
    };
    let app = spawn_with_bundid(&idp).await;
    let (ok, rotated, err) = app.cli(&["keys", "rotate-saml"], None);
    assert!(ok && rotated["previous_kept"] == true, "{err} {rotated}");
    // A restarted instance: new keys, the previous ones kept; the IdP has the old metadata.
    let b = crate::helpers::spawn_peer(&app).await;
    let key = idp.login_page(&press_bundid(&b, "").await).await;
    let (resp, relay) = idp
        .answer(
            &key,
            "x",
            4,
            &citizen("bpk-erika", "erika@example.org"),
            "none",
        )
        .await;
    assert_eq!(
        post_acs(&b, &resp, &relay).await.status(),
        303,
        "signed with the previous key until the new one is active, decrypted with the previous"
    );
    // The new metadata names both; the IdP encrypts to the new key from then on.
    let xml = register_metadata(&idp, &b).await;
    let new_cert = rotated["encryption_certificate"].as_str().expect("cert");
    assert!(xml.find(new_cert) < xml.rfind("<md:KeyDescriptor use=\"encryption\">"));
    assert_eq!(xml.matches(r#"use="encryption""#).count(), 2);
    let key = idp.login_page(&press_bundid(&b, "").await).await;
    let (resp, relay) = idp
        .answer(
            &key,
            "x",
            4,
            &citizen("bpk-erika", "erika@example.org"),
            "none",
        )
        .await;
    assert_eq!(post_acs(&b, &resp, &relay).await.status(), 303);
}

#[tokio::test]
async fn a_bundid_password_login_still_asks_for_the_accounts_app() {
    use crate::levels::enrol_totp;
    let Some(idp) = FakeBundId::start() else {
        return;
    };
    let mut app = spawn_with_bundid(&idp).await;
    app.register_and_verify("erika@example.org", "ein langes Passwort")
        .await;
    let _ = enrol_totp(&app).await;
    // Linked once (with the app's session), then a fresh browser logs in through BundID
    // with BundID's level 1 (a password there).
    let csrf = app.csrf_of("/konto/sicherheit").await;
    let r = app
        .post_form("/konto/verknuepfen/bundid", &[("csrf", &csrf)])
        .await;
    let key = idp.login_page(&location(&r)).await;
    let (resp, relay) = idp
        .answer(
            &key,
            "x",
            4,
            &citizen("bpk-erika", "erika@example.org"),
            "none",
        )
        .await;
    let r = app
        .get(&location(&post_acs(&app, &resp, &relay).await))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("page").contains("BundID"));
    app.reset_browser();
    let key = round_trip(&app, &idp).await;
    let (resp, relay) = idp
        .answer(
            &key,
            "x",
            1,
            &citizen("bpk-erika", "erika@example.org"),
            "none",
        )
        .await;
    let r = app
        .get(&location(&post_acs(&app, &resp, &relay).await))
        .await;
    assert_eq!(location(&r), "/login/otp", "the app is still asked for");
    let r = app.get("/konto").await;
    assert!(
        location(&r).starts_with("/login"),
        "nothing opens before it"
    );
}
