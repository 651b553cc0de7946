//! The civic frame: legal pages with a footer on every page, the operator's content rendered
//! safely, and the accessibility statement's feedback form (delivered, acknowledged, limited).

use crate::helpers::{Backend, browser_client, hidden, spawn_app, spawn_app_configured};

const PAGES: [(&str, &str); 6] = [
    ("/impressum", "Impressum"),
    ("/datenschutz", "Datenschutz"),
    ("/barrierefreiheit", "Barrierefreiheit"),
    ("/leichte-sprache", "Leichte Sprache"),
    ("/gebaerdensprache", "Gebärdensprache"),
    ("/hilfe", "Hilfe und Kontakt"),
];

async fn text(r: reqwest::Response) -> (u16, String) {
    (r.status().as_u16(), r.text().await.expect("body"))
}

#[tokio::test]
async fn every_page_has_the_legal_footer_and_each_legal_page_answers() {
    let app = spawn_app().await;
    for path in ["/login", "/register", "/password/forgot"] {
        let (s, body) = text(app.http.get(app.url(path)).send().await.expect("get")).await;
        assert_eq!(s, 200, "{path}");
        assert!(body.contains("<footer"), "{path}");
        for (p, _) in PAGES {
            assert!(body.contains(&format!("href=\"{p}\"")), "{path} links {p}");
        }
    }
    for (p, title) in PAGES {
        let (s, body) = text(app.http.get(app.url(p)).send().await.expect("get")).await;
        assert_eq!(s, 200, "{p}");
        assert!(body.contains(&format!("<h1>{title}</h1>")), "{p}: {body}");
        assert!(
            body.contains("Hinweis für den Betreiber"),
            "{p}: the template says so"
        );
        assert!(body.contains("<footer"), "{p}");
    }
    // English readers get the German text marked as German, and told so.
    let (s, body) = text(
        app.http
            .get(app.url("/impressum"))
            .header("accept-language", "en")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(s, 200);
    assert!(body.contains("<html lang=\"en\""), "{body}");
    assert!(
        body.contains("only available in German")
            && body.contains("<div class=\"legal\" lang=\"de\">")
    );
    let r = app.http.get(app.url("/kontakt")).send().await.expect("get");
    assert_eq!(
        (r.status().as_u16(), r.headers()["location"].to_str().ok()),
        (303, Some("/hilfe"))
    );
    // The registration form says what the address is for, with the privacy notice.
    let (_, body) = text(
        app.http
            .get(app.url("/register"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert!(body.contains("id=\"privacy-note\"") && body.contains("<a href=\"/datenschutz\">"));
}

#[tokio::test]
async fn the_operators_files_replace_the_templates_and_cannot_inject_markup() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("impressum.md"),
        "## Anbieter\n\nLandkreis Musterland, Amtsstraße 1\n\n<script>alert('x')</script>\n\n[Mehr](javascript:alert(1)) <img src=x onerror=alert(1)>",
    )
    .expect("write");
    std::fs::write(dir.path().join("impressum.en.md"), "District of Musterland").expect("write");
    let legal = dir.path().display().to_string();
    let app = spawn_app_configured(Backend::Default, move |raw| raw.legal_dir = legal).await;
    let (s, body) = text(
        app.http
            .get(app.url("/impressum"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        body.contains("<h2>Anbieter</h2>") && body.contains("Amtsstraße 1"),
        "{body}"
    );
    assert!(!body.contains("Hinweis für den Betreiber"));
    assert!(
        !body.contains("<script>alert") && body.contains("&lt;script&gt;"),
        "{body}"
    );
    assert!(
        !body.contains("javascript:") && !body.contains("<img src=x"),
        "{body}"
    );
    let (_, en) = text(
        app.http
            .get(app.url("/impressum"))
            .header("accept-language", "en")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert!(en.contains("District of Musterland") && !en.contains("only available in German"));
    // Pages without a file keep the template.
    let (_, hilfe) = text(app.http.get(app.url("/hilfe")).send().await.expect("get")).await;
    assert!(hilfe.contains("Hinweis für den Betreiber"));
}

/// The statement page's form token, in a browser that keeps its cookie.
async fn form_token(app: &crate::helpers::TestApp, browser: &reqwest::Client) -> String {
    let page = browser
        .get(app.url("/barrierefreiheit"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("page");
    hidden(&page, "csrf").expect("csrf")
}

#[tokio::test]
async fn a_barrier_report_reaches_the_operator_and_the_sender_gets_a_receipt_without_their_words() {
    let app = spawn_app().await;
    let browser = browser_client();
    let csrf = form_token(&app, &browser).await;
    // Without the form token: refused, nothing sent.
    let r = browser
        .post(app.url("/barrierefreiheit"))
        .form(&[("message", "x")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    // An empty report: the form again, the error tied to the field, "Fehler" in the title.
    let (s, body) = text(
        browser
            .post(app.url("/barrierefreiheit"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("message", "  "),
                ("email", "leser@example.org"),
            ])
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains("<title>Fehler: Barrierefreiheit"), "{body}");
    assert!(body.contains("aria-invalid=\"true\"") && body.contains("fb-error"));
    assert!(
        body.contains("value=\"leser@example.org\""),
        "the fields are kept"
    );
    // A malformed reply address is refused before anything is sent.
    let (s, _) = text(
        browser
            .post(app.url("/barrierefreiheit"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("message", "Kontrast"),
                ("email", "kein-at"),
            ])
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(s, 400);
    assert!(app.mails().is_empty());
    // The report: to the operator with the citizen's words; a receipt to the citizen.
    let r = browser
        .post(app.url("/barrierefreiheit"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("message", "Der Kontrast der Taste Weiter ist zu gering."),
            ("page", "/login"),
            ("email", "leser@example.org"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().ok(),
        Some("/barrierefreiheit?gesendet=2#fb-notice")
    );
    let (_, page) = text(
        browser
            .get(app.url("/barrierefreiheit?gesendet=2"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert!(page.contains("id=\"fb-notice\"") && page.contains("Bestätigung"));
    let mails = app.mails();
    assert_eq!(mails.len(), 2, "{mails:?}");
    let to_operator = mails
        .iter()
        .find(|m| m.contains("To: noreply@buergerkonto.invalid"))
        .expect("operator mail");
    assert!(to_operator.contains("Der Kontrast der Taste Weiter ist zu gering."));
    assert!(to_operator.contains("/login") && to_operator.contains("leser@example.org"));
    let receipt = mails
        .iter()
        .find(|m| m.contains("To: leser@example.org"))
        .expect("receipt");
    assert!(receipt.contains("Schlichtungsverfahren"));
    assert!(
        !receipt.contains("Kontrast der Taste"),
        "no words of the sender"
    );
}

#[tokio::test]
async fn barrier_reports_are_limited_per_address_even_all_at_once() {
    let app = spawn_app().await;
    let browser = browser_client();
    let csrf = form_token(&app, &browser).await;
    // 40 at once from one address: exactly the hourly limit gets through.
    let posts = (0..40).map(|i| {
        let browser = browser.clone();
        let url = app.url("/barrierefreiheit");
        let csrf = csrf.clone();
        async move {
            browser
                .post(url)
                .form(&[("csrf", csrf), ("message", format!("Meldung {i}"))])
                .send()
                .await
                .expect("post")
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(posts).await;
    let ok = statuses.iter().filter(|s| **s == 303).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((ok, limited), (5, 35), "{statuses:?}");
    assert_eq!(
        app.mails().len(),
        5,
        "one operator mail per accepted report, no receipts"
    );
}
