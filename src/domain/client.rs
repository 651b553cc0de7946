//! Relying parties (portals) and authority systems.

use super::ids::{ClientId, TenantId};
use super::scope::Scopes;
use serde::{Deserialize, Serialize};
use url::Url;

/// A redirect URI as registered: absolute, no fragment. Requests are compared to it byte for
/// byte (RFC 9700 §4.1.3: exact string matching), never normalised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// # Errors
    /// When the URI is not absolute, has a fragment, or uses plain http for a host other than
    /// loopback (RFC 8252 §7.3 allows loopback http for native apps and development).
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let url = Url::parse(s).map_err(|_| "redirect URI is not an absolute URI")?;
        if url.fragment().is_some() {
            return Err("redirect URI must not have a fragment");
        }
        match url.scheme() {
            "https" => {}
            "http" => {
                let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
                if !loopback {
                    return Err("redirect URI must use https (http only for loopback)");
                }
            }
            _ => return Err("redirect URI must use https"),
        }
        Ok(Self(s.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// OAuth grant types a client may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// How the `sub` claim is formed for a client (OIDC Core §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectType {
    /// One `sub` per tenant (sector): the default.
    Pairwise,
    /// The account id itself, the same at every client that an admin configured this way.
    Public,
}

/// JWS algorithms for ID tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    RS256,
    ES256,
}

impl SigningAlg {
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }
}

/// How a client authenticates at the token endpoint (OIDC Core §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// A shared secret; `client_secret_basic` and `client_secret_post` are both accepted.
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with a key from the client's registered JWKS (RFC 7523).
    PrivateKeyJwt,
    /// A public client: no authentication, PKCE instead.
    None,
}

impl ClientAuthMethod {
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
}

/// A registered client.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: ClientId,
    pub tenant_id: TenantId,
    pub name: String,
    pub auth_method: ClientAuthMethod,
    /// SHA-256 of the client secret, for the secret methods.
    pub secret_hash: Option<Vec<u8>>,
    /// After a rotation: the previous secret's hash, accepted until the time given.
    pub previous_secret: Option<(Vec<u8>, chrono::DateTime<chrono::Utc>)>,
    /// Public keys for `private_key_jwt`: a JWK Set, or where to fetch it.
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    /// Where back-channel logout tokens go (OIDC Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<RedirectUri>,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Scopes,
    pub subject_type: SubjectType,
    pub id_token_alg: SigningAlg,
    /// The level every login for this client needs at least.
    pub default_level: Option<crate::domain::level::Loa>,
}

impl Client {
    #[must_use]
    pub fn is_public(&self) -> bool {
        self.auth_method == ClientAuthMethod::None
    }

    /// Exact, byte-for-byte match against the registered redirect URIs.
    #[must_use]
    pub fn redirect_uri(&self, requested: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|r| r.as_str() == requested)
    }

    #[must_use]
    pub fn post_logout_redirect_uri(&self, requested: &str) -> Option<&RedirectUri> {
        self.post_logout_redirect_uris
            .iter()
            .find(|r| r.as_str() == requested)
    }

    /// The client's sector: pairwise subjects are the same for all portals of one tenant
    /// (OIDC Core §8.1, one sector per tenant) and differ between tenants.
    #[must_use]
    pub fn sector(&self) -> String {
        match self.subject_type {
            SubjectType::Pairwise => self.tenant_id.sector(),
            SubjectType::Public => "public".into(),
        }
    }

    #[must_use]
    pub fn allows_grant(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }

    /// Whether `origin` is the web origin (RFC 6454 serialisation) of one of the client's
    /// redirect URIs: a browser app served from there may read our answers (CORS).
    #[must_use]
    pub fn has_web_origin(&self, origin: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|r| web_origin(r.as_str()).as_deref() == Some(origin))
    }
}

/// Whether `host` names this machine: `localhost` (also with a trailing dot, and every
/// `*.localhost`, RFC 6761 §6.3) or a loopback address.
#[must_use]
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Whether a redirect URI names `localhost` by name (not by its IP literal).
#[must_use]
pub fn names_localhost(uri: &str) -> bool {
    url::Url::parse(uri).ok().is_some_and(|u| {
        matches!(u.host(), Some(url::Host::Domain(_)))
            && u.host().is_some_and(|h| is_loopback_host(&h))
    })
}

/// Whether a redirect URI is a claimed https URI (RFC 8252 §7.2): https to a host other than
/// this machine, so that only its owner can receive it.
#[must_use]
pub fn is_claimed_https(uri: &str) -> bool {
    url::Url::parse(uri)
        .ok()
        .is_some_and(|u| u.scheme() == "https" && u.host().is_some_and(|h| !is_loopback_host(&h)))
}

/// The web origin of an http(s) URI (`scheme://host[:port]`); `None` for other schemes.
#[must_use]
pub fn web_origin(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    Some(u.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        assert!(RedirectUri::parse("https://portal.example/cb").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1:9000/cb").is_ok());
        assert!(RedirectUri::parse("http://portal.example/cb").is_err());
        assert!(RedirectUri::parse("https://portal.example/cb#x").is_err());
        assert!(RedirectUri::parse("/cb").is_err());
        assert!(RedirectUri::parse("javascript:alert(1)").is_err());
    }

    #[test]
    fn loopback_and_claimed_uris() {
        for u in [
            "http://localhost:8000/cb",
            "http://localhost.:8000/cb",
            "http://app.localhost/cb",
            "http://LOCALHOST/cb",
        ] {
            assert!(names_localhost(u), "{u}");
        }
        assert!(!names_localhost("http://127.0.0.1:8000/cb"));
        assert!(!names_localhost("http://[::1]:8000/cb"));
        assert!(is_claimed_https("https://app.example.org/cb"));
        for u in [
            "https://127.0.0.1/cb",
            "https://localhost/cb",
            "https://[::1]/cb",
            "http://app.example.org/cb",
            "de.example.app:/cb",
        ] {
            assert!(!is_claimed_https(u), "{u}");
        }
    }

    #[test]
    fn web_origins() {
        assert_eq!(
            web_origin("https://spa.example:8443/app/cb?x=1").as_deref(),
            Some("https://spa.example:8443")
        );
        assert_eq!(
            web_origin("https://spa.example:443/cb").as_deref(),
            Some("https://spa.example")
        );
        assert_eq!(web_origin("de.example.app:/cb"), None);
    }
}
