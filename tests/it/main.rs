//! The integration-test binary: every test starts the real server on a random loopback port
//! with a fresh database and drives it as a portal and a browser would.

mod account;
mod admin;
mod authorize_errors;
mod brokering;
mod browser;
mod callbacks;
mod cli;
mod ephemeral;
mod evidence;
mod helpers;
mod hostile;
mod incoming;
mod legal;
mod levels;
mod lifecycle;
mod logout;
mod mailbox;
mod oidc_flow;
mod operations;
mod pages;
mod passkeys;
mod processes;
mod rights;
mod saml;
mod scan;
mod store;
mod throttling;
mod token;
