//! The OpenAPI 3 description of the JSON APIs, generated from the handlers' annotations and
//! served at `/api/openapi.json`. `docs/openapi.json` is the same document, checked by a test.

use crate::web::state::AppState;
use axum::Json;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::security::{
    AuthorizationCode, ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/api/openapi.json", get(serve))
}

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::OAuth2(OAuth2::new([
                Flow::ClientCredentials(ClientCredentials::new(
                    "/token",
                    Scopes::from_iter([
                        (
                            "mailbox.send",
                            "send messages, read their status, receipts and replies",
                        ),
                        ("catalogue.admin", "set the Verbund's level of a process"),
                        (
                            "catalogue.tenant",
                            "raise a process's level for the caller's tenant",
                        ),
                        ("identity.verify", "record a clerk's identity check"),
                    ]),
                )),
                Flow::AuthorizationCode(AuthorizationCode::new(
                    "/authorize",
                    "/token",
                    Scopes::from_iter([("mailbox.read", "a portal shows the citizen's mailbox")]),
                )),
            ])),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bürgerkonto API",
        description = "Mailbox (Postfach) for authority systems and portals, and the admin APIs. Errors are problem details (RFC 9457). Tokens come from the token endpoint of the same server.",
        license(name = "EUPL-1.2")
    ),
    paths(
        super::mailbox::send,
        super::mailbox::bulk,
        super::mailbox::status,
        super::mailbox::receipt,
        super::mailbox::event_log,
        super::mailbox::replies,
        super::mailbox::inbox,
        super::mailbox::open,
        super::mailbox::attachment,
        super::incoming::incoming,
        super::callbacks::own_target,
        super::callbacks::own_deliveries,
        super::callbacks::own_redeliver,
        super::processes::show,
        super::processes::put,
        super::proofings::create,
        super::admin::tenants,
        super::admin::create_tenant,
        super::admin::tenant,
        super::admin::update_tenant,
        super::admin::clients,
        super::admin::create_client,
        super::admin::client,
        super::admin::update_client,
        super::admin::rotate_secret,
        super::admin::disable_client,
        super::admin::enable_client,
        super::admin::delete_client,
        super::admin::audit,
        super::admin::lookup_account,
        super::admin::disable_account,
        super::admin::enable_account,
        super::admin::delete_account,
        super::incoming::topics,
        super::incoming::create_topic,
        super::incoming::disable_topic,
        super::incoming::enable_topic,
        super::callbacks::target,
        super::callbacks::set,
        super::callbacks::clear,
        super::callbacks::deliveries,
        super::callbacks::redeliver,
    ),
    modifiers(&Security),
    tags(
        (name = "mailbox", description = "Authority systems (Fachverfahren): client_credentials with scope mailbox.send"),
        (name = "callbacks", description = "Authority systems: their signed callbacks (HMAC-SHA512, FIT-Connect's scheme), the backlog and re-delivery"),
        (name = "portal", description = "Portals: a citizen's access token with scope mailbox.read"),
        (name = "admin", description = "Administration: tenants, clients and the audit log (client_credentials with scope admin.verbund, admin.tenant or admin.audit), the process catalogue and identity proofing"),
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON (what `docs/openapi.json` holds).
#[must_use]
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// `GET /api/openapi.json`.
pub async fn serve() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}
