//! Pages for people: the login, registration, verification, account, sign-in methods and
//! mailbox handlers. Their error type and rendering helpers are in `web::respond`.

pub mod account;
pub mod data;
pub mod factors;
pub mod identity;
pub mod legal;
pub mod login;
pub mod passkeys;
pub mod password;
pub mod postfach;
pub mod register;

/// The pages for people.
pub fn routes() -> axum::Router<super::state::AppState> {
    axum::Router::new()
        .merge(login::routes())
        .merge(register::routes())
        .merge(password::routes())
        .merge(factors::routes())
        .merge(passkeys::routes())
        .merge(identity::routes())
        .merge(account::routes())
        .merge(postfach::routes())
        .merge(legal::routes())
        .merge(data::routes())
}

/// A time as pages show it (the server keeps UTC).
#[must_use]
pub fn date_time(ts: chrono::DateTime<chrono::Utc>) -> String {
    ts.format("%d.%m.%Y, %H:%M UTC").to_string()
}

/// A day as pages show it.
#[must_use]
pub fn day(ts: chrono::DateTime<chrono::Utc>) -> String {
    ts.format("%d.%m.%Y").to_string()
}

/// A pending-request id from a form or query: URL-safe base64 of at most 64 characters.
#[must_use]
pub fn req_id(v: Option<&str>) -> String {
    v.filter(|r| {
        r.len() <= 64
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
    .unwrap_or("")
    .to_owned()
}
