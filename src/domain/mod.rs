//! Pure types and rules: no I/O, no axum, no sqlx.
//!
//! Everything that crosses the edge of the system is parsed into one of these types first
//! (ids, e-mail addresses, redirect URIs, scopes, assurance levels), so the rest of the code
//! never handles an unchecked string.

pub mod account;
pub mod announcement;
pub mod brand;
pub mod civil;
pub mod claims;
pub mod client;
pub mod evidence;
pub mod ids;
pub mod lang;
pub mod level;
pub mod mailbox;
pub mod net;
pub mod params;
pub mod process;
pub mod role;
pub mod scope;
pub mod text;
