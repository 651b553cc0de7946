//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §6; OIDC Core §3.1.3, §12).

use super::Provider;

use super::access_token::CitizenGrant;
use super::claims::{IdTokenClaims, at_hash};
use super::error::{ErrorCode, OAuthError};
use crate::crypto::Secret;
use crate::crypto::{is_pkce_value, log_prefix, pkce_s256_matches, random_token, token_digest};
use crate::domain::client::{Client, GrantType};
use crate::domain::ids::AccountId;
use crate::domain::level::{Amr, Loa};
use crate::domain::params::Params;
use crate::domain::scope::Scopes;
use crate::store::refresh_tokens::{Presented, RefreshRecord};
use chrono::{Duration as ChronoDuration, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A token request, one variant per supported `grant_type`.
#[derive(Debug)]
pub enum TokenRequest {
    AuthorizationCode {
        code: Secret,
        redirect_uri: Option<String>,
        code_verifier: Option<Secret>,
    },
    RefreshToken {
        refresh_token: Secret,
        scope: Option<String>,
    },
    ClientCredentials {
        scope: Option<String>,
    },
}

fn required<'a>(form: &'a Params, name: &str) -> Result<&'a str, OAuthError> {
    form.get(name)
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, format!("{name} is missing")))
}

impl TokenRequest {
    /// # Errors
    /// `invalid_request` for missing parameters, `unsupported_grant_type` otherwise.
    pub fn parse(form: &Params) -> Result<Self, OAuthError> {
        match form.get("grant_type") {
            Some("authorization_code") => Ok(TokenRequest::AuthorizationCode {
                code: Secret::new(required(form, "code")?.to_owned()),
                redirect_uri: form.get("redirect_uri").map(str::to_owned),
                code_verifier: form.get("code_verifier").map(|v| Secret::new(v.to_owned())),
            }),
            Some("refresh_token") => Ok(TokenRequest::RefreshToken {
                refresh_token: Secret::new(required(form, "refresh_token")?.to_owned()),
                scope: form.get("scope").map(str::to_owned),
            }),
            Some("client_credentials") => Ok(TokenRequest::ClientCredentials {
                scope: form.get("scope").map(str::to_owned),
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

    fn grant_type(&self) -> GrantType {
        match self {
            TokenRequest::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            TokenRequest::RefreshToken { .. } => GrantType::RefreshToken,
            TokenRequest::ClientCredentials { .. } => GrantType::ClientCredentials,
        }
    }
}

/// The successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Secret>,
}

/// What a citizen's tokens are about: the same for a code exchange and a refresh.
struct Grant {
    gid: Uuid,
    account_id: AccountId,
    sub: String,
    scope: String,
    auth_time: i64,
    acr: Loa,
    amr: Vec<Amr>,
    sid: String,
    nonce: Option<String>,
    level_source: Option<String>,
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
        if !client.allows_grant(req.grant_type()) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "the client may not use this grant type",
            ));
        }
        match req {
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                self.exchange_code(
                    client,
                    code.expose(),
                    redirect_uri.as_deref(),
                    code_verifier.as_ref().map(Secret::expose),
                )
                .await
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
            } => {
                self.refresh(client, refresh_token.expose(), scope.as_deref())
                    .await
            }
            TokenRequest::ClientCredentials { scope } => {
                self.client_credentials(client, scope.as_deref())
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
        let invalid = |d: &str| OAuthError::new(ErrorCode::InvalidGrant, d);
        let (gid, grant) = self.redeem_code(code).await?;
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
        let scopes = crate::domain::scope::Scopes::parse(&grant.scope).unwrap_or_default();
        let g = Grant {
            gid,
            account_id: grant.account_id,
            sub: grant.sub,
            scope: grant.scope,
            auth_time: grant.auth_time,
            acr: grant.acr,
            amr: grant.amr,
            sid: grant.sid,
            nonce: grant.nonce,
            level_source: grant.level_source,
        };
        // OIDC Core §11: a refresh token only with offline_access, for clients allowed to use it.
        let refresh =
            if scopes.contains("offline_access") && client.allows_grant(GrantType::RefreshToken) {
                let now = self.clock.now();
                Some(
                    self.new_refresh_token(client, &g, now + secs(self.settings.refresh_ttl))
                        .await?,
                )
            } else {
                None
            };
        let extra = self.verified_claims(g.account_id, &scopes).await?;
        self.issue(client, &g, refresh, extra)
    }

    async fn new_refresh_token(
        &self,
        client: &Client,
        g: &Grant,
        family_expires_at: chrono::DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        let (token, record) = self.refresh_record(client, g, family_expires_at);
        self.db.refresh_tokens().insert(&record).await?;
        Ok(token)
    }

    /// A new refresh token of the grant and its record (not stored yet).
    fn refresh_record(
        &self,
        client: &Client,
        g: &Grant,
        family_expires_at: chrono::DateTime<Utc>,
    ) -> (String, RefreshRecord) {
        let token = random_token();
        let now = self.clock.now();
        let record = RefreshRecord {
            token_hash: token_digest(&token),
            family_id: g.gid,
            client_id: client.id.0.clone(),
            account_id: g.account_id,
            sub: g.sub.clone(),
            scope: g.scope.clone(),
            auth_time: g.auth_time,
            acr: g.acr,
            amr: g.amr.clone(),
            level_source: g.level_source.clone(),
            sid: g.sid.clone(),
            created_at: now,
            expires_at: (now + secs(self.settings.refresh_idle)).min(family_expires_at),
            family_expires_at,
        };
        (token, record)
    }

    /// Signs the access token and the ID token of a grant.
    fn issue(
        &self,
        client: &Client,
        g: &Grant,
        refresh_token: Option<String>,
        verified: serde_json::Map<String, serde_json::Value>,
    ) -> Result<TokenResponse, OAuthError> {
        let now = Utc::now().timestamp();
        let exp = now + i64::try_from(self.token_ttl).unwrap_or(300);
        let access_token = self.mint_access_token(
            client,
            &g.sub,
            &g.scope,
            Some(CitizenGrant {
                auth_time: g.auth_time,
                acr: g.acr,
                sid: &g.sid,
                gid: g.gid,
            }),
        )?;
        let id = IdTokenClaims {
            iss: self.issuer.clone(),
            sub: g.sub.clone(),
            aud: client.id.0.clone(),
            exp,
            iat: now,
            auth_time: g.auth_time,
            nonce: g.nonce.clone(),
            acr: g.acr.acr().to_owned(),
            amr: g.amr.iter().map(|a| a.as_str().to_owned()).collect(),
            level_source: g.level_source.clone(),
            sid: g.sid.clone(),
            azp: client.id.0.clone(),
            at_hash: Some(at_hash(client.id_token_alg, &access_token)),
            verified,
        };
        let id_token = self.keys.sign(client.id_token_alg, "JWT", &id)?;
        Ok(TokenResponse {
            access_token: Secret::new(access_token),
            token_type: "Bearer",
            expires_in: self.token_ttl,
            scope: g.scope.clone(),
            refresh_token: refresh_token.map(Secret::new),
            id_token: Some(Secret::new(id_token)),
        })
    }

    /// Refresh (RFC 6749 §6) with rotation; a reused token revokes its family (RFC 9700 §4.14.2).
    ///
    /// The request is checked and the answer prepared (scope, claims, signatures) before
    /// anything changes; the rotation itself (old token used, successor stored) is one
    /// transaction at the end. So an error answer never leaves the grant changed: a client
    /// that retries after `invalid_scope` or a failure of ours presents a token that is still
    /// valid, not a "reused" one. The refresh path needs only the database.
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    async fn refresh(
        &self,
        client: &Client,
        token: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let invalid = |d: &str| OAuthError::new(ErrorCode::InvalidGrant, d);
        if token.len() > 64 {
            return Err(invalid("invalid refresh token"));
        }
        let hash = token_digest(token);
        let rec = match self
            .db
            .refresh_tokens()
            .present(&hash, &client.id.0, self.clock.now())
            .await?
        {
            Presented::Usable(r) => r,
            Presented::Used { family_id } => {
                return Err(self.refresh_reused(client, family_id).await);
            }
            Presented::Invalid => return Err(invalid("invalid or revoked refresh token")),
        };
        let granted = Scopes::parse(&rec.scope).unwrap_or_default();
        let scope = match scope {
            None => rec.scope.clone(),
            Some(s) => {
                let asked =
                    Scopes::parse(s).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?;
                if !asked.is_subset(&granted) {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        "scope exceeds the original grant",
                    ));
                }
                asked.to_string()
            }
        };
        let g = Grant {
            gid: rec.family_id,
            account_id: rec.account_id,
            sub: rec.sub.clone(),
            // The refresh token keeps the full grant; a narrowed scope applies to this access token.
            scope: rec.scope.clone(),
            auth_time: rec.auth_time,
            acr: rec.acr,
            amr: rec.amr.clone(),
            sid: rec.sid.clone(),
            nonce: None,
            level_source: rec.level_source.clone(),
        };
        let (next_token, next) = self.refresh_record(client, &g, rec.family_expires_at);
        let g = Grant { scope, ..g };
        let scopes = crate::domain::scope::Scopes::parse(&g.scope).unwrap_or_default();
        let extra = self.verified_claims(g.account_id, &scopes).await?;
        let response = self.issue(client, &g, Some(next_token), extra)?;
        if self
            .db
            .refresh_tokens()
            .rotate(&hash, &client.id.0, &next, self.clock.now())
            .await?
        {
            return Ok(response);
        }
        // Another request rotated (or revoked) this token since it was read.
        match self
            .db
            .refresh_tokens()
            .present(&hash, &client.id.0, self.clock.now())
            .await?
        {
            Presented::Used { family_id } => Err(self.refresh_reused(client, family_id).await),
            _ => Err(invalid("invalid or revoked refresh token")),
        }
    }

    /// A used refresh token came again: someone holds a copy. Revokes the whole grant.
    async fn refresh_reused(&self, client: &Client, family_id: Uuid) -> OAuthError {
        tracing::warn!(family = %family_id, "refresh token reused: family revoked");
        if let Err(e) = self.revoke_grant(family_id).await {
            return e;
        }
        if let Err(e) = self
            .db
            .audit()
            .record(
                "token.refresh_reuse",
                None,
                Some(&client.id),
                serde_json::json!({ "family": family_id }),
            )
            .await
        {
            return e.into();
        }
        OAuthError::new(
            ErrorCode::InvalidGrant,
            "the refresh token was already used; all tokens of this grant are revoked",
        )
    }

    /// client_credentials (RFC 6749 §4.4): a token about the client itself, limited to the
    /// scopes registered for it.
    fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        if client.is_public() {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "public clients cannot use client_credentials",
            ));
        }
        let scopes = match scope {
            None => client.scopes.clone(),
            Some(s) => {
                let asked =
                    Scopes::parse(s).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?;
                let unknown = asked.difference(&client.scopes);
                if !unknown.is_empty() {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        format!("scope not allowed: {}", unknown.join(" ")),
                    ));
                }
                asked
            }
        };
        let scope = scopes.to_string();
        let access_token = self.mint_access_token(client, client.id.as_str(), &scope, None)?;
        Ok(TokenResponse {
            access_token: Secret::new(access_token),
            token_type: "Bearer",
            expires_in: self.token_ttl,
            scope,
            refresh_token: None,
            id_token: None,
        })
    }
}

fn secs(s: u64) -> ChronoDuration {
    ChronoDuration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 4_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_requests_do_not_show_codes_verifiers_or_refresh_tokens() {
        let form = |pairs: &[(&str, &str)]| {
            Params::parse(
                pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&")
                    .as_bytes(),
            )
            .ok()
        };
        let code = form(&[
            ("grant_type", "authorization_code"),
            ("code", "raw-code-123"),
            ("code_verifier", "raw-verifier-456"),
        ])
        .and_then(|f| TokenRequest::parse(&f).ok());
        let refresh = form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "raw-rt-789"),
        ])
        .and_then(|f| TokenRequest::parse(&f).ok());
        let shown = format!("{code:?} {refresh:?}");
        assert!(shown.contains("AuthorizationCode") && shown.contains("RefreshToken"));
        for raw in ["raw-code-123", "raw-verifier-456", "raw-rt-789"] {
            assert!(!shown.contains(raw), "{shown}");
        }
    }
}
