//! JSON APIs for portals, authority systems and admins. Errors are problem details
//! (RFC 9457, `application/problem+json`); callers authenticate with a bearer access token.

pub mod admin;
pub mod callbacks;
pub mod incoming;
pub mod mailbox;
pub mod openapi;
pub mod processes;
pub mod proofings;

/// The JSON APIs (`/api/...`).
pub fn routes() -> axum::Router<super::state::AppState> {
    axum::Router::new()
        .merge(openapi::routes())
        .merge(admin::routes())
        .merge(callbacks::routes())
        .merge(incoming::routes())
        .merge(processes::routes())
        .merge(proofings::routes())
        .merge(mailbox::routes())
}
