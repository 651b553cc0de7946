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
    /// The Verbund's own face on the neutral login.
    pub verbund: std::sync::Arc<VerbundFace>,
    /// How recent the admin's second factor must be for the console's graver actions.
    pub admin_fresh: std::time::Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: std::sync::Arc<Vec<std::net::IpAddr>>,
    /// (id, name) of the upstreams one may log in with (SAML: BundID), for the login page.
    pub upstream_logins: std::sync::Arc<Vec<(String, String)>>,
    /// `/metrics` on this listener, and who may read it (`None`: it has its own address).
    pub metrics_here: Option<super::metrics::MetricsAccess>,
}

/// The Verbund's name and logo (its bytes and content type), read at start.
#[derive(Clone, Debug, Default)]
pub struct VerbundFace {
    pub name: String,
    pub logo: Option<(Vec<u8>, &'static str)>,
}

/// What every handler may use: one pointer, so that extracting it per request is one counter
/// increment (the services inside hold dozens of `Arc`s).
#[derive(Clone)]
pub struct AppState(std::sync::Arc<Services>);

impl AppState {
    #[must_use]
    pub fn new(services: Services) -> Self {
        Self(std::sync::Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The parts that handlers and extractors take on their own (`State<Provider>`, …).
macro_rules! parts {
    ($($t:ty => $field:ident),* $(,)?) => {$(
        impl FromRef<AppState> for $t {
            fn from_ref(s: &AppState) -> Self {
                s.0.$field.clone()
            }
        }
    )*};
}

parts!(
    Provider => provider,
    Sessions => sessions,
    WebConfig => web,
    crate::catalogue::Catalogue => catalogue,
    crate::operations::Operations => ops,
);

/// The services behind [`AppState`].
pub struct Services {
    pub provider: Provider,
    pub accounts: AccountService,
    pub sessions: Sessions,
    pub broker: crate::broker::Broker,
    /// The SAML upstreams (BundID).
    pub saml: crate::saml::Saml,
    pub catalogue: crate::catalogue::Catalogue,
    /// The administration (console, admin API).
    pub admin: crate::admin::Admin,
    pub mailbox: crate::mailbox::MailboxService,
    /// The operator's legal pages, read at start.
    pub legal: std::sync::Arc<crate::legal::LegalPages>,
    pub feedback: crate::legal::feedback::Feedback,
    /// Access and portability of the citizen's data.
    pub rights: crate::rights::DataRights,
    /// Health and metrics.
    pub ops: crate::operations::Operations,
    pub web: WebConfig,
}
