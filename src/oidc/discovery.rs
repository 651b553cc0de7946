//! Discovery metadata (OpenID Connect Discovery 1.0 §3, RFC 8414, RFC 9207).

use super::{Provider, SUPPORTED_SCOPES};
use crate::domain::level::Loa;
use serde_json::{Value, json};

impl Provider {
    #[must_use]
    pub fn discovery(&self) -> Value {
        let i = &self.issuer;
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": format!("{i}/token"),
            "userinfo_endpoint": format!("{i}/userinfo"),
            "jwks_uri": format!("{i}/jwks.json"),
            "end_session_endpoint": format!("{i}/logout"),
            "scopes_supported": SUPPORTED_SCOPES,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["pairwise", "public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS512", "PS256", "ES256", "ES384", "EdDSA"],
            "introspection_endpoint": format!("{i}/introspect"),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "revocation_endpoint": format!("{i}/revoke"),
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp", "email", "email_verified", "given_name", "family_name", "birthdate", "address"],
            "acr_values_supported": Loa::ALL.iter().map(|l| l.acr()).collect::<Vec<_>>(),
            "claims_parameter_supported": true,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "require_request_uri_registration": false,
            "ui_locales_supported": ["de", "en"],
            "claims_locales_supported": ["de", "en"],
            "authorization_response_iss_parameter_supported": true,
            "frontchannel_logout_supported": false,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
        })
    }
}
