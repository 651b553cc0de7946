//! # Bürgerkonto
//!
//! An OpenID Connect provider with eIDAS assurance levels and central citizen accounts for
//! the municipalities of a Verbund.
//!
//! # Layout
//!
//! ```text
//! main.rs      parse the command line, call cli::run; nothing else
//! cli.rs       commands (serve, migrate, tenant/client/user/process, keys, openapi); prints JSON
//! config.rs    buergerkonto.toml + BUERGERKONTO_* -> validated Config
//! app.rs       Application::build(Config): database, short-lived store, keys, mailer -> router
//! telemetry.rs tracing subscriber
//! domain/      pure types and rules: ids, e-mail, redirect URIs, scopes, levels, parameters
//! crypto/      Argon2id, constant-time comparison, random tokens, digests, PKCE, TOTP,
//!              AES-256-GCM sealing
//! keyring/     keys/ folder: signing keys (generate, rotate with overlap, JWKS, sign/verify),
//!              mailbox master keys (wrap/unwrap data keys)
//! store/       the only module with SQL: Db {Pg, Sqlite}, one file per aggregate
//! ephemeral/   short-lived state with expiry and take-once: in-process or Redis
//! mail/        SMTP or outbox folder; de/en templates
//! account/     registration, e-mail verification, password login with throttling, second
//!              factors (TOTP, passkeys), identity proofing and verified data
//! authn/       login sessions (sid, auth_time, amr, acr)
//! oidc/        the protocol engine: authorize, token, refresh, introspection, revocation,
//!              client authentication, userinfo, discovery, logout (RP-initiated, back-channel)
//! registry.rs  checks client registrations and makes credentials
//! catalogue.rs the process catalogue: one level per process, raised (never lowered) per tenant
//! broker.rs    relying party towards upstream identity providers (BundID, ELSTER, eID)
//! mailbox/     the Postfach: sealed messages, evidence chain, receipts, replies, background round
//! web/         the only module that imports axum: router, middleware, pages, endpoints
//! ```
//!
//! Dependency rule (`A <- B`: B may use A): domain <- crypto, keyring <- store, ephemeral,
//! mail <- account, authn, oidc, broker <- mailbox <- web <- app <- cli <- main.

pub mod account;
pub mod app;
pub mod authn;
pub mod broker;
pub mod catalogue;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod ephemeral;
pub mod keyring;
pub mod mail;
pub mod mailbox;
pub mod oidc;
pub mod registry;
pub mod store;
pub mod telemetry;
pub mod web;
