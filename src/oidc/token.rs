//! The token endpoint (RFC 6749 §3.2, §4.1.3; OIDC Core §3.1.3).

use super::Provider;
use super::authorize::CodeGrant;
use super::claims::{ACCESS_TOKEN_ALG, AccessTokenClaims, IdTokenClaims, at_hash};
use super::error::{ErrorCode, OAuthError};
use crate::crypto::{is_pkce_value, log_prefix, pkce_s256_matches, random_token, token_digest};
use crate::domain::client::{Client, GrantType};
use crate::domain::params::Params;
use serde::Serialize;

/// A token request, one variant per supported `grant_type`.
#[derive(Debug)]
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
}

impl TokenRequest {
    /// # Errors
    /// `invalid_request` for missing parameters, `unsupported_grant_type` otherwise.
    pub fn parse(form: &Params) -> Result<Self, OAuthError> {
        match form.get("grant_type") {
            Some("authorization_code") => Ok(TokenRequest::AuthorizationCode {
                code: form
                    .get("code")
                    .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "code is missing"))?
                    .to_owned(),
                redirect_uri: form.get("redirect_uri").map(str::to_owned),
                code_verifier: form.get("code_verifier").map(str::to_owned),
            }),
            Some(_) => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "grant_type is not supported",
            )),
            None => Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "grant_type is missing",
            )),
        }
    }
}

/// The successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl Provider {
    /// Handles a token request from an authenticated client.
    ///
    /// # Errors
    /// The OAuth error to answer with.
    pub async fn token(
        &self,
        client: &Client,
        req: TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        match req {
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                self.exchange_code(
                    client,
                    &code,
                    redirect_uri.as_deref(),
                    code_verifier.as_deref(),
                )
                .await
            }
        }
    }

    #[tracing::instrument(skip_all, fields(client_id = %client.id, code = log_prefix(code)))]
    async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "client may not use this grant",
            ));
        }
        let invalid = |d: &str| OAuthError::new(ErrorCode::InvalidGrant, d);
        if code.len() > 64 {
            return Err(invalid("invalid authorization code"));
        }
        // Take-once: a replayed code finds nothing.
        let grant: CodeGrant = self
            .eph
            .take(&format!("code:{}", token_digest(code)))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or_else(|| invalid("invalid, expired or already used authorization code"))?;
        if grant.client_id != client.id.0 {
            return Err(invalid("the code was issued to another client"));
        }
        if redirect_uri != Some(grant.redirect_uri.as_str()) {
            return Err(invalid(
                "redirect_uri does not match the authorization request",
            ));
        }
        match (&grant.code_challenge, verifier) {
            (Some(ch), Some(v)) if is_pkce_value(v) && pkce_s256_matches(v, ch) => {}
            (Some(_), _) => return Err(invalid("code_verifier is missing or wrong")),
            (None, Some(_)) => {
                return Err(invalid(
                    "code_verifier given but no code_challenge was sent",
                ));
            }
            (None, None) => {}
        }
        let now = chrono::Utc::now().timestamp();
        let exp = now + i64::try_from(self.token_ttl).unwrap_or(300);
        let access = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: grant.sub.clone(),
            aud: self.issuer.clone(),
            exp,
            iat: now,
            jti: random_token(),
            client_id: client.id.0.clone(),
            scope: grant.scope.clone(),
            auth_time: Some(grant.auth_time),
            acr: Some(grant.acr.acr().to_owned()),
            sid: Some(grant.sid.clone()),
        };
        let access_token = self.keys.sign(ACCESS_TOKEN_ALG, "at+jwt", &access)?;
        let id = IdTokenClaims {
            iss: self.issuer.clone(),
            sub: grant.sub,
            aud: client.id.0.clone(),
            exp,
            iat: now,
            auth_time: grant.auth_time,
            nonce: grant.nonce,
            acr: grant.acr.acr().to_owned(),
            amr: grant.amr.iter().map(|a| a.as_str().to_owned()).collect(),
            sid: grant.sid,
            azp: client.id.0.clone(),
            at_hash: Some(at_hash(client.id_token_alg, &access_token)),
        };
        let id_token = self.keys.sign(client.id_token_alg, "JWT", &id)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.token_ttl,
            scope: grant.scope,
            id_token: Some(id_token),
        })
    }

    /// Verifies one of our access tokens (signature, issuer, audience, expiry).
    ///
    /// # Errors
    /// `invalid_token` when it does not verify.
    pub fn verify_access_token(&self, token: &str) -> Result<AccessTokenClaims, OAuthError> {
        if token.len() > 4096 {
            return Err(OAuthError::new(
                ErrorCode::InvalidToken,
                "the access token is invalid",
            ));
        }
        self.keys
            .verify::<AccessTokenClaims>(token, |v| {
                v.set_issuer(&[&self.issuer]);
                v.set_audience(&[&self.issuer]);
                v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            })
            .map_err(|_| {
                OAuthError::new(
                    ErrorCode::InvalidToken,
                    "the access token is invalid or expired",
                )
            })
    }
}
