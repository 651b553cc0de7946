//! `POST /api/v1/identity-proofings`: a clerk's system records an in-person identity check
//! (scope `identity.verify`). The same as `buergerkonto user verify-identity`.

use crate::account::AccountError;
use crate::domain::level::Loa;
use crate::web::extract::{ServiceCaller, need};
use crate::web::respond::ApiError;
use crate::web::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/api/v1/identity-proofings", post(create))
}

/// An in-person identity check.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProofing {
    email: String,
    level: String,
    document_type: String,
    clerk: String,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    #[serde(default)]
    birthdate: Option<String>,
}

fn bad(detail: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, detail)
}

/// The recorded check.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ProofingOut {
    account_id: uuid::Uuid,
    #[schema(example = "substantial")]
    proofing_level: String,
}

/// Records that a clerk confirmed an account holder's identity; raises the account's level.
#[utoipa::path(
    post,
    path = "/api/v1/identity-proofings",
    tag = "admin",
    request_body = NewProofing,
    responses(
        (status = 201, body = ProofingOut),
        (status = 400, body = crate::web::respond::Problem),
        (status = 404, description = "No account with this e-mail address", body = crate::web::respond::Problem),
    ),
    security(("bearer" = ["identity.verify"]))
)]
pub async fn create(
    State(state): State<AppState>,
    clerk_system: ServiceCaller<need::IdentityVerify>,
    crate::web::extract::ApiJson(req): crate::web::extract::ApiJson<NewProofing>,
) -> Result<(StatusCode, Json<ProofingOut>), ApiError> {
    let level = Loa::from_name(&req.level)
        .filter(|l| *l > Loa::Low)
        .ok_or_else(|| bad("level must be substantial or high"))?;
    let (document, clerk) = (req.document_type.trim(), req.clerk.trim());
    if document.is_empty() || clerk.is_empty() || document.len() > 100 || clerk.len() > 200 {
        return Err(bad(
            "document_type and clerk must be 1-100 and 1-200 characters",
        ));
    }
    let mut claims = Vec::new();
    for (name, value) in [
        ("given_name", req.given_name),
        ("family_name", req.family_name),
        ("birthdate", req.birthdate),
    ] {
        if let Some(v) = value {
            let stored =
                crate::domain::claims::verified_claim(name, &json!(v)).map_err(|e| bad(&e))?;
            claims.push((name.to_owned(), stored));
        }
    }
    let clerk = format!("{clerk} (via {})", clerk_system.client.id);
    match state
        .accounts
        .verify_identity(
            &req.email,
            level,
            document,
            &clerk,
            &claims,
            crate::account::factors::CheckedBy {
                actor: None,
                tenant: Some(clerk_system.client.tenant_id),
            },
        )
        .await
    {
        Ok(id) => Ok((
            StatusCode::CREATED,
            Json(ProofingOut {
                account_id: id.0,
                proofing_level: level.name().to_owned(),
            }),
        )),
        Err(AccountError::InvalidEmail) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no account has this e-mail address",
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}
