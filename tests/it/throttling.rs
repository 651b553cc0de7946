//! Attempt limits hold when the attempts arrive at once: every check of a secret (password,
//! e-mail confirmation, second factor) is counted before it runs, so parallel guesses cannot
//! all pass a limit that each of them read before any of them had counted.

use crate::helpers::{AppOptions, TestApp, hidden, spawn_app, spawn_app_with};
use futures_util::future::join_all;

const PW: &str = "ein langes Passwort";

/// Sends login posts at once from one browser; their statuses.
async fn parallel_logins(app: &TestApp, emails: &[String], password: &str) -> Vec<u16> {
    let csrf = app.csrf_of("/login").await;
    let forms = emails
        .iter()
        .map(|email| {
            pairs(&[
                ("csrf", &csrf),
                ("req", ""),
                ("email", email),
                ("password", password),
            ])
        })
        .collect();
    parallel_posts(app, "/login", forms).await
}

/// Posts the forms at once from one browser; their statuses.
async fn parallel_posts(app: &TestApp, path: &str, forms: Vec<Vec<(String, String)>>) -> Vec<u16> {
    let posts = forms.into_iter().map(|form| {
        let (browser, url) = (app.browser.clone(), app.url(path));
        tokio::spawn(async move {
            browser
                .post(url)
                .form(&form)
                .send()
                .await
                .expect("post")
                .status()
                .as_u16()
        })
    });
    join_all(posts)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_are_checked_at_most_up_to_the_limits() {
    let app = spawn_app().await;
    app.add_user("ziel@example.org", PW).await;
    // 40 wrong passwords for one address at once: the account limit is 10.
    let one = vec!["ziel@example.org".to_owned(); 40];
    let s = parallel_logins(&app, &one, "falsches Passwort").await;
    assert!(
        count(&s, 401) <= 10,
        "at most 10 of 40 parallel guesses were checked, not {}: {s:?}",
        count(&s, 401)
    );
    assert_eq!(count(&s, 401) + count(&s, 429), 40, "{s:?}");
    // 45 more from the same address for other accounts: the address limit is 50 in all.
    let checked_before = count(&s, 401);
    let many: Vec<String> = (0..45).map(|i| format!("n{i}@example.org")).collect();
    let s = parallel_logins(&app, &many, "falsches Passwort").await;
    assert!(
        checked_before + count(&s, 401) <= 50,
        "at most 50 failures per address: {} + {}",
        checked_before,
        count(&s, 401)
    );
    assert!(count(&s, 429) > 0, "{s:?}");
    // The right password is refused while the limit holds (even for another account from
    // this address).
    assert_eq!(app.login("", "ziel@example.org", PW).await.status(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_right_password_is_not_counted_as_a_failure() {
    let app = spawn_app_with(AppOptions {
        tweak: |c| {
            c.login_max_failures_per_ip = 5;
            c.login_max_failures_per_account = 3;
        },
        ..AppOptions::default()
    })
    .await;
    app.add_user("gut@example.org", PW).await;
    // Twenty right passwords in a row from one address: none of them is a failure.
    for _ in 0..20 {
        let r = app.login("", "gut@example.org", PW).await;
        assert_eq!(r.status(), 303);
    }
    // Two failures, then the right password, then two failures again: still allowed,
    // because the right password ended the run.
    for _ in 0..2 {
        assert_eq!(
            app.login("", "gut@example.org", "falsch!!").await.status(),
            401
        );
    }
    assert_eq!(app.login("", "gut@example.org", PW).await.status(), 303);
    for _ in 0..2 {
        assert_eq!(
            app.login("", "gut@example.org", "falsch!!").await.status(),
            401
        );
    }
    assert_eq!(app.login("", "gut@example.org", PW).await.status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_second_factor_codes_are_checked_at_most_up_to_the_limit() {
    let app = spawn_app().await;
    app.add_user("otp@example.org", PW).await;
    assert_eq!(app.login("", "otp@example.org", PW).await.status(), 303);
    crate::levels::enrol_totp(&app).await;
    let page = app.get("/login/otp").await.text().await.expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    // Six digits that are not a code of this minute (nor a recovery code).
    let forms = (0..40)
        .map(|i| {
            pairs(&[
                ("csrf", &csrf),
                ("req", ""),
                ("code", &format!("{:06}", 999_000 + i)),
            ])
        })
        .collect();
    let s = parallel_posts(&app, "/login/otp", forms).await;
    assert!(
        count(&s, 401) <= 10,
        "at most 10 of 40 parallel codes were checked, not {}: {s:?}",
        count(&s, 401)
    );
    assert_eq!(count(&s, 401) + count(&s, 429), 40, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_on_the_confirmation_page_are_limited() {
    let app = spawn_app().await;
    let r = app.register("neu@example.org", PW).await;
    assert_eq!(r.status(), 200);
    let link = app
        .mailed_link("neu@example.org", "/verify-email")
        .expect("link");
    let page = app.get(&link).await.text().await.expect("page");
    let token = hidden(&page, "token").expect("token");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let form = pairs(&[
        ("csrf", &csrf),
        ("token", &token),
        ("password", "nicht das Passwort"),
    ]);
    let s = parallel_posts(&app, "/verify-email", vec![form; 40]).await;
    assert!(
        count(&s, 401) <= 10,
        "at most 10 of 40 parallel passwords were checked, not {}: {s:?}",
        count(&s, 401)
    );
    assert_eq!(count(&s, 401) + count(&s, 429), 40, "{s:?}");
}

#[tokio::test]
async fn password_reset_requests_are_limited_per_client_address() {
    let app = spawn_app_with(AppOptions {
        tweak: |c| c.login_max_failures_per_ip = 5,
        ..AppOptions::default()
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let csrf = app.csrf_of("/password/forgot").await;
        let r = app
            .post_form(
                "/password/forgot",
                &[("csrf", &csrf), ("email", &format!("x{i}@example.org"))],
            )
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 429, 429, 429]);
}
