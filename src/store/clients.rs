//! Registered clients: portals (relying parties) and authority systems.

use super::{Db, StoreError, StoreResult, on_db, parse_list};
use crate::domain::client::{
    Client, ClientAuthMethod, GrantType, RedirectUri, SigningAlg, SubjectType,
};
use crate::domain::ids::{ClientId, TenantId};
use crate::domain::level::Loa;
use crate::domain::scope::Scopes;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    tenant_id: Uuid,
    name: String,
    secret_hash: Option<Vec<u8>>,
    redirect_uris: Json<Vec<String>>,
    post_logout_redirect_uris: Json<Vec<String>>,
    grant_types: Json<Vec<String>>,
    scopes: Json<Vec<String>>,
    subject_type: String,
    id_token_alg: String,
    created_at: DateTime<Utc>,
    token_endpoint_auth_method: String,
    jwks: Option<Json<serde_json::Value>>,
    jwks_uri: Option<String>,
    backchannel_logout_uri: Option<String>,
    default_level: Option<String>,
    previous_secret_hash: Option<Vec<u8>>,
    previous_secret_until: Option<DateTime<Utc>>,
    disabled_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    tenant_disabled: bool,
}

/// A client as the administration sees it: the protocol's [`Client`] and its state.
#[derive(Clone, Debug)]
pub struct ClientRecord {
    pub client: Client,
    pub created_at: DateTime<Utc>,
    /// Disabled itself (its tenant may be disabled too: `tenant_disabled`).
    pub disabled_at: Option<DateTime<Utc>>,
    pub tenant_disabled: bool,
    /// The last successful client authentication, to the minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl TryFrom<Row> for ClientRecord {
    type Error = StoreError;
    fn try_from(r: Row) -> StoreResult<Self> {
        let (created_at, disabled_at, last_used_at, tenant_disabled) = (
            r.created_at,
            r.disabled_at,
            r.last_used_at,
            r.tenant_disabled,
        );
        Ok(ClientRecord {
            client: Client::try_from(r)?,
            created_at,
            disabled_at,
            tenant_disabled,
            last_used_at,
        })
    }
}

impl TryFrom<Row> for Client {
    type Error = StoreError;
    fn try_from(r: Row) -> StoreResult<Self> {
        Ok(Client {
            id: ClientId(r.id),
            tenant_id: TenantId(r.tenant_id),
            name: r.name,
            auth_method: ClientAuthMethod::parse(&r.token_endpoint_auth_method).ok_or_else(
                || StoreError::Corrupt(format!("auth method {}", r.token_endpoint_auth_method)),
            )?,
            secret_hash: r.secret_hash,
            previous_secret: r.previous_secret_hash.zip(r.previous_secret_until),
            jwks: r.jwks.map(|j| j.0),
            jwks_uri: r.jwks_uri,
            backchannel_logout_uri: r
                .backchannel_logout_uri
                .map(|u| RedirectUri::parse(&u).map_err(|e| StoreError::Corrupt(e.into())))
                .transpose()?,
            redirect_uris: parse_list(
                r.redirect_uris.0,
                |s| RedirectUri::parse(s).ok(),
                "redirect_uri",
            )?,
            post_logout_redirect_uris: parse_list(
                r.post_logout_redirect_uris.0,
                |s| RedirectUri::parse(s).ok(),
                "post_logout_redirect_uri",
            )?,
            grant_types: parse_list(r.grant_types.0, GrantType::parse, "grant_type")?,
            scopes: Scopes::from_iter(r.scopes.0),
            subject_type: match r.subject_type.as_str() {
                "public" => SubjectType::Public,
                "pairwise" => SubjectType::Pairwise,
                other => return Err(StoreError::Corrupt(format!("subject_type {other}"))),
            },
            id_token_alg: SigningAlg::parse(&r.id_token_alg)
                .ok_or_else(|| StoreError::Corrupt(format!("id_token_alg {}", r.id_token_alg)))?,
            default_level: r
                .default_level
                .map(|l| {
                    Loa::from_name(&l).ok_or_else(|| StoreError::Corrupt(format!("level {l}")))
                })
                .transpose()?,
        })
    }
}

pub struct Clients<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn clients(&self) -> Clients<'_> {
        Clients(self)
    }
}

const INSERT: &str = "INSERT INTO clients (id, tenant_id, name, secret_hash, redirect_uris, \
    post_logout_redirect_uris, grant_types, scopes, subject_type, id_token_alg, created_at, \
    token_endpoint_auth_method, jwks, jwks_uri, backchannel_logout_uri, default_level) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT c.id, c.tenant_id, c.name, c.secret_hash, c.redirect_uris, ",
            "c.post_logout_redirect_uris, c.grant_types, c.scopes, c.subject_type, c.id_token_alg, ",
            "c.created_at, c.token_endpoint_auth_method, c.jwks, c.jwks_uri, ",
            "c.backchannel_logout_uri, c.default_level, c.previous_secret_hash, ",
            "c.previous_secret_until, c.disabled_at, c.last_used_at, ",
            "t.disabled_at IS NOT NULL AS tenant_disabled ",
            "FROM clients c JOIN tenants t ON t.id = c.tenant_id ",
            $rest
        )
    };
}
/// The protocol's lookup: a disabled client, or one of a disabled tenant, does not exist.
const BY_ID: &str = select!("WHERE c.id = $1 AND c.disabled_at IS NULL AND t.disabled_at IS NULL");
const ANY_BY_ID: &str = select!("WHERE c.id = $1");
const OF_TENANT: &str = select!("WHERE c.tenant_id = $1 ORDER BY c.name, c.id");
const UPDATE: &str = "UPDATE clients SET name = $2, redirect_uris = $3, post_logout_redirect_uris = $4, \
    grant_types = $5, scopes = $6, subject_type = $7, backchannel_logout_uri = $8, default_level = $9 \
    WHERE id = $1";
const SET_SECRET: &str = "UPDATE clients SET secret_hash = $2, previous_secret_hash = $3, \
    previous_secret_until = $4 WHERE id = $1";
const SET_DISABLED: &str = "UPDATE clients SET disabled_at = $2 WHERE id = $1";
const DELETE: &str = "DELETE FROM clients WHERE id = $1";
const TOUCH: &str = "UPDATE clients SET last_used_at = $2 WHERE id = $1";
const ALL_REDIRECT_URIS: &str = "SELECT redirect_uris FROM clients";

fn strings<T>(items: &[T], f: impl Fn(&T) -> &str) -> Json<Vec<String>> {
    Json(items.iter().map(|i| f(i).to_owned()).collect())
}

impl Clients<'_> {
    /// # Errors
    /// `Conflict` when the id is taken or the tenant does not exist.
    pub async fn insert(&self, c: &Client) -> StoreResult<()> {
        let subject_type = match c.subject_type {
            SubjectType::Pairwise => "pairwise",
            SubjectType::Public => "public",
        };
        on_db!(self.0, |p| sqlx::query(INSERT)
            .bind(c.id.as_str())
            .bind(c.tenant_id.0)
            .bind(&c.name)
            .bind(c.secret_hash.as_deref())
            .bind(strings(&c.redirect_uris, RedirectUri::as_str))
            .bind(strings(&c.post_logout_redirect_uris, RedirectUri::as_str))
            .bind(strings(&c.grant_types, |g| g.as_str()))
            .bind(Json(c.scopes.to_vec()))
            .bind(subject_type)
            .bind(c.id_token_alg.as_str())
            .bind(Utc::now())
            .bind(c.auth_method.as_str())
            .bind(c.jwks.as_ref().map(Json))
            .bind(c.jwks_uri.as_deref())
            .bind(c.backchannel_logout_uri.as_ref().map(RedirectUri::as_str))
            .bind(c.default_level.map(Loa::name))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn by_id(&self, id: &str) -> StoreResult<Client> {
        let row: Option<Row> = on_db!(self.0, |p| sqlx::query_as(BY_ID)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Every registered redirect URI of every client (for the set of web origins).
    ///
    /// # Errors
    /// A backend error.
    pub async fn all_redirect_uris(&self) -> StoreResult<Vec<String>> {
        let rows: Vec<(Json<Vec<String>>,)> =
            on_db!(self.0, |p| sqlx::query_as(ALL_REDIRECT_URIS)
                .fetch_all(p)
                .await)?;
        Ok(rows.into_iter().flat_map(|(j,)| j.0).collect())
    }

    /// A client whatever its state (the administration's view).
    ///
    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn record(&self, id: &str) -> StoreResult<ClientRecord> {
        let row: Option<Row> = on_db!(self.0, |p| sqlx::query_as(ANY_BY_ID)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// A tenant's clients, by name.
    ///
    /// # Errors
    /// A backend error.
    pub async fn of_tenant(&self, tenant: TenantId) -> StoreResult<Vec<ClientRecord>> {
        let rows: Vec<Row> = on_db!(self.0, |p| sqlx::query_as(OF_TENANT)
            .bind(tenant.0)
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(ClientRecord::try_from).collect()
    }

    /// Stores what an admin may change: name, URIs, grant types, scopes, subject type,
    /// back-channel URI and default level.
    ///
    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn update(&self, c: &Client) -> StoreResult<()> {
        let subject_type = match c.subject_type {
            SubjectType::Pairwise => "pairwise",
            SubjectType::Public => "public",
        };
        let n = on_db!(self.0, |p| sqlx::query(UPDATE)
            .bind(c.id.as_str())
            .bind(&c.name)
            .bind(strings(&c.redirect_uris, RedirectUri::as_str))
            .bind(strings(&c.post_logout_redirect_uris, RedirectUri::as_str))
            .bind(strings(&c.grant_types, |g| g.as_str()))
            .bind(Json(c.scopes.to_vec()))
            .bind(subject_type)
            .bind(c.backchannel_logout_uri.as_ref().map(RedirectUri::as_str))
            .bind(c.default_level.map(Loa::name))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// A new secret; the previous one keeps working until `previous_until` (if given).
    ///
    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn set_secret(
        &self,
        id: &ClientId,
        hash: &[u8],
        previous: Option<(&[u8], DateTime<Utc>)>,
    ) -> StoreResult<()> {
        let n = on_db!(self.0, |p| sqlx::query(SET_SECRET)
            .bind(id.as_str())
            .bind(hash)
            .bind(previous.map(|p| p.0))
            .bind(previous.map(|p| p.1))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Disables (with a time) or enables (with `None`) a client.
    ///
    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn set_disabled(&self, id: &ClientId, at: Option<DateTime<Utc>>) -> StoreResult<()> {
        let n = on_db!(self.0, |p| sqlx::query(SET_DISABLED)
            .bind(id.as_str())
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes a client with its consents and refresh tokens (messages it sent keep its id).
    ///
    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn delete(&self, id: &ClientId) -> StoreResult<()> {
        let n = on_db!(self.0, |p| sqlx::query(DELETE)
            .bind(id.as_str())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records a successful authentication now.
    ///
    /// # Errors
    /// A backend error.
    pub async fn touch(&self, id: &ClientId, at: DateTime<Utc>) -> StoreResult<()> {
        on_db!(self.0, |p| sqlx::query(TOUCH)
            .bind(id.as_str())
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }
}
