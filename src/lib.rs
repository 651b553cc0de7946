//! # Bürgerkonto
//!
//! An OpenID Connect provider with eIDAS assurance levels and central citizen accounts for
//! the municipalities of a Verbund.
//!
//! # Layout
//!
//! ```text
//! main.rs      parse the command line, call cli::run; nothing else
//! cli/         commands (serve, migrate, tenant/client/user/process, admin, keys, openapi);
//!              prints JSON; manage.rs: list/show/update/disable/delete through admin/
//! config.rs    buergerkonto.toml + BUERGERKONTO_* -> validated Config
//! app.rs       Services::connect + Application::build: backends, keys, mailer -> router;
//!              starts and stops the owners' workers, nothing else runs here
//! clock.rs     the injected clock where expiry is decided (system, or manual in tests)
//! telemetry/   tracing subscriber; Cause and Chain (errors logged with their causes);
//!              metrics.rs: counters and latency histograms in the Prometheus text format
//! operations.rs  the operator's view: dependency health (/readyz) and /metrics' gauges
//! domain/      pure types and rules: ids (TenantId::sector), e-mail, redirect URIs, clients
//!              (Client::sector), scopes, levels, parameters, mailbox MessageState, evidence,
//!              roles (who may do what), brand (accent contrast, logo check)
//! crypto/      Argon2id, Secret (redacted), constant-time comparison, random tokens,
//!              digests, PKCE, TOTP, AES-256-GCM sealing
//! keyring/     keys/ folder: signing keys (generate, rotate with overlap, JWKS, sign/verify),
//!              mailbox master keys (wrap/unwrap data keys)
//! store/       the only module with SQL: Db {Pg, Sqlite}, on_db! and write_tx! (every write
//!              transaction holds the SQLite writer), one file per aggregate, typed rows
//! ephemeral/   short-lived state with expiry and take-once, in-process or Redis; keys.rs is
//!              the one key space (each kind of record, its owner and its lifetime)
//! mail/        SMTP or outbox folder; texts.rs is the typed de/en mail catalogue, one layout
//! account/     registration, e-mail verification, password login with throttling, second
//!              factors (TOTP, passkeys), identity proofing and verified data, sign-in audit
//! authn/       login sessions (sid, auth_time, amr, acr); SignedIn
//! admin/       the administration: every console, admin-API and CLI operation, checked against
//!              the actor's roles (domain/role.rs: one decision, Grants::may) and audited with
//!              the actor: roles, tenants (face, logo), clients, processes, the clerk desk,
//!              the audit log; json.rs the machine shape of tenants and clients
//! catalogue.rs the process catalogue service: one level per process, raised per tenant
//! registry.rs  checks client registrations and makes credentials
//! broker.rs    relying party towards upstream OpenID providers (ELSTER, an eID gateway)
//! saml/        service provider towards SAML upstreams (BundID, Mein Unternehmenskonto):
//!              IdP metadata, our keys (keys.rs), AuthnRequest and Response checks
//!              (message.rs, XML security by libxmlsec1 through samael), the round trip
//! rights.rs    data rights: everything held about an account, as a page and a JSON export
//!              (gathers from account, authn, oidc and mailbox; no storage of its own)
//! legal/       the operator's legal pages (Markdown, rendered safely; German templates) and
//!              the accessibility statement's feedback (report to the operator, receipt)
//! oidc/        the protocol engine; Provider keeps its storage private
//!   flow.rs        the browser steps: authorize, resume, consent -> one typed Step
//!   authorize.rs   request validation and the decision (login, step-up, consent, issue)
//!   consent.rs     read, grant, withdraw (revokes the portal's refresh tokens, audited)
//!   backchannel.rs ending sessions: destroy, back-channel logout, audit
//!   code.rs        authorization codes: issue and redeem
//!   access_token.rs mint, verify, revocation check; Caller (system or portal for a citizen)
//!   token.rs, introspect.rs, revoke.rs, userinfo.rs, logout.rs, discovery.rs, client_auth.rs
//!   claims.rs      token contents, pairwise subject; error.rs OAuthError and spec codes
//!   worker.rs      key reload and refresh-token purge
//! mailbox/     the Postfach, split by job
//!   limits.rs      every rule on a message or reply (both doors call it)
//!   seal.rs        data keys, bindings, sealing, opening, master-key rotation
//!   sender.rs      authority side: send (idempotent), status, receipt, replies
//!   recipient.rs   citizen side behind one gate (admit): inbox, open, files, reply, archive
//!   view.rs        what goes in and out; worker.rs notifications, expiry, purging
//! web/         the only module that imports axum; one router per room, merged in mod.rs
//!   respond.rs     the three surface errors (OAuth JSON, problem JSON, HTML page), renderers
//!   extract.rs     the gates: SignedIn, MaybeSession, CsrfForm, CheckedForm, ServiceCaller,
//!                  CitizenCaller, IdempotencyKey, ApiJson, ApiPath, ApiQueryOf, OAuthForm
//!   oidc/          protocol endpoints (render oidc::flow's Step); pages/ citizen pages;
//!                  api/ mailbox, processes, proofings, admin (utoipa); server.rs the HTTP loop
//!   admin/         the console at /admin behind its gate (Console: role, substanziell with a
//!                  second factor, fresh factor for grave actions); texts.rs its de/en texts
//!   face.rs        the Kommune's or the Verbund's face on citizen pages; logos, colours
//! ```
//!
//! Dependency rule (`A <- B`: B may use A): domain, clock, telemetry, config <- crypto,
//! keyring <- store, ephemeral, mail <- broker <- account, authn, catalogue, registry, legal <- oidc,
//! mailbox <- rights, operations <- web <- app <- cli <- main. `oidc` uses `account` and `authn` (the flow reads a
//! session's account); `account` uses `broker` (verified data from an upstream); `mailbox`
//! does not use `oidc`; `web` calls services, never the store.

pub mod account;
pub mod admin;
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
pub mod legal;
pub mod mail;
pub mod mailbox;
pub mod oidc;
pub mod operations;
pub mod registry;
pub mod rights;
pub mod saml;
pub mod store;
pub mod telemetry;
pub mod web;
