//! Data rights: "Meine Daten" shows and exports everything held about the account (DSGVO
//! Art. 15 and 20), and nothing secret.

use crate::helpers::{browser_client, spawn_app};
use crate::mailbox::{EMAIL, PW, authority, citizen_at, letter, send};
use serde_json::Value;

#[tokio::test]
async fn the_export_names_every_kind_of_data_and_no_secret() {
    let app = spawn_app().await;
    app.add_user(EMAIL, PW).await;
    // A clerk confirmed the identity with a name; a portal got consent; a message arrived.
    let (ok, _, err) = app.cli(
        &[
            "user",
            "verify-identity",
            "--email",
            EMAIL,
            "--level",
            "substantial",
            "--document-type",
            "personalausweis",
            "--clerk",
            "Bürgerbüro Musterstadt",
            "--given-name",
            "Erika",
        ],
        None,
    );
    assert!(ok, "{err}");
    let portal = app
        .add_client(
            &app.tenant,
            &["--scope", "openid", "--scope", "mailbox.read"],
        )
        .await;
    let (sub, _) = citizen_at(&app, &portal).await;
    let (token, _) = authority(&app, &app.tenant).await;
    assert_eq!(send(&app, &token, &letter(&sub), None).await.0, 201);

    let r = app
        .browser
        .get(app.url("/konto/daten.json"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment")
    );
    let raw = r.text().await.expect("body");
    let e: Value = serde_json::from_str(&raw).expect("json");
    assert_eq!(e["format"], "buergerkonto-export/1");
    for key in [
        "account",
        "verified_data",
        "linked_identities",
        "sign_in_methods",
        "sessions",
        "consents",
        "mailbox",
        "audit",
    ] {
        assert!(e.get(key).is_some(), "the export names {key}");
    }
    assert_eq!(e["account"]["email"], EMAIL);
    assert_eq!(e["account"]["identity_level"], "substantial");
    let given = e["verified_data"]
        .as_array()
        .expect("list")
        .iter()
        .find(|v| v["claim"] == "given_name")
        .expect("the confirmed given name");
    assert_eq!(given["value"], "Erika");
    assert!(
        given["confirmed_by"]
            .as_str()
            .expect("who")
            .contains("Bürgerbüro Musterstadt")
    );
    assert_eq!(e["sign_in_methods"]["password"], true);
    assert!(!e["sessions"].as_array().expect("sessions").is_empty());
    assert!(
        e["consents"]
            .as_array()
            .expect("consents")
            .iter()
            .any(|c| c["client_id"] == portal.id.as_str()),
        "{}",
        e["consents"]
    );
    let messages = e["mailbox"].as_array().expect("mailbox");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["sender"], "Gemeinde A");
    assert_eq!(e["mailbox_complete"], true);
    assert!(!e["audit"].as_array().expect("audit").is_empty());
    // Nothing that would let someone sign in or read sealed content.
    for secret in ["argon2", PW, "wrapped", "credential_id", "passkey\":"] {
        assert!(!raw.contains(secret), "the export holds {secret}");
    }

    // The same as a page, linked from the account page.
    let konto = app
        .browser
        .get(app.url("/konto"))
        .send()
        .await
        .expect("get");
    let konto = konto.text().await.expect("page");
    assert!(konto.contains("href=\"/konto/daten\""));
    assert!(
        konto.contains("(1 neu)"),
        "the account page counts the unread message"
    );
    let page = app
        .browser
        .get(app.url("/konto/daten"))
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("page");
    assert!(
        page.contains("<h1>Meine Daten</h1>") && page.contains(EMAIL) && page.contains("Erika")
    );
    assert!(page.contains("href=\"/konto/daten.json\""));

    // Without a session: no data.
    let stranger = browser_client();
    for path in ["/konto/daten", "/konto/daten.json"] {
        let r = stranger.get(app.url(path)).send().await.expect("get");
        assert_ne!(r.status(), 200, "{path}");
        assert!(!r.text().await.expect("body").contains(EMAIL), "{path}");
    }
}
