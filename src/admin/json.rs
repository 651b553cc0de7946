//! How tenants and clients are shown to machines (the CLI's output, the admin API's
//! answers): one shape for both doors, never a secret.

use crate::domain::client::{RedirectUri, SubjectType};
use crate::store::clients::ClientRecord;
use crate::store::tenants::Tenant;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A tenant with its state and face.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    #[schema(example = "gemeinde-beispielheim")]
    pub slug: String,
    #[schema(example = "Gemeinde Beispielheim")]
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub impressum_url: Option<String>,
    pub privacy_url: Option<String>,
    #[schema(example = "#1f4e79")]
    pub accent_color: Option<String>,
    pub support_contact: Option<String>,
    /// Whether a logo is set (served at `/kommune/{slug}/logo`).
    pub logo: bool,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id.0,
            slug: t.slug.as_str().to_owned(),
            name: t.name.clone(),
            created_at: t.created_at,
            disabled_at: t.disabled_at,
            impressum_url: t.impressum_url.clone(),
            privacy_url: t.privacy_url.clone(),
            accent_color: t.accent_color.clone(),
            support_contact: t.support_contact.clone(),
            logo: t.has_logo,
        }
    }
}

/// A client with its state and last use.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub tenant_id: Uuid,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub token_endpoint_auth_method: String,
    #[schema(example = "pairwise")]
    pub subject_type: String,
    pub backchannel_logout_uri: Option<String>,
    #[schema(example = "substantial")]
    pub default_level: Option<String>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Its tenant is disabled (then the client is refused too).
    pub tenant_disabled: bool,
    /// The last successful client authentication, to the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Until when the previous secret works after a rotation.
    pub previous_secret_until: Option<DateTime<Utc>>,
}

impl From<&ClientRecord> for ClientView {
    fn from(r: &ClientRecord) -> Self {
        let c = &r.client;
        let strings = |v: &[RedirectUri]| v.iter().map(|u| u.as_str().to_owned()).collect();
        Self {
            client_id: c.id.as_str().to_owned(),
            tenant_id: c.tenant_id.0,
            name: c.name.clone(),
            redirect_uris: strings(&c.redirect_uris),
            post_logout_redirect_uris: strings(&c.post_logout_redirect_uris),
            grant_types: c
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            scopes: c.scopes.to_vec(),
            token_endpoint_auth_method: c.auth_method.as_str().to_owned(),
            subject_type: match c.subject_type {
                SubjectType::Pairwise => "pairwise".into(),
                SubjectType::Public => "public".into(),
            },
            backchannel_logout_uri: c
                .backchannel_logout_uri
                .as_ref()
                .map(|u| u.as_str().to_owned()),
            default_level: c.default_level.map(|l| l.name().to_owned()),
            created_at: r.created_at,
            disabled_at: r.disabled_at,
            tenant_disabled: r.tenant_disabled,
            last_used_at: r.last_used_at,
            previous_secret_until: c.previous_secret.as_ref().map(|(_, until)| *until),
        }
    }
}

/// A tenant as JSON.
#[must_use]
pub fn tenant_json(t: &Tenant) -> serde_json::Value {
    serde_json::to_value(TenantView::from(t)).unwrap_or_default()
}

/// A client as JSON.
#[must_use]
pub fn client_json(r: &ClientRecord) -> serde_json::Value {
    serde_json::to_value(ClientView::from(r)).unwrap_or_default()
}
