//! Outgoing mail: SMTP through lettre, or `.eml` files in an outbox folder when no SMTP URL is
//! configured (development, small installations, tests). Templates are askama `.txt` + `.html`
//! pairs in German and English.

use crate::config::MailTransport;
use crate::domain::account::EmailAddress;
use crate::domain::lang::Lang;
use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("building the message: {0}")]
    Build(String),
    #[error("delivering the message: {0}")]
    Deliver(String),
    #[error("rendering the message: {0}")]
    Render(#[from] askama::Error),
}

/// A rendered mail.
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Template)]
#[template(path = "mail/verify.txt")]
struct VerifyTxt<'a> {
    de: bool,
    link: &'a str,
}
#[derive(Template)]
#[template(path = "mail/verify.html")]
struct VerifyHtml<'a> {
    de: bool,
    link: &'a str,
}
#[derive(Template)]
#[template(path = "mail/already_registered.txt")]
struct AlreadyTxt<'a> {
    de: bool,
    link: &'a str,
}
#[derive(Template)]
#[template(path = "mail/already_registered.html")]
struct AlreadyHtml<'a> {
    de: bool,
    link: &'a str,
}

/// The e-mail verification mail.
///
/// # Errors
/// When a template fails to render.
pub fn verification(lang: Lang, link: &str) -> Result<Mail, MailError> {
    let de = lang == Lang::De;
    Ok(Mail {
        subject: if de {
            "Bitte bestätigen Sie Ihre E-Mail-Adresse"
        } else {
            "Please confirm your e-mail address"
        }
        .into(),
        text: VerifyTxt { de, link }.render()?,
        html: VerifyHtml { de, link }.render()?,
    })
}

/// Sent instead of a verification mail when someone registers an address that has an account,
/// so the registration page never reveals whether an address is registered.
///
/// # Errors
/// When a template fails to render.
pub fn already_registered(lang: Lang, link: &str) -> Result<Mail, MailError> {
    let de = lang == Lang::De;
    Ok(Mail {
        subject: if de {
            "Sie haben bereits ein Bürgerkonto"
        } else {
            "You already have a Bürgerkonto"
        }
        .into(),
        text: AlreadyTxt { de, link }.render()?,
        html: AlreadyHtml { de, link }.render()?,
    })
}

#[derive(Template)]
#[template(path = "mail/reset.txt")]
struct ResetTxt<'a> {
    de: bool,
    link: &'a str,
}
#[derive(Template)]
#[template(path = "mail/reset.html")]
struct ResetHtml<'a> {
    de: bool,
    link: &'a str,
}

/// The password reset mail.
///
/// # Errors
/// When a template fails to render.
pub fn password_reset(lang: Lang, link: &str) -> Result<Mail, MailError> {
    let de = lang == Lang::De;
    Ok(Mail {
        subject: if de {
            "Neues Passwort für Ihr Bürgerkonto"
        } else {
            "A new password for your Bürgerkonto"
        }
        .into(),
        text: ResetTxt { de, link }.render()?,
        html: ResetHtml { de, link }.render()?,
    })
}

#[derive(Template)]
#[template(path = "mail/new_mail.txt")]
struct NewMailTxt<'a> {
    de: bool,
    count: usize,
    link: &'a str,
}
#[derive(Template)]
#[template(path = "mail/new_mail.html")]
struct NewMailHtml<'a> {
    de: bool,
    count: usize,
    link: &'a str,
}

/// "New mail in your mailbox": a count and a link, never content.
///
/// # Errors
/// When a template fails to render.
pub fn new_mail(lang: Lang, count: usize, link: &str) -> Result<Mail, MailError> {
    let de = lang == Lang::De;
    Ok(Mail {
        subject: if de {
            "Neue Nachricht in Ihrem Bürgerkonto-Postfach"
        } else {
            "New message in your Bürgerkonto mailbox"
        }
        .into(),
        text: NewMailTxt { de, count, link }.render()?,
        html: NewMailHtml { de, count, link }.render()?,
    })
}

#[derive(Template)]
#[template(path = "mail/factor.txt")]
struct FactorTxt<'a> {
    de: bool,
    added: bool,
    what: &'a str,
    link: &'a str,
}
#[derive(Template)]
#[template(path = "mail/factor.html")]
struct FactorHtml<'a> {
    de: bool,
    added: bool,
    what: &'a str,
    link: &'a str,
}

/// "A sign-in method was added / removed": so a holder learns when someone else did it.
///
/// # Errors
/// When a template fails to render.
pub fn factor_changed(lang: Lang, added: bool, what: &str, link: &str) -> Result<Mail, MailError> {
    let de = lang == Lang::De;
    Ok(Mail {
        subject: match (de, added) {
            (true, true) => "Neues Anmeldeverfahren in Ihrem Bürgerkonto",
            (true, false) => "Anmeldeverfahren aus Ihrem Bürgerkonto entfernt",
            (false, true) => "New sign-in method in your Bürgerkonto",
            (false, false) => "Sign-in method removed from your Bürgerkonto",
        }
        .into(),
        text: FactorTxt {
            de,
            added,
            what,
            link,
        }
        .render()?,
        html: FactorHtml {
            de,
            added,
            what,
            link,
        }
        .render()?,
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
        let to: Mailbox = to
            .as_str()
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Build(e.to_string()))?;
        let msg = Message::builder()
            .from(from)
            .to(to)
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|e| MailError::Build(e.to_string()))?;
        match self {
            Mailer::Smtp { transport, .. } => {
                transport
                    .send(msg)
                    .await
                    .map_err(|e| MailError::Deliver(e.to_string()))?;
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
                    .map_err(|e| MailError::Deliver(e.to_string()))?;
                tokio::fs::rename(&tmp, dir.join(name))
                    .await
                    .map_err(|e| MailError::Deliver(e.to_string()))?;
            }
        }
        Ok(())
    }
}
