//! Whose page it is: the Kommune's face when one of its portals asks (its name with the
//! portal's, its logo, its accent colour, its support contact), the Verbund's neutral face
//! otherwise. Also serves the logos and the accent stylesheets. Branding is data, never
//! markup: names are escaped text, the colour is re-checked on the way out, logos are only
//! ever `<img>` sources with a sandboxing policy.

use crate::oidc::flow::Portal;
use crate::web::extract::PagePath;
use crate::web::respond::PageError;
use crate::web::state::{AppState, WebConfig};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The logo's own policy: nothing loads, nothing runs, even when opened directly.
const LOGO_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/kommune/{slug}/logo", get(tenant_logo))
        .route("/kommune/{slug}/farbe.css", get(tenant_colour))
        .route("/verbund/logo", get(verbund_logo))
}

/// The face at the top of a citizen page.
#[derive(Clone, Debug, Default)]
pub struct Face {
    /// "Hundesteuer online – Gemeinde Beispielheim", or the Verbund's name.
    pub title: String,
    pub logo: Option<String>,
    /// The accent stylesheet to link.
    pub style: Option<String>,
    pub support: Option<String>,
}

impl Face {
    /// The Verbund's neutral face.
    #[must_use]
    pub fn verbund(web: &WebConfig) -> Self {
        Self {
            title: web.verbund.name.clone(),
            logo: web
                .verbund
                .logo
                .as_ref()
                .map(|_| "/verbund/logo".to_owned()),
            style: None,
            support: None,
        }
    }

    /// The face of a portal's request: its Kommune's, or the Verbund's without one.
    #[must_use]
    pub fn of(portal: Option<&Portal>, web: &WebConfig) -> Self {
        let Some(p) = portal else {
            return Self::verbund(web);
        };
        let title = if p.tenant_name.is_empty() {
            p.client_name.clone()
        } else {
            format!("{} – {}", p.client_name, p.tenant_name)
        };
        let slug = (!p.tenant_slug.is_empty()).then_some(p.tenant_slug.as_str());
        Self {
            title,
            logo: slug
                .filter(|_| p.logo)
                .map(|s| format!("/kommune/{s}/logo")),
            style: slug
                .filter(|_| p.accent.is_some())
                .map(|s| format!("/kommune/{s}/farbe.css")),
            support: p.support.clone(),
        }
    }

    /// The face of a client's Kommune (the logout a portal asked for).
    pub async fn of_client(state: &AppState, client: &crate::domain::client::Client) -> Self {
        match state.catalogue.tenant_by_id(client.tenant_id).await {
            Ok(t) => Self::of(Some(&Portal::of(&client.name, t)), &state.web),
            Err(_) => Self::verbund(&state.web),
        }
    }

    /// The face of the pending request `req` (the Verbund's when there is none).
    pub async fn of_request(state: &AppState, req: &str) -> Self {
        if req.is_empty() {
            return Self::verbund(&state.web);
        }
        match state.provider.load_pending(req).await {
            Ok(p) => Self::of(Some(&p.portal()), &state.web),
            Err(_) => Self::verbund(&state.web),
        }
    }
}

fn image(bytes: Vec<u8>, content_type: &str) -> Response {
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(LOGO_CSP),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

fn not_found(lang: crate::domain::lang::Lang) -> PageError {
    PageError::new(StatusCode::NOT_FOUND, lang, |t| t.error_not_found)
}

/// `GET /kommune/{slug}/logo`.
async fn tenant_logo(
    State(state): State<AppState>,
    crate::web::extract::PageLang(lang): crate::web::extract::PageLang,
    PagePath(slug): PagePath<String>,
) -> Result<Response, PageError> {
    if crate::domain::ids::TenantSlug::parse(&slug).is_err() {
        return Err(not_found(lang));
    }
    match state.admin.logo(&slug).await {
        Ok(Some(bytes)) => {
            // Stored logos were checked on upload; the type is derived again, never stored.
            let kind = crate::domain::brand::logo(&bytes).unwrap_or("application/octet-stream");
            Ok(image(bytes, kind))
        }
        Ok(None) => Err(not_found(lang)),
        Err(e) => Err(PageError::internal(lang, e)),
    }
}

/// `GET /kommune/{slug}/farbe.css`: the accent colour as a stylesheet (inline styles are
/// not allowed by our policy).
async fn tenant_colour(
    State(state): State<AppState>,
    crate::web::extract::PageLang(lang): crate::web::extract::PageLang,
    PagePath(slug): PagePath<String>,
) -> Result<Response, PageError> {
    if crate::domain::ids::TenantSlug::parse(&slug).is_err() {
        return Err(not_found(lang));
    }
    let tenant = match state.catalogue.tenant(&slug).await {
        Ok(Some(t)) => t,
        Ok(None) => return Err(not_found(lang)),
        Err(e) => return Err(PageError::internal(lang, e)),
    };
    let colour = tenant
        .accent_color
        .as_deref()
        .and_then(|c| crate::domain::brand::accent_color(c).ok().flatten())
        .ok_or_else(|| not_found(lang))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        format!(":root {{ --accent: {colour}; }}\n"),
    )
        .into_response())
}

/// `GET /verbund/logo`.
async fn verbund_logo(
    State(web): State<WebConfig>,
    crate::web::extract::PageLang(lang): crate::web::extract::PageLang,
) -> Result<Response, PageError> {
    match &web.verbund.logo {
        Some((bytes, kind)) => Ok(image(bytes.clone(), kind)),
        None => Err(not_found(lang)),
    }
}
