//! Every rule on what a message and a reply may carry, in one room: the sizes, the text rules,
//! file names and media types. The authority API and the citizen's reply page only decode their
//! input; the mailbox checks it here, whichever door it came through.

use super::{File, MailboxError, Outgoing};
use chrono::{DateTime, Utc};

/// Messages a citizen may write (start, not answer) in 24 hours, across all topics.
pub const CITIZEN_MESSAGES_PER_DAY: i64 = 20;

pub const SUBJECT_CHARS: usize = 200;
pub const BODY_BYTES: usize = 100 * 1024;
pub const REFERENCE_CHARS: usize = 100;
pub const ATTACHMENTS: usize = 10;
pub const ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;
pub const TOTAL_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
pub const FILENAME_CHARS: usize = 200;
/// A JSON request with this much base64 in it is refused before parsing.
pub const REQUEST_BYTES: usize = TOTAL_ATTACHMENT_BYTES * 4 / 3 + BODY_BYTES * 2 + 64 * 1024;
/// Attachments and text in one page of replies, at most (at least one reply is sent).
pub const REPLIES_PAGE_BYTES: usize = 20 * 1024 * 1024;
/// Replies to one message, at most.
pub const REPLIES_PER_MESSAGE: usize = 100;
/// Longest idempotency key.
pub const IDEMPOTENCY_KEY_CHARS: usize = 200;

/// The rules for a message from an authority system at `now` (the process and recipient are
/// checked against the catalogue and the tenant's subjects when it is sent).
///
/// # Errors
/// `Invalid` or `TooLarge`, naming the rule.
pub fn validate(out: &Outgoing, now: DateTime<Utc>) -> Result<(), MailboxError> {
    let invalid = |m: &str| MailboxError::Invalid(m.to_owned());
    let subject = out.subject.trim();
    if subject.is_empty()
        || subject.chars().count() > SUBJECT_CHARS
        || subject.chars().any(char::is_control)
    {
        return Err(invalid(
            "subject must be 1 to 200 characters without control characters",
        ));
    }
    if out.body.len() > BODY_BYTES {
        return Err(MailboxError::TooLarge(format!(
            "body may have at most {BODY_BYTES} bytes"
        )));
    }
    check_reference(out.reference.as_deref())?;
    if out.expires_at.is_some_and(|e| e <= now) {
        return Err(invalid("expires_at must be in the future"));
    }
    check_files(&out.attachments)
}

/// A case reference: at most 100 characters, no control characters.
///
/// # Errors
/// `Invalid` naming the rule.
pub fn check_reference(reference: Option<&str>) -> Result<(), MailboxError> {
    if reference
        .is_some_and(|r| r.chars().count() > REFERENCE_CHARS || r.chars().any(char::is_control))
    {
        return Err(MailboxError::Invalid(
            "reference must be at most 100 characters without control characters".into(),
        ));
    }
    Ok(())
}

/// At most this many recipients in one bulk send.
pub const BULK_RECIPIENTS: usize = 10_000;
/// At most this many attachment bytes stored by one bulk send (each recipient's copy is
/// sealed with its own key).
pub const BULK_ATTACHMENT_BYTES: usize = 1024 * 1024 * 1024;

/// The size of a bulk send: its recipients, and its attachments times its recipients.
///
/// # Errors
/// `TooLarge` naming the limit.
pub fn check_bulk(recipients: usize, files: &[File]) -> Result<(), MailboxError> {
    if recipients > BULK_RECIPIENTS {
        return Err(MailboxError::TooLarge(format!(
            "at most {BULK_RECIPIENTS} recipients per call"
        )));
    }
    let bytes: usize = files.iter().map(|f| f.content.len()).sum();
    if bytes.saturating_mul(recipients) > BULK_ATTACHMENT_BYTES {
        return Err(MailboxError::TooLarge(format!(
            "attachments times recipients may be at most {BULK_ATTACHMENT_BYTES} bytes; split the run"
        )));
    }
    Ok(())
}

/// The rules for a citizen's reply; returns the text as it is stored (trimmed).
///
/// # Errors
/// `Invalid` for an empty reply, `TooLarge` naming the limit.
pub fn validate_reply<'a>(body: &'a str, files: &[File]) -> Result<&'a str, MailboxError> {
    let body = body.trim();
    if body.is_empty() && files.is_empty() {
        return Err(MailboxError::Invalid("the reply is empty".into()));
    }
    if body.len() > BODY_BYTES {
        return Err(MailboxError::TooLarge(format!(
            "a reply may have at most {BODY_BYTES} bytes"
        )));
    }
    check_files(files)?;
    Ok(body)
}

/// Whether another reply fits under [`REPLIES_PER_MESSAGE`], given how many there are.
///
/// # Errors
/// `TooLarge` when the message has all the replies it may have.
pub fn check_reply_count(replies: i64) -> Result<(), MailboxError> {
    if replies >= REPLIES_PER_MESSAGE as i64 {
        return Err(too_many_replies());
    }
    Ok(())
}

/// The answer when a message has all the replies it may have.
#[must_use]
pub fn too_many_replies() -> MailboxError {
    MailboxError::TooLarge(format!(
        "at most {REPLIES_PER_MESSAGE} replies to one message"
    ))
}

/// Whether `n` attachments are allowed: a decoder stops reading at the first one too many.
///
/// # Errors
/// `TooLarge` naming the limit.
pub fn check_attachment_count(n: usize) -> Result<(), MailboxError> {
    if n > ATTACHMENTS {
        return Err(MailboxError::TooLarge(format!(
            "at most {ATTACHMENTS} attachments"
        )));
    }
    Ok(())
}

/// Whether a base64 text of this length can decode to an allowed attachment (checked before
/// decoding it).
///
/// # Errors
/// `TooLarge` naming the file and the limit.
pub fn check_encoded_attachment(filename: &str, base64_len: usize) -> Result<(), MailboxError> {
    if base64_len > ATTACHMENT_BYTES * 4 / 3 + 4 {
        return Err(too_large_file(filename));
    }
    Ok(())
}

fn too_large_file(filename: &str) -> MailboxError {
    MailboxError::TooLarge(format!(
        "{filename}: an attachment may have at most {ATTACHMENT_BYTES} bytes"
    ))
}

/// A file name safe to show and to send in `Content-Disposition`: no path, no control
/// characters, at most [`FILENAME_CHARS`].
#[must_use]
pub fn clean_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let n: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(FILENAME_CHARS)
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_owned();
    (!n.is_empty()).then_some(n)
}

/// `type/subtype` of RFC 6838 restricted names, lowercased; anything else is refused.
#[must_use]
pub fn clean_content_type(ct: &str) -> Option<String> {
    let ct = ct.trim().to_ascii_lowercase();
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let (t, st) = ct.split_once('/')?;
    (ok(t) && ok(st)).then_some(ct)
}

fn check_files(files: &[File]) -> Result<(), MailboxError> {
    check_attachment_count(files.len())?;
    let mut total = 0;
    for f in files {
        if f.content.len() > ATTACHMENT_BYTES {
            return Err(too_large_file(&f.filename));
        }
        total += f.content.len();
    }
    if total > TOTAL_ATTACHMENT_BYTES {
        return Err(MailboxError::TooLarge(format!(
            "attachments may have at most {} bytes together",
            TOTAL_ATTACHMENT_BYTES
        )));
    }
    Ok(())
}

/// A feed's cursor as the caller passes it back (empty or absent: from the start).
///
/// # Errors
/// `Invalid` for anything but a non-negative number.
pub fn parse_cursor(cursor: Option<&str>) -> Result<i64, MailboxError> {
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok(0),
        Some(c) => c
            .parse()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| MailboxError::Invalid("malformed cursor".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::level::Loa;
    use chrono::TimeZone;

    fn letter(expires_at: Option<DateTime<Utc>>, files: usize) -> Outgoing {
        Outgoing {
            recipient_sub: "s".into(),
            subject: "Bescheid".into(),
            body: "Text".into(),
            reference: None,
            process: None,
            required_level: Loa::Low,
            reply_allowed: true,
            expires_at,
            attachments: (0..files)
                .map(|i| File {
                    filename: format!("{i}.pdf"),
                    content_type: "application/pdf".into(),
                    content: vec![0; 10],
                })
                .collect(),
        }
    }

    #[test]
    fn expiry_is_judged_at_the_time_given() {
        let now = Utc
            .with_ymd_and_hms(2026, 12, 4, 12, 0, 0)
            .single()
            .unwrap_or_default();
        let hour = chrono::Duration::hours(1);
        assert!(validate(&letter(Some(now + hour), 0), now).is_ok());
        assert!(matches!(
            validate(&letter(Some(now + hour), 0), now + hour),
            Err(MailboxError::Invalid(_))
        ));
    }

    #[test]
    fn both_doors_share_the_attachment_and_text_rules() {
        let now = Utc::now();
        assert!(validate(&letter(None, ATTACHMENTS), now).is_ok());
        assert!(matches!(
            validate(&letter(None, ATTACHMENTS + 1), now),
            Err(MailboxError::TooLarge(_))
        ));
        let files = letter(None, ATTACHMENTS + 1).attachments;
        assert!(matches!(
            validate_reply("Danke", &files),
            Err(MailboxError::TooLarge(_))
        ));
        assert!(matches!(
            validate_reply("  ", &[]),
            Err(MailboxError::Invalid(_))
        ));
        assert_eq!(validate_reply("  Danke \n", &[]).ok(), Some("Danke"));
        let long = "x".repeat(BODY_BYTES + 1);
        assert!(matches!(
            validate_reply(&long, &[]),
            Err(MailboxError::TooLarge(_))
        ));
        let mut control = letter(None, 0);
        control.subject = "Be\u{7}scheid".into();
        assert!(matches!(
            validate(&control, now),
            Err(MailboxError::Invalid(_))
        ));
        assert!(check_reply_count(REPLIES_PER_MESSAGE as i64 - 1).is_ok());
        assert!(check_reply_count(REPLIES_PER_MESSAGE as i64).is_err());
    }

    #[test]
    fn file_names_and_types_are_cleaned() {
        assert_eq!(
            clean_filename("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(clean_filename("C:\\a\\\"b\".pdf").as_deref(), Some("b.pdf"));
        assert_eq!(clean_filename("..."), None);
        assert_eq!(
            clean_content_type(" Application/PDF ").as_deref(),
            Some("application/pdf")
        );
        assert_eq!(clean_content_type("text/html; charset=utf-8"), None);
    }
}
