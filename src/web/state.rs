//! Shared handler state; handlers extract only the part they use.

use crate::account::AccountService;
use crate::authn::Sessions;
use crate::oidc::Provider;
use axum::extract::FromRef;

/// Settings the web layer needs.
#[derive(Clone)]
pub struct WebConfig {
    pub secure_cookies: bool,
    pub session_ttl_secs: u64,
}

#[derive(Clone, FromRef)]
pub struct AppState {
    pub provider: Provider,
    pub accounts: AccountService,
    pub sessions: Sessions,
    pub web: WebConfig,
}
