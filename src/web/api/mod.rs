//! JSON APIs for portals, authority systems and admins. Errors are problem details
//! (RFC 9457, `application/problem+json`); callers authenticate with a bearer access token.

pub mod mailbox;
pub mod openapi;
pub mod processes;
pub mod proofings;
