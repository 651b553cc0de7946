//! Outgoing mail: SMTP through lettre, or `.eml` files in an outbox folder when no SMTP URL is
//! configured (development, small installations, tests). Every mail is plain text and HTML
//! from one layout pair (`templates/mail/mail.{txt,html}`) with its words from the typed
//! catalogue in [`texts`].

pub mod texts;

use crate::config::MailTransport;
use crate::domain::account::EmailAddress;
use crate::domain::lang::Lang;
use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use texts::{MailTexts, mail_texts};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the recipient address is not a mailbox")]
    Address(#[from] lettre::address::AddressError),
    #[error("building the message failed")]
    Build(#[source] lettre::error::Error),
    #[error("the mail server did not take the message")]
    Smtp(#[source] lettre::transport::smtp::Error),
    #[error("writing to the outbox folder failed")]
    Outbox(#[source] std::io::Error),
    #[error("rendering the message failed")]
    Render(#[from] askama::Error),
}

/// A rendered mail.
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Every mail's shape: greeting, paragraphs, the one link, paragraphs.
struct Layout<'a> {
    texts: &'static MailTexts,
    subject: &'a str,
    before: Vec<String>,
    action: &'a str,
    link: &'a str,
    after: Vec<String>,
}

#[derive(Template)]
#[template(path = "mail/mail.txt")]
struct Text<'a> {
    greeting: &'a str,
    before: &'a [String],
    link: &'a str,
    after: &'a [String],
}

#[derive(Template)]
#[template(path = "mail/mail.html")]
struct Html<'a> {
    lang: &'a str,
    greeting: &'a str,
    before: &'a [String],
    action: &'a str,
    link: &'a str,
    after: &'a [String],
}

impl Layout<'_> {
    fn render(self) -> Result<Mail, MailError> {
        let greeting = self.texts.greeting;
        Ok(Mail {
            subject: self.subject.to_owned(),
            text: Text {
                greeting,
                before: &self.before,
                link: self.link,
                after: &self.after,
            }
            .render()?,
            html: Html {
                lang: self.texts.lang,
                greeting,
                before: &self.before,
                action: self.action,
                link: self.link,
                after: &self.after,
            }
            .render()?,
        })
    }
}

/// The common mail: a subject, one paragraph, the link, and a note after it.
fn one_link(
    lang: Lang,
    link: &str,
    pick: fn(&MailTexts) -> [&'static str; 4],
) -> Result<Mail, MailError> {
    let t = mail_texts(lang);
    let [subject, intro, action, note] = pick(t);
    Layout {
        texts: t,
        subject,
        before: vec![intro.into()],
        action,
        link,
        after: vec![note.into()],
    }
    .render()
}

/// The e-mail verification mail.
///
/// # Errors
/// When a template fails to render.
pub fn verification(lang: Lang, link: &str, via: Option<&str>) -> Result<Mail, MailError> {
    let t = mail_texts(lang);
    let mut before = vec![t.verify_intro.to_owned()];
    // The portal and its Kommune the registration started at, so the mail is recognised.
    if let Some(via) = via {
        before.push(format!("{} {via}", t.verify_via));
    }
    Layout {
        texts: t,
        subject: t.verify_subject,
        before,
        action: t.verify_action,
        link,
        after: vec![t.verify_note.into()],
    }
    .render()
}

/// Sent instead of a verification mail when someone registers an address that has an account,
/// so the registration page never reveals whether an address is registered.
///
/// # Errors
/// When a template fails to render.
pub fn already_registered(lang: Lang, link: &str) -> Result<Mail, MailError> {
    one_link(lang, link, |t| {
        [
            t.already_subject,
            t.already_intro,
            t.already_action,
            t.already_note,
        ]
    })
}

/// The password reset mail.
///
/// # Errors
/// When a template fails to render.
pub fn password_reset(lang: Lang, link: &str) -> Result<Mail, MailError> {
    one_link(lang, link, |t| {
        [t.reset_subject, t.reset_intro, t.reset_action, t.reset_note]
    })
}

/// "New mail in your mailbox": a count, who wrote (the sending Kommunen) and a link, never
/// content.
///
/// # Errors
/// When a template fails to render.
pub fn new_mail(
    lang: Lang,
    count: usize,
    senders: &[String],
    link: &str,
) -> Result<Mail, MailError> {
    let t = mail_texts(lang);
    let mut before = vec![(t.new_mail_intro)(count)];
    if !senders.is_empty() {
        before.push(format!("{} {}", t.new_mail_from, senders.join(", ")));
    }
    Layout {
        texts: t,
        subject: t.new_mail_subject,
        before,
        action: t.new_mail_action,
        link,
        after: Vec::new(),
    }
    .render()
}

/// "A sign-in method was added / removed": so a holder learns when someone else did it.
///
/// # Errors
/// When a template fails to render.
pub fn factor_changed(lang: Lang, added: bool, what: &str, link: &str) -> Result<Mail, MailError> {
    let t = mail_texts(lang);
    let (subject, change) = if added {
        (t.factor_added_subject, t.factor_added)
    } else {
        (t.factor_removed_subject, t.factor_removed)
    };
    Layout {
        texts: t,
        subject,
        before: vec![format!("{change}: {what}."), t.factor_note.into()],
        action: t.factor_action,
        link,
        after: Vec::new(),
    }
    .render()
}

/// The link that confirms a new address, to that address.
///
/// # Errors
/// When a template fails to render.
pub fn email_change(lang: Lang, link: &str) -> Result<Mail, MailError> {
    one_link(lang, link, |t| {
        [
            t.email_change_subject,
            t.email_change_intro,
            t.email_change_action,
            t.email_change_note,
        ]
    })
}

/// "Your address was changed to …", to the old address.
///
/// # Errors
/// When a template fails to render.
pub fn email_changed(lang: Lang, new: &str, link: &str) -> Result<Mail, MailError> {
    let t = mail_texts(lang);
    Layout {
        texts: t,
        subject: t.email_changed_subject,
        before: vec![
            format!("{} {new}", t.email_changed_intro),
            t.email_changed_note.into(),
        ],
        action: t.password_changed_action,
        link,
        after: Vec::new(),
    }
    .render()
}

/// "Your password was changed" (while logged in, or with a reset link).
///
/// # Errors
/// When a template fails to render.
pub fn password_changed(lang: Lang, link: &str) -> Result<Mail, MailError> {
    let t = mail_texts(lang);
    Layout {
        texts: t,
        subject: t.password_changed_subject,
        before: vec![
            t.password_changed_intro.into(),
            t.password_changed_note.into(),
        ],
        action: t.password_changed_action,
        link,
        after: Vec::new(),
    }
    .render()
}

/// A barrier report for the operator (in German, the operator's language): the citizen's own
/// words, where they met the barrier, and where to answer.
///
/// # Errors
/// When a template fails to render.
pub fn barrier_report(
    message: &str,
    page: &str,
    reply_to: Option<&str>,
    lang: Lang,
    link: &str,
) -> Result<Mail, MailError> {
    let t = mail_texts(Lang::De);
    let page = if page.is_empty() { "-" } else { page };
    Layout {
        texts: t,
        subject: t.report_subject,
        before: vec![
            t.report_intro.into(),
            message.into(),
            format!("{}: {page}", t.report_page),
            format!(
                "{}: {}",
                t.report_reply_to,
                reply_to.unwrap_or(t.report_no_reply)
            ),
            format!("{}: {}", t.report_lang, mail_texts(lang).lang),
            t.report_note.into(),
        ],
        action: t.report_action,
        link,
        after: Vec::new(),
    }
    .render()
}

/// The acknowledgement to a citizen who reported a barrier: none of their words.
///
/// # Errors
/// When a template fails to render.
pub fn barrier_report_received(lang: Lang, link: &str) -> Result<Mail, MailError> {
    one_link(lang, link, |t| {
        [
            t.report_ack_subject,
            t.report_ack_intro,
            t.report_action,
            t.report_ack_note,
        ]
    })
}

/// Sends mail through SMTP or into the outbox folder.
#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Outbox {
        dir: PathBuf,
        from: Mailbox,
    },
}

impl Mailer {
    /// # Errors
    /// When the SMTP URL or the sender address is malformed, or the outbox cannot be created.
    pub fn new(transport: &MailTransport, from: &str) -> anyhow::Result<Self> {
        use anyhow::Context;
        let from: Mailbox = from
            .parse()
            .context("BUERGERKONTO_SMTP_FROM is not a mailbox")?;
        Ok(match transport {
            MailTransport::Smtp(url) => Mailer::Smtp {
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .context("BUERGERKONTO_SMTP_URL is malformed")?
                    .build(),
                from,
            },
            MailTransport::Outbox(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                Mailer::Outbox {
                    dir: dir.clone(),
                    from,
                }
            }
        })
    }

    /// Delivers a mail. The outbox variant writes `<time>-<uuid>.eml` atomically.
    ///
    /// # Errors
    /// When building or delivering fails.
    pub async fn send(&self, to: &EmailAddress, mail: Mail) -> Result<(), MailError> {
        let from = match self {
            Mailer::Smtp { from, .. } | Mailer::Outbox { from, .. } => from.clone(),
        };
        let to: Mailbox = to.as_str().parse()?;
        let msg = Message::builder()
            .from(from)
            .to(to)
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(MailError::Build)?;
        match self {
            Mailer::Smtp { transport, .. } => {
                transport.send(msg).await.map_err(MailError::Smtp)?;
            }
            Mailer::Outbox { dir, .. } => {
                let name = format!(
                    "{}-{}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"),
                    uuid::Uuid::new_v4()
                );
                let tmp = dir.join(format!(".{name}.tmp"));
                tokio::fs::write(&tmp, msg.formatted())
                    .await
                    .map_err(MailError::Outbox)?;
                tokio::fs::rename(&tmp, dir.join(name))
                    .await
                    .map_err(MailError::Outbox)?;
            }
        }
        Ok(())
    }
}

/// "Someone signed in from a new device", with when and which browser.
///
/// # Errors
/// When a template fails to render.
pub fn new_device(lang: Lang, when: &str, browser: &str, link: &str) -> Result<Mail, MailError> {
    let t = mail_texts(lang);
    Layout {
        texts: t,
        subject: t.new_device_subject,
        before: vec![
            format!("{} {when}, {browser}.", t.new_device_intro),
            t.new_device_note.into(),
        ],
        action: t.new_device_action,
        link,
        after: Vec::new(),
    }
    .render()
}

/// Why a deletion was announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletionNotice {
    /// The holder asked for it.
    Requested,
    /// The account was not used for the configured time.
    Inactive,
}

/// "Your account will be deleted on …; sign in to keep it".
///
/// # Errors
/// When a template fails to render.
pub fn deletion_due(
    lang: Lang,
    why: DeletionNotice,
    day: &str,
    link: &str,
) -> Result<Mail, MailError> {
    let t = mail_texts(lang);
    let (subject, intro, note) = match why {
        DeletionNotice::Requested => (t.deletion_subject, t.deletion_intro, t.deletion_note),
        DeletionNotice::Inactive => (t.inactive_subject, t.inactive_intro, t.inactive_note),
    };
    Layout {
        texts: t,
        subject,
        before: vec![format!("{intro} {day}."), note.into()],
        action: t.deletion_action,
        link,
        after: Vec::new(),
    }
    .render()
}

/// "A login cancelled the deletion".
///
/// # Errors
/// When a template fails to render.
pub fn deletion_cancelled(lang: Lang, link: &str) -> Result<Mail, MailError> {
    one_link(lang, link, |t| {
        [
            t.deletion_cancelled_subject,
            t.deletion_cancelled_intro,
            t.new_device_action,
            t.deletion_cancelled_note,
        ]
    })
}

/// "Your account was deleted", to the address it had.
///
/// # Errors
/// When a template fails to render.
pub fn account_deleted(lang: Lang, link: &str) -> Result<Mail, MailError> {
    one_link(lang, link, |t| {
        [
            t.deleted_subject,
            t.deleted_intro,
            t.deleted_action,
            t.deleted_note,
        ]
    })
}
