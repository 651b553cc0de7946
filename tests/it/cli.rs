//! The commands, run as the real binary, and key rotation with overlap.

use crate::helpers::spawn_app;
use buergerkonto::domain::client::SigningAlg;
use buergerkonto::keyring::Keyring;
use serde_json::json;

#[tokio::test]
async fn commands_print_json_and_refuse_bad_input() {
    let app = spawn_app().await;
    let (ok, _, err) = app.cli(
        &["tenant", "add", "--slug", "gemeinde-a", "--name", "Doppelt"],
        None,
    );
    assert!(!ok && err.contains("exists"), "{err}");
    let (ok, _, _) = app.cli(
        &["tenant", "add", "--slug", "Bad Slug", "--name", "X"],
        None,
    );
    assert!(!ok);
    // The list names every tenant with its links, by slug.
    let (ok, _, err) = app.cli(
        &["tenant", "add", "--slug", "amt-b", "--name", "Amt B"],
        None,
    );
    assert!(ok, "{err}");
    let (ok, _, err) = app.cli(
        &[
            "tenant",
            "links",
            "--slug",
            "amt-b",
            "--impressum-url",
            "https://amt-b.example/impressum",
            "--privacy-url",
            "",
        ],
        None,
    );
    assert!(ok, "{err}");
    let (ok, list, err) = app.cli(&["tenant", "list"], None);
    assert!(ok, "{err}");
    let slugs: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["slug"].as_str().expect("slug"))
        .collect();
    assert_eq!(slugs, ["amt-b", "gemeinde-a"]);
    assert_eq!(list[0]["name"], "Amt B");
    assert_eq!(list[0]["impressum_url"], "https://amt-b.example/impressum");
    assert_eq!(list[0]["privacy_url"], serde_json::Value::Null);
    assert!(list[1]["id"].is_string() && list[1]["created_at"].is_string());
    let (ok, json, err) = app.cli(
        &[
            "client",
            "add",
            "--tenant",
            "gemeinde-a",
            "--name",
            "Fachverfahren",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(
        json["client_id"].is_string()
            && json["client_secret"]
                .as_str()
                .is_some_and(|s| s.len() >= 43)
    );
    let (ok, _, err) = app.cli(
        &[
            "client",
            "add",
            "--tenant",
            "gemeinde-a",
            "--name",
            "P",
            "--redirect-uri",
            "http://evil.example/cb",
        ],
        None,
    );
    assert!(!ok && err.contains("https"), "{err}");
    let (ok, _, _) = app.cli(
        &[
            "client",
            "add",
            "--tenant",
            "nope",
            "--name",
            "P",
            "--redirect-uri",
            "https://p.example/cb",
        ],
        None,
    );
    assert!(!ok);
    let (ok, _, _) = app.cli(
        &[
            "client",
            "add",
            "--tenant",
            "gemeinde-a",
            "--name",
            "P",
            "--grant-type",
            "authorization_code",
        ],
        None,
    );
    assert!(!ok, "authorization_code needs a redirect URI");
    let (ok, _, _) = app.cli(
        &[
            "user",
            "add",
            "--email",
            "kurz@example.org",
            "--password-stdin",
        ],
        Some("kurz"),
    );
    assert!(!ok, "password too short");
    let (ok, json, _) = app.cli(
        &[
            "user",
            "add",
            "--email",
            "cli@example.org",
            "--password-stdin",
        ],
        Some("ein langes Passwort\n"),
    );
    assert!(ok && json["id"].is_string());
    let (ok, _, err) = app.cli(
        &[
            "user",
            "add",
            "--email",
            "CLI@example.org",
            "--password-stdin",
        ],
        Some("ein langes Passwort"),
    );
    assert!(!ok && err.contains("taken"), "{err}");
    // The trailing newline of stdin is not part of the password.
    assert_eq!(
        app.login("", "cli@example.org", "ein langes Passwort")
            .await
            .status(),
        303
    );
    let (ok, json, _) = app.cli(&["keys", "rotate", "--alg", "ES256"], None);
    assert!(
        ok && json["alg"] == "ES256" && json["kid"].is_string() && json["activates_at"].is_string()
    );
    let (ok, _, _) = app.cli(&["keys", "rotate", "--alg", "HS256"], None);
    assert!(!ok, "symmetric algorithms are refused");
    let (ok, json, _) = app.cli(&["migrate"], None);
    assert!(ok && json == json!({"migrated": true}));
}

#[tokio::test]
async fn rotated_keys_keep_verifying_and_private_keys_are_never_served() {
    let app = spawn_app().await;
    let jwks: serde_json::Value = app
        .http
        .get(app.url("/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2, "RS256 and ES256");
    for k in keys {
        assert!(k["kid"].is_string() && k["alg"].is_string());
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none(), "private member {private} served");
        }
    }

    let dir = tempfile::tempdir().expect("tmp");
    let ring = Keyring::load_or_init(dir.path()).expect("keys");
    let old_kid = ring.current_kid(SigningAlg::RS256).expect("kid");
    let token = ring
        .sign(
            SigningAlg::RS256,
            "JWT",
            &json!({"iss": "x", "exp": 4_000_000_000u64}),
        )
        .expect("sign");
    // Default rotation: the new key is published first and signs only after the delay.
    let (later_kid, _) = Keyring::rotate(
        dir.path(),
        SigningAlg::RS256,
        buergerkonto::keyring::DEFAULT_ACTIVATION_DELAY,
    )
    .expect("rotate");
    assert!(
        ring.reload_if_changed().expect("reload"),
        "the running keyring notices the rotation"
    );
    assert_eq!(
        ring.current_kid(SigningAlg::RS256).as_deref(),
        Some(old_kid.as_str()),
        "the old key still signs"
    );
    assert!(
        ring.jwks()["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["kid"] == later_kid.as_str()),
        "the new key is published"
    );
    // An immediate rotation: the newest key signs at once; the older ones still verify.
    let (new_kid, _) =
        Keyring::rotate(dir.path(), SigningAlg::RS256, chrono::Duration::zero()).expect("rotate");
    assert_ne!(old_kid, new_kid);
    ring.reload_if_changed().expect("reload");
    assert_eq!(
        ring.current_kid(SigningAlg::RS256).as_deref(),
        Some(new_kid.as_str()),
        "the new key signs"
    );
    let claims: serde_json::Value = ring
        .verify(&token, |v| v.set_required_spec_claims(&["exp"]))
        .expect("old token still verifies");
    assert_eq!(claims["iss"], "x");
    let kids: Vec<String> = ring.jwks()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        kids.contains(&old_kid)
            && kids.contains(&new_kid)
            && kids.contains(&later_kid)
            && kids.len() == 4
    );
    // A second start loads the same keys instead of making new ones.
    let again = Keyring::load_or_init(dir.path()).expect("reload");
    assert_eq!(again.current_kid(SigningAlg::RS256), Some(new_kid));
    assert_eq!(again.pairwise_secret(), ring.pairwise_secret());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("pairwise.key"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key files are private");
    }
}
