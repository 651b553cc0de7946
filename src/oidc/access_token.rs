//! Access tokens (RFC 9068 JWTs, signed ES256 with `typ: at+jwt`): minting them, verifying
//! them, the revocation check, and who is calling with one. A token is either a system's own
//! (`client_credentials`, no citizen) or a portal's on behalf of a citizen; the engine says
//! which ([`Caller`]), so that the HTTP layer never guesses it from the claims.

use super::Provider;
use super::claims::{ACCESS_TOKEN_ALG, AccessTokenClaims};
use super::error::{ErrorCode, OAuthError};
use crate::crypto::random_token;
use crate::domain::client::Client;
use crate::domain::ids::AccountId;
use crate::domain::level::Loa;
use crate::domain::scope::Scopes;
use crate::ephemeral::Key;
use crate::store::StoreError;
use std::sync::Arc;
use uuid::Uuid;

/// What a citizen's access token carries besides subject and scope.
pub struct CitizenGrant<'a> {
    pub auth_time: i64,
    pub acr: Loa,
    pub sid: &'a str,
    /// The grant (a code exchange and its refreshes): revoking it revokes the token.
    pub gid: Uuid,
}

/// Who calls with a valid, unrevoked access token.
#[derive(Clone, Debug)]
pub enum Caller {
    /// A system acting for itself (`client_credentials`).
    Service { client: Arc<Client>, scopes: Scopes },
    /// A portal acting for a citizen who logged in at `auth_time` with `level`.
    Citizen {
        client: Arc<Client>,
        account: AccountId,
        level: Loa,
        auth_time: i64,
        scopes: Scopes,
    },
}

impl Caller {
    #[must_use]
    pub fn scopes(&self) -> &Scopes {
        match self {
            Caller::Service { scopes, .. } | Caller::Citizen { scopes, .. } => scopes,
        }
    }
}

impl Provider {
    /// Signs an access token for `client` about `sub`; with a citizen's grant, or the
    /// client's own (then `sub` is the client id).
    ///
    /// # Errors
    /// When signing fails.
    pub(super) fn mint_access_token(
        &self,
        client: &Client,
        sub: &str,
        scope: &str,
        citizen: Option<CitizenGrant<'_>>,
    ) -> Result<String, OAuthError> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: sub.to_owned(),
            aud: self.issuer.clone(),
            exp: now + i64::try_from(self.token_ttl).unwrap_or(300),
            iat: now,
            jti: random_token(),
            client_id: client.id.0.clone(),
            scope: scope.to_owned(),
            auth_time: citizen.as_ref().map(|c| c.auth_time),
            acr: citizen.as_ref().map(|c| c.acr.acr().to_owned()),
            sid: citizen.as_ref().map(|c| c.sid.to_owned()),
            gid: citizen.as_ref().map(|c| c.gid),
        };
        Ok(self.keys.sign(ACCESS_TOKEN_ALG, "at+jwt", &claims)?)
    }

    /// Verifies one of our access tokens (signature, issuer, audience, expiry). Revocation is
    /// checked by [`Provider::check_access_token`].
    ///
    /// # Errors
    /// `invalid_token` when it does not verify.
    pub fn verify_access_token(&self, token: &str) -> Result<AccessTokenClaims, OAuthError> {
        let invalid = || {
            OAuthError::new(
                ErrorCode::InvalidToken,
                "the access token is invalid or expired",
            )
        };
        // RFC 9068 §4: only tokens typed as access tokens (an ID token is not one).
        let typ = jsonwebtoken::decode_header(token).ok().and_then(|h| h.typ);
        if token.len() > 4096 || typ.as_deref() != Some("at+jwt") {
            return Err(invalid());
        }
        self.keys
            .verify::<AccessTokenClaims>(token, |v| {
                v.set_issuer(&[&self.issuer]);
                v.set_audience(&[&self.issuer]);
                v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            })
            .map_err(|_| invalid())
    }
    /// Whether an access token (already signature-checked) was revoked.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn is_revoked(&self, at: &AccessTokenClaims) -> Result<bool, OAuthError> {
        if self.eph.get(&Key::RevokedJti(&at.jti)).await?.is_some() {
            return Ok(true);
        }
        if let Some(gid) = at.gid
            && self.grant_revoked(gid).await?
        {
            return Ok(true);
        }
        Ok(false)
    }

    /// Whether a grant (a code exchange and its refreshes) was revoked.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn grant_revoked(&self, gid: Uuid) -> Result<bool, OAuthError> {
        Ok(self.eph.get(&Key::RevokedGrant(gid)).await?.is_some())
    }

    /// Verifies an access token and checks it was not revoked.
    ///
    /// # Errors
    /// `invalid_token`.
    pub async fn check_access_token(&self, token: &str) -> Result<AccessTokenClaims, OAuthError> {
        let at = self.verify_access_token(token)?;
        if self.is_revoked(&at).await? {
            return Err(OAuthError::new(
                ErrorCode::InvalidToken,
                "the access token was revoked",
            ));
        }
        Ok(at)
    }

    /// The client and the citizen an access token was issued for (`invalid_token` when
    /// either is gone, or for a token without a citizen).
    ///
    /// # Errors
    /// `invalid_token`, or storage failures.
    pub async fn citizen_of(
        &self,
        at: &AccessTokenClaims,
    ) -> Result<
        (
            std::sync::Arc<crate::domain::client::Client>,
            crate::domain::ids::AccountId,
        ),
        OAuthError,
    > {
        let gone = || {
            OAuthError::new(
                ErrorCode::InvalidToken,
                "the access token is no longer valid",
            )
        };
        let client = match self.client(&at.client_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => return Err(gone()),
            Err(e) => return Err(e.into()),
        };
        let account = self
            .db
            .subjects()
            .resolve(&client.sector(), &at.sub)
            .await?
            .ok_or_else(gone)?;
        Ok((client, account))
    }

    /// Who calls with this bearer token: verified, unrevoked, and resolved to its client (and
    /// citizen). A token with a grant is a citizen's; one without is the client's own.
    ///
    /// # Errors
    /// `invalid_token` for bad, expired, revoked or orphaned tokens; storage failures.
    pub async fn caller(&self, token: &str) -> Result<Caller, OAuthError> {
        let at = self.check_access_token(token).await?;
        let scopes = Scopes::parse(&at.scope).unwrap_or_default();
        match (
            at.gid,
            at.acr.as_deref().and_then(Loa::from_acr),
            at.auth_time,
        ) {
            (Some(_), Some(level), Some(auth_time)) => {
                let (client, account) = self.citizen_of(&at).await?;
                Ok(Caller::Citizen {
                    client,
                    account,
                    level,
                    auth_time,
                    scopes,
                })
            }
            (None, None, None) => {
                let client = match self.client(&at.client_id).await {
                    Ok(c) => c,
                    Err(StoreError::NotFound) => {
                        return Err(OAuthError::new(
                            ErrorCode::InvalidToken,
                            "the access token is no longer valid",
                        ));
                    }
                    Err(e) => return Err(e.into()),
                };
                Ok(Caller::Service { client, scopes })
            }
            _ => Err(OAuthError::new(
                ErrorCode::InvalidToken,
                "the access token is malformed",
            )),
        }
    }
}
