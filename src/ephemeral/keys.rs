//! The whole key space of the short-lived store, in one screen: every kind of record, who
//! owns it (writes and reads it) and how long it lives. Each variant renders to its own
//! prefix, so two owners can never read or overwrite each other's records, and a new kind of
//! record is added here or not at all.

use crate::domain::ids::AccountId;
use std::fmt;
use std::net::IpAddr;
use uuid::Uuid;

/// A key of the short-lived store.
#[derive(Clone, Copy, Debug)]
pub enum Key<'a> {
    // ---- oidc: authorization flow and tokens
    /// `oidc::flow`: a pending authorization request by id; 10 minutes.
    Pending(&'a str),
    /// `oidc::code`: an authorization code's grant, by the code's digest; 60 s, taken once.
    Code(&'a str),
    /// `oidc::code`: the grant id a redeemed code produced, by the code's digest, so that a
    /// replay revokes it; the longer of the token TTL and 10 minutes.
    CodeUsed(&'a str),
    /// `oidc::access_token`: a revoked access token by `jti`; until it would expire.
    RevokedJti(&'a str),
    /// `oidc::access_token`: a revoked grant (its access tokens); token TTL + 60 s. The
    /// grant's refresh tokens are revoked for good in the database.
    RevokedGrant(Uuid),
    /// `oidc::client_auth`: a used client-assertion `jti` (client id, digest); until the
    /// assertion expires.
    AssertionJti(&'a str, &'a str),
    // ---- authn: sessions
    /// `authn`: a login session by handle (digest of the cookie); the session TTL.
    Session(&'a str),
    /// `authn`: the set of an account's session handles; the session TTL.
    AccountSessions(AccountId),
    // ---- account: mail flows
    /// `account`: a verification link by digest; 24 h.
    Verify(&'a str),
    /// `account`: the digest of the account's one pending verification link; 24 h.
    VerifyCurrent(AccountId),
    /// `account`: a verification or notice mail went out; the mail interval.
    VerifySent(AccountId),
    /// `account`: a password-reset link by digest; 1 h.
    Reset(&'a str),
    /// `account`: the digest of the account's one usable reset link; 1 h.
    ResetCurrent(AccountId),
    /// `account`: a reset mail went to this address (digest); the mail interval.
    ResetSent(&'a str),
    /// `legal::feedback`: a receipt went to this address (digest); an hour.
    FeedbackAck(&'a str),
    /// `account`: a link that confirms a new address, by digest; 24 h, taken once.
    EmailChange(&'a str),
    /// `account`: the digest of the account's one pending address change; 24 h.
    EmailChangeCurrent(AccountId),
    /// `account`: the account's data was downloaded; [`crate::account::EXPORT_INTERVAL`].
    Export(AccountId),
    /// `account`: a "login from a new browser" mail went out; 10 minutes.
    NewDeviceMail(AccountId),
    // ---- account: factors
    /// `account::factors`: a TOTP secret waiting for its first code; 10 minutes.
    TotpEnrol(AccountId),
    /// `account::passkeys`: a registration ceremony by id; 5 minutes, taken once.
    PasskeyRegistration(&'a str),
    /// `account::passkeys`: an authentication ceremony by id; 5 minutes, taken once.
    PasskeyAuthentication(&'a str),
    /// `account::passkeys`: the account's factor-change lock; 10 s.
    FactorLock(AccountId),
    // ---- account::throttle: attempt counters (windowed)
    /// Failed logins for an address (digest of the normalised e-mail address).
    FailedLogins(&'a str),
    /// Failed confirmations of a verification link for an account.
    FailedVerifications(AccountId),
    /// Failed second-factor codes for an account.
    FailedSecondFactors(AccountId),
    /// A counter per client address (IPv4, or IPv6 /64).
    PerAddress(PerAddress, IpAddr),
    // ---- broker
    /// `broker`: a pending link to an upstream provider by `state`; 10 minutes, taken once.
    UpstreamLink(&'a str),
    /// `saml`: a pending SAML round trip by `RelayState`; 10 minutes, taken once.
    SamlPending(&'a str),
    /// `saml`: a checked response waiting for the browser, by token digest; 2 minutes.
    SamlLanded(&'a str),
    /// `saml`: an assertion id seen (digest of upstream and id); until it expires.
    SamlAssertion(&'a str),
    /// `saml`: refused responses for a pending round trip (by `RelayState`); 10 minutes.
    SamlFailures(&'a str),
}

/// What is counted per client address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerAddress {
    /// `account::throttle`: failed logins.
    FailedLogins,
    /// `account`: registrations.
    Registrations,
    /// `account`: password-reset requests.
    ResetRequests,
    /// `account::passkeys`: anonymous passkey ceremonies (per minute).
    PasskeyCeremonies,
    /// `oidc::flow`: waiting authorization requests (per 10 minutes).
    PendingRequests,
    /// `legal::feedback`: barrier reports (per hour).
    Feedback,
    /// `broker`, `saml`: round trips to an upstream begun, either kind (per 10 minutes).
    UpstreamRoundTrips,
}

impl PerAddress {
    fn prefix(self) -> &'static str {
        match self {
            PerAddress::FailedLogins => "fail:ip",
            PerAddress::Registrations => "register:ip",
            PerAddress::ResetRequests => "forgot:ip",
            PerAddress::PasskeyCeremonies => "pk-anon",
            PerAddress::PendingRequests => "authreq-ip",
            PerAddress::Feedback => "feedback:ip",
            PerAddress::UpstreamRoundTrips => "upstream-ip",
        }
    }
}

/// The prefix of pending authorization requests: the in-process store gives them a budget of
/// their own (anybody can make us hold them).
pub const PENDING_PREFIX: &str = "authreq:";

impl fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Pending(id) => write!(f, "{PENDING_PREFIX}{id}"),
            Key::Code(d) => write!(f, "code:{d}"),
            Key::CodeUsed(d) => write!(f, "code-used:{d}"),
            Key::RevokedJti(j) => write!(f, "revoked-jti:{j}"),
            Key::RevokedGrant(g) => write!(f, "revoked-gid:{g}"),
            Key::AssertionJti(c, d) => write!(f, "jti:{c}:{d}"),
            Key::Session(h) => write!(f, "sess:{h}"),
            Key::AccountSessions(a) => write!(f, "acct-sess:{a}"),
            Key::Verify(d) => write!(f, "verify:{d}"),
            Key::VerifyCurrent(a) => write!(f, "verify-current:{a}"),
            Key::VerifySent(a) => write!(f, "verify-sent:{a}"),
            Key::Reset(d) => write!(f, "reset:{d}"),
            Key::ResetCurrent(a) => write!(f, "reset-current:{a}"),
            Key::ResetSent(d) => write!(f, "reset-sent:{d}"),
            Key::EmailChange(d) => write!(f, "email-change:{d}"),
            Key::FeedbackAck(d) => write!(f, "feedback-ack:{d}"),
            Key::EmailChangeCurrent(a) => write!(f, "email-change-current:{a}"),
            Key::Export(a) => write!(f, "export:{a}"),
            Key::NewDeviceMail(a) => write!(f, "new-device-mail:{a}"),
            Key::TotpEnrol(a) => write!(f, "totp-enrol:{a}"),
            Key::PasskeyRegistration(id) => write!(f, "pk-reg:{id}"),
            Key::PasskeyAuthentication(id) => write!(f, "pk-auth:{id}"),
            Key::FactorLock(a) => write!(f, "factor-lock:{a}"),
            Key::FailedLogins(d) => write!(f, "fail:acct:{d}"),
            Key::FailedVerifications(a) => write!(f, "fail:verify:{a}"),
            Key::FailedSecondFactors(a) => write!(f, "fail:2fa:{a}"),
            Key::PerAddress(what, ip) => {
                f.write_str(&crate::domain::net::address_key(what.prefix(), *ip))
            }
            Key::UpstreamLink(s) => write!(f, "link:{s}"),
            Key::SamlPending(s) => write!(f, "saml-req:{s}"),
            Key::SamlLanded(d) => write!(f, "saml-landed:{d}"),
            Key::SamlAssertion(d) => write!(f, "saml-seen:{d}"),
            Key::SamlFailures(s) => write!(f, "saml-fail:{s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_stay_what_stored_records_use() {
        let a = AccountId(Uuid::nil());
        assert_eq!(Key::Pending("x").to_string(), "authreq:x");
        assert_eq!(
            Key::AccountSessions(a).to_string(),
            format!("acct-sess:{}", Uuid::nil())
        );
        assert_eq!(Key::AssertionJti("c", "d").to_string(), "jti:c:d");
        assert_eq!(
            Key::PerAddress(PerAddress::FailedLogins, "2001:db8::1".parse().expect("ip"))
                .to_string(),
            "fail:ip:2001:db8:0:0::/64"
        );
    }
}
