//! The feedback mechanism of the accessibility statement (BITV 2.0 § 7 Abs. 1 Nr. 2): a
//! citizen reports a barrier; the report goes to the operator's address, and the sender, if
//! they gave an address, gets an acknowledgement. The acknowledgement carries none of the
//! sender's words, so the form cannot be used to send text to strangers; reports are limited
//! per client address (counted before anything is sent).

use crate::domain::account::EmailAddress;
use crate::domain::lang::Lang;
use crate::ephemeral::{Ephemeral, EphemeralError, Key, PerAddress};
use crate::mail::{MailError, Mailer};
use std::net::IpAddr;
use std::time::Duration;

/// Reports per client address and hour.
pub const PER_HOUR: u64 = 5;
/// Longest report, in characters.
pub const MESSAGE_CHARS: usize = 5_000;
/// Longest page reference, in characters.
pub const PAGE_CHARS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("the report is empty")]
    Empty,
    #[error("the report is too long")]
    TooLong,
    #[error("the reply address is not an e-mail address")]
    InvalidEmail,
    #[error("too many reports from this address")]
    Throttled,
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
    #[error("the report could not be delivered")]
    Mail(#[from] MailError),
}

/// A barrier report as the form sends it.
pub struct Report<'a> {
    pub message: &'a str,
    /// Where the citizen met the barrier (a page or a description).
    pub page: &'a str,
    /// Where to answer, if the citizen wants an answer.
    pub reply_to: &'a str,
    pub lang: Lang,
}

/// Delivers barrier reports; cheap to clone.
#[derive(Clone)]
pub struct Feedback {
    mailer: Mailer,
    to: EmailAddress,
    eph: Ephemeral,
    statement_url: String,
}

impl Feedback {
    #[must_use]
    pub fn new(mailer: Mailer, to: EmailAddress, eph: Ephemeral, issuer: &str) -> Self {
        Self {
            mailer,
            to,
            eph,
            statement_url: format!("{issuer}/barrierefreiheit"),
        }
    }

    /// Sends the report to the operator and the acknowledgement to the sender. Returns
    /// whether an acknowledgement went out.
    ///
    /// # Errors
    /// `Empty`, `TooLong`, `InvalidEmail` (nothing is counted or sent); `Throttled`; failures
    /// of the short-lived store or the mail server.
    pub async fn report(&self, ip: IpAddr, r: &Report<'_>) -> Result<bool, FeedbackError> {
        let message = r.message.trim();
        let page = r.page.trim();
        if message.is_empty() {
            return Err(FeedbackError::Empty);
        }
        if message.chars().count() > MESSAGE_CHARS || page.chars().count() > PAGE_CHARS {
            return Err(FeedbackError::TooLong);
        }
        let reply_to = match r.reply_to.trim() {
            "" => None,
            a => Some(EmailAddress::parse(a).map_err(|_| FeedbackError::InvalidEmail)?),
        };
        let n = self
            .eph
            .incr_window(
                &Key::PerAddress(PerAddress::Feedback, ip),
                Duration::from_secs(3600),
            )
            .await?;
        if n > PER_HOUR {
            return Err(FeedbackError::Throttled);
        }
        let to_operator = crate::mail::barrier_report(
            message,
            page,
            reply_to.as_ref().map(EmailAddress::as_str),
            r.lang,
            &self.statement_url,
        )?;
        self.mailer.send(&self.to, to_operator).await?;
        match reply_to {
            // At most one receipt per address and hour, whatever the sender's address: the
            // form cannot be used to flood someone's mailbox from many connections.
            Some(addr)
                if self
                    .eph
                    .put_if_absent(
                        &Key::FeedbackAck(&crate::crypto::token_digest(addr.as_str())),
                        "1",
                        Duration::from_secs(3600),
                    )
                    .await? =>
            {
                let ack = crate::mail::barrier_report_received(r.lang, &self.statement_url)?;
                self.mailer.send(&addr, ack).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
