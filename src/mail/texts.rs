//! Typed de/en catalogue for mails, like the pages' (`web::i18n`): a missing translation is a
//! compile error, and the templates hold no language switch. Every mail is a greeting, the
//! paragraphs before its link, the link, and the paragraphs after it.

use crate::domain::lang::Lang;

/// All mail texts of one language.
pub struct MailTexts {
    pub lang: &'static str,
    pub greeting: &'static str,

    pub verify_subject: &'static str,
    pub verify_intro: &'static str,
    pub verify_action: &'static str,
    pub verify_note: &'static str,

    pub already_subject: &'static str,
    pub already_intro: &'static str,
    pub already_action: &'static str,
    pub already_note: &'static str,

    pub reset_subject: &'static str,
    pub reset_intro: &'static str,
    pub reset_action: &'static str,
    pub reset_note: &'static str,

    pub new_mail_subject: &'static str,
    /// "n new messages have arrived …", by count.
    pub new_mail_intro: fn(usize) -> String,
    pub new_mail_action: &'static str,

    pub factor_added_subject: &'static str,
    pub factor_removed_subject: &'static str,
    /// What happened, followed by `: <method>.`
    pub factor_added: &'static str,
    pub factor_removed: &'static str,
    pub factor_note: &'static str,
    pub factor_action: &'static str,

    pub email_change_subject: &'static str,
    pub email_change_intro: &'static str,
    pub email_change_action: &'static str,
    pub email_change_note: &'static str,
    pub email_changed_subject: &'static str,
    /// Followed by the new address.
    pub email_changed_intro: &'static str,
    pub email_changed_note: &'static str,
    pub password_changed_subject: &'static str,
    pub password_changed_intro: &'static str,
    pub password_changed_action: &'static str,
    pub password_changed_note: &'static str,
    pub new_device_subject: &'static str,
    pub new_device_intro: &'static str,
    pub new_device_note: &'static str,
    pub new_device_action: &'static str,
    pub deletion_subject: &'static str,
    pub deletion_intro: &'static str,
    pub deletion_note: &'static str,
    pub deletion_action: &'static str,
    pub inactive_subject: &'static str,
    pub inactive_intro: &'static str,
    pub inactive_note: &'static str,
    pub deletion_cancelled_subject: &'static str,
    pub deletion_cancelled_intro: &'static str,
    pub deletion_cancelled_note: &'static str,
    pub deleted_subject: &'static str,
    pub deleted_intro: &'static str,
    pub deleted_note: &'static str,
    pub deleted_action: &'static str,

    /// To the operator (always German: the operator's language).
    pub report_subject: &'static str,
    pub report_intro: &'static str,
    pub report_page: &'static str,
    pub report_reply_to: &'static str,
    pub report_no_reply: &'static str,
    pub report_lang: &'static str,
    pub report_note: &'static str,
    /// To the citizen who reported.
    pub report_ack_subject: &'static str,
    pub report_ack_intro: &'static str,
    pub report_action: &'static str,
    pub report_ack_note: &'static str,
    pub verify_via: &'static str,
    pub new_mail_from: &'static str,
}

fn new_mail_de(n: usize) -> String {
    let what = if n == 1 {
        "ist eine neue Nachricht".to_owned()
    } else {
        format!("sind {n} neue Nachrichten")
    };
    format!(
        "in Ihrem Bürgerkonto-Postfach {what} eingegangen. Aus Datenschutzgründen steht der Inhalt nicht in dieser E-Mail."
    )
}

fn new_mail_en(n: usize) -> String {
    let what = if n == 1 {
        "a new message has".to_owned()
    } else {
        format!("{n} new messages have")
    };
    format!(
        "{what} arrived in your Bürgerkonto mailbox. To protect your privacy, the content is not in this e-mail."
    )
}

pub static DE: MailTexts = MailTexts {
    lang: "de",
    greeting: "Guten Tag,",
    verify_subject: "Bitte bestätigen Sie Ihre E-Mail-Adresse",
    verify_intro: "bitte bestätigen Sie Ihre E-Mail-Adresse für Ihr Bürgerkonto:",
    verify_action: "E-Mail-Adresse bestätigen",
    verify_note: "Der Link ist 24 Stunden gültig und kann nur einmal verwendet werden. Wenn Sie kein Bürgerkonto angelegt haben, können Sie diese Nachricht ignorieren.",
    already_subject: "Sie haben bereits ein Bürgerkonto",
    already_intro: "für diese E-Mail-Adresse wurde gerade ein neues Bürgerkonto angefordert. Es gibt aber bereits ein Bürgerkonto mit dieser Adresse. Melden Sie sich einfach an:",
    already_action: "Zur Anmeldung",
    already_note: "Wenn Sie das nicht waren, können Sie diese Nachricht ignorieren; an Ihrem Konto wurde nichts geändert.",
    reset_subject: "Neues Passwort für Ihr Bürgerkonto",
    reset_intro: "für Ihr Bürgerkonto wurde ein neues Passwort angefordert. Mit diesem Link legen Sie es fest:",
    reset_action: "Neues Passwort festlegen",
    reset_note: "Der Link ist eine Stunde gültig und kann nur einmal verwendet werden. Wenn Sie das nicht angefordert haben, können Sie diese Nachricht ignorieren; Ihr Passwort bleibt unverändert.",
    new_mail_subject: "Neue Nachricht in Ihrem Bürgerkonto-Postfach",
    new_mail_intro: new_mail_de,
    new_mail_action: "Zum Postfach",
    factor_added_subject: "Neues Anmeldeverfahren in Ihrem Bürgerkonto",
    factor_removed_subject: "Anmeldeverfahren aus Ihrem Bürgerkonto entfernt",
    factor_added: "Ihrem Bürgerkonto wurde ein neues Anmeldeverfahren hinzugefügt",
    factor_removed: "aus Ihrem Bürgerkonto wurde ein Anmeldeverfahren entfernt",
    factor_note: "Wenn Sie das selbst waren, ist nichts weiter zu tun. Wenn nicht, ändern Sie bitte sofort Ihr Passwort und prüfen Sie Ihre Anmeldeverfahren:",
    factor_action: "Anmeldeverfahren prüfen",
    email_change_subject: "Bitte bestätigen Sie Ihre neue E-Mail-Adresse",
    email_change_intro: "für Ihr Bürgerkonto soll künftig diese E-Mail-Adresse gelten. Bitte bestätigen Sie das mit diesem Link:",
    email_change_action: "Neue E-Mail-Adresse bestätigen",
    email_change_note: "Der Link ist 24 Stunden gültig und kann nur einmal verwendet werden. Bis dahin gilt Ihre bisherige Adresse. Wenn Sie das nicht veranlasst haben, können Sie diese Nachricht ignorieren.",
    email_changed_subject: "Die E-Mail-Adresse Ihres Bürgerkontos wurde geändert",
    email_changed_intro: "die E-Mail-Adresse Ihres Bürgerkontos wurde geändert. Neue Adresse:",
    email_changed_note: "Wenn Sie das nicht waren, setzen Sie sofort Ihr Passwort zurück und wenden Sie sich an den Betreiber (Hilfe und Kontakt im Bürgerkonto).",
    password_changed_subject: "Ihr Passwort für das Bürgerkonto wurde geändert",
    password_changed_intro: "das Passwort Ihres Bürgerkontos wurde gerade geändert. Alle anderen Anmeldungen wurden beendet; Portale, die Sie dauerhaft angemeldet hielten, fragen beim nächsten Mal wieder nach.",
    password_changed_action: "Passwort zurücksetzen",
    password_changed_note: "Wenn Sie das selbst waren, ist nichts weiter zu tun. Wenn nicht, setzen Sie Ihr Passwort sofort mit diesem Link zurück und prüfen Sie Ihre Anmeldeverfahren.",
    new_device_subject: "Neue Anmeldung bei Ihrem Bürgerkonto",
    new_device_intro: "Ihr Bürgerkonto wurde von einem Gerät oder Browser aus angemeldet, mit dem Sie sich bisher nicht angemeldet hatten:",
    new_device_note: "Wenn Sie das selbst waren, ist nichts weiter zu tun. Wenn nicht, ändern Sie sofort Ihr Passwort, beenden Sie die fremde Sitzung auf Ihrer Kontoseite und richten Sie einen zweiten Faktor ein.",
    new_device_action: "Zur Kontoseite",
    deletion_subject: "Ihr Bürgerkonto wird gelöscht",
    deletion_intro: "Sie haben die Löschung Ihres Bürgerkontos beantragt. Es wird gelöscht am:",
    deletion_note: "Bis dahin können Sie es sich anders überlegen: Melden Sie sich einfach an, dann bleibt Ihr Konto bestehen. Wenn Sie die Löschung nicht beantragt haben, melden Sie sich an und ändern Sie Ihr Passwort.",
    deletion_action: "Anmelden und Konto behalten",
    inactive_subject: "Ihr Bürgerkonto wird wegen Nichtnutzung gelöscht",
    inactive_intro: "Sie haben Ihr Bürgerkonto lange nicht genutzt. Nach den Regeln des Betreibers wird es deshalb gelöscht am:",
    inactive_note: "Wenn Sie es behalten möchten, melden Sie sich vorher einmal an. Sonst ist nichts zu tun.",
    deletion_cancelled_subject: "Die Löschung Ihres Bürgerkontos wurde abgebrochen",
    deletion_cancelled_intro: "Sie haben sich angemeldet, deshalb wird Ihr Bürgerkonto nicht gelöscht. Es bleibt mit allen Daten bestehen.",
    deletion_cancelled_note: "Wenn Sie das Konto doch löschen möchten, beantragen Sie die Löschung auf Ihrer Kontoseite erneut.",
    deleted_subject: "Ihr Bürgerkonto wurde gelöscht",
    deleted_intro: "Ihr Bürgerkonto ist gelöscht: Ihre Anmeldedaten, bestätigten Angaben, Einwilligungen und die Inhalte Ihres Postfachs sind entfernt, und diese Adresse ist frei.",
    deleted_note: "Behörden behalten ihre Nachweise über zugestellte Nachrichten (wann bereitgestellt, wann abgerufen), und das Sicherheitsprotokoll behält seine Einträge für die gesetzlichen Fristen, ohne Ihre Adresse. Sie können jederzeit ein neues Konto anlegen.",
    deleted_action: "Neues Konto anlegen",
    report_subject: "Rückmeldung zur Barrierefreiheit des Bürgerkontos",
    report_intro: "über das Formular der Erklärung zur Barrierefreiheit kam diese Rückmeldung:",
    report_page: "Seite oder Stelle",
    report_reply_to: "Antwort erbeten an",
    report_no_reply: "(keine Adresse angegeben)",
    report_lang: "Sprache der Oberfläche",
    report_note: "Die Absenderin oder der Absender hat eine Eingangsbestätigung erhalten, wenn eine Adresse angegeben ist. Bitte antworten Sie innerhalb der Frist, die die Erklärung nennt.",
    report_ack_subject: "Ihre Rückmeldung zur Barrierefreiheit ist angekommen",
    report_ack_intro: "vielen Dank: Ihre Rückmeldung zur Barrierefreiheit des Bürgerkontos ist bei uns angekommen. Wir antworten Ihnen innerhalb der Frist, die in der Erklärung zur Barrierefreiheit steht.",
    report_action: "Erklärung zur Barrierefreiheit",
    report_ack_note: "Wenn Sie keine zufriedenstellende Antwort erhalten, können Sie kostenlos ein Schlichtungsverfahren beantragen. Wie das geht, steht in der Erklärung.",
    verify_via: "Sie haben sich angemeldet bei:",
    new_mail_from: "Absender:",
};

pub static EN: MailTexts = MailTexts {
    lang: "en",
    greeting: "Hello,",
    verify_subject: "Please confirm your e-mail address",
    verify_intro: "please confirm the e-mail address of your Bürgerkonto (citizen account):",
    verify_action: "Confirm e-mail address",
    verify_note: "The link is valid for 24 hours and can be used once. If you did not create an account, you can ignore this message.",
    already_subject: "You already have a Bürgerkonto",
    already_intro: "someone just asked to create a new Bürgerkonto for this e-mail address, but an account with this address already exists. Simply log in:",
    already_action: "Log in",
    already_note: "If this was not you, you can ignore this message; nothing was changed in your account.",
    reset_subject: "A new password for your Bürgerkonto",
    reset_intro: "a new password was requested for your Bürgerkonto. Use this link to set it:",
    reset_action: "Set a new password",
    reset_note: "The link is valid for one hour and can be used once. If you did not ask for this, you can ignore this message; your password stays as it is.",
    new_mail_subject: "New message in your Bürgerkonto mailbox",
    new_mail_intro: new_mail_en,
    new_mail_action: "Open the mailbox",
    factor_added_subject: "New sign-in method in your Bürgerkonto",
    factor_removed_subject: "Sign-in method removed from your Bürgerkonto",
    factor_added: "a new sign-in method was added to your Bürgerkonto",
    factor_removed: "a sign-in method was removed from your Bürgerkonto",
    factor_note: "If that was you, there is nothing else to do. If not, please change your password at once and check your sign-in methods:",
    factor_action: "Check sign-in methods",
    email_change_subject: "Please confirm your new e-mail address",
    email_change_intro: "this e-mail address is to be used for your Bürgerkonto from now on. Please confirm with this link:",
    email_change_action: "Confirm the new e-mail address",
    email_change_note: "The link is valid for 24 hours and can be used once. Until then your previous address stays in use. If you did not ask for this, you can ignore this message.",
    email_changed_subject: "The e-mail address of your Bürgerkonto was changed",
    email_changed_intro: "the e-mail address of your Bürgerkonto was changed. New address:",
    email_changed_note: "If that was not you, reset your password at once and contact the operator (help and contact in the Bürgerkonto).",
    password_changed_subject: "Your Bürgerkonto password was changed",
    password_changed_intro: "the password of your Bürgerkonto was just changed. All other sign-ins have ended; portals that kept you signed in will ask again next time.",
    password_changed_action: "Reset the password",
    password_changed_note: "If that was you, there is nothing else to do. If not, reset your password at once with this link and check your sign-in methods.",
    new_device_subject: "New login to your Bürgerkonto",
    new_device_intro: "Someone signed in to your Bürgerkonto from a device or browser that had not been used before:",
    new_device_note: "If that was you, there is nothing else to do. If not, change your password at once, end the unknown session on your account page and set up a second factor.",
    new_device_action: "Go to your account",
    deletion_subject: "Your Bürgerkonto will be deleted",
    deletion_intro: "You asked for your Bürgerkonto to be deleted. It will be deleted on:",
    deletion_note: "Until then you can change your mind: just sign in and your account stays. If you did not ask for this, sign in and change your password.",
    deletion_action: "Sign in and keep the account",
    inactive_subject: "Your Bürgerkonto will be deleted because it is not used",
    inactive_intro: "You have not used your Bürgerkonto for a long time. Under the operator's rules it will therefore be deleted on:",
    inactive_note: "If you want to keep it, sign in once before then. Otherwise there is nothing to do.",
    deletion_cancelled_subject: "The deletion of your Bürgerkonto was cancelled",
    deletion_cancelled_intro: "You signed in, so your Bürgerkonto will not be deleted. It stays with all its data.",
    deletion_cancelled_note: "If you still want it deleted, ask again on your account page.",
    deleted_subject: "Your Bürgerkonto was deleted",
    deleted_intro: "Your Bürgerkonto is deleted: your sign-in data, confirmed data, consents and the contents of your mailbox are gone, and this address is free again.",
    deleted_note: "Authorities keep their evidence of delivered messages (when made available, when opened), and the security log keeps its entries for the legal periods, without your address. You can create a new account at any time.",
    deleted_action: "Create a new account",
    report_subject: "Accessibility feedback on the Bürgerkonto",
    report_intro: "this feedback came through the form of the accessibility statement:",
    report_page: "Page or place",
    report_reply_to: "Reply to",
    report_no_reply: "(no address given)",
    report_lang: "Interface language",
    report_note: "The sender was sent an acknowledgement if they gave an address. Please reply within the time the statement names.",
    report_ack_subject: "Your accessibility feedback has arrived",
    report_ack_intro: "thank you: your feedback on the accessibility of the Bürgerkonto has reached us. We will answer within the time stated in the accessibility statement.",
    report_action: "Accessibility statement",
    report_ack_note: "If you do not receive a satisfactory answer, you can apply for a conciliation procedure free of charge. The statement explains how.",
    verify_via: "You signed up at:",
    new_mail_from: "From:",
};

#[must_use]
pub fn mail_texts(lang: Lang) -> &'static MailTexts {
    match lang {
        Lang::De => &DE,
        Lang::En => &EN,
    }
}
