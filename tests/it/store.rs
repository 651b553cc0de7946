//! The store methods on SQLite, and on PostgreSQL when `BUERGERKONTO_TEST_DATABASE_URL` is set:
//! tenants, clients, accounts, consents, subjects, audit, credentials, identities and
//! proofings; every refresh-token method (with 40 concurrent rotations); every mailbox
//! method. Not here: passkey and process-catalogue rows, which only their HTTP tests
//! (`passkeys.rs`, `processes.rs`) drive, on SQLite.

use crate::helpers::{fresh_pg_database, test_pg_url};
use buergerkonto::domain::account::EmailAddress;
use buergerkonto::domain::client::{
    Client, ClientAuthMethod, GrantType, RedirectUri, SigningAlg, SubjectType,
};
use buergerkonto::domain::ids::{AccountId, ClientId, TenantSlug};
use buergerkonto::domain::level::{Amr, Loa};
use buergerkonto::domain::scope::Scopes;
use buergerkonto::store::refresh_tokens::RefreshRecord;
use buergerkonto::store::{Db, StoreError};
use serde_json::json;

async fn backends() -> Vec<(tempfile::TempDir, Db)> {
    let dir = tempfile::tempdir().expect("tmp");
    let sqlite = Db::connect(&format!("sqlite://{}", dir.path().join("s.db").display()))
        .await
        .expect("sqlite");
    let mut v = vec![(dir, sqlite)];
    if let Some(pg) = test_pg_url() {
        let url = fresh_pg_database(&pg).await;
        v.push((
            tempfile::tempdir().expect("tmp"),
            Db::connect(&url).await.expect("postgres"),
        ));
    }
    v
}

#[tokio::test]
async fn tenants_clients_accounts_consents_subjects_audit() {
    for (_dir, db) in backends().await {
        let kind = match db {
            Db::Pg(_) => "postgres",
            Db::Sqlite(..) => "sqlite",
        };
        // Tenants: unique slug.
        let slug = TenantSlug::parse("kreis-x").expect("slug");
        let t = db.tenants().insert(&slug, "Kreis X").await.expect("insert");
        assert!(
            matches!(
                db.tenants().insert(&slug, "again").await,
                Err(StoreError::Conflict { .. })
            ),
            "{kind}"
        );
        assert_eq!(
            db.tenants().by_slug("kreis-x").await.expect("by slug").id,
            t.id
        );
        assert_eq!(
            db.tenants().by_id(t.id).await.expect("by id").name,
            "Kreis X"
        );
        db.tenants()
            .set_links(t.id, Some("https://kreis-x.de/impressum"), None)
            .await
            .expect("links");
        let back = db.tenants().by_slug("kreis-x").await.expect("by slug");
        assert_eq!(
            back.impressum_url.as_deref(),
            Some("https://kreis-x.de/impressum")
        );
        assert_eq!(back.privacy_url, None);
        assert!(matches!(
            db.tenants().by_slug("none").await,
            Err(StoreError::NotFound)
        ));

        // Clients round-trip every field.
        let c = Client {
            id: ClientId("c1".into()),
            tenant_id: t.id,
            name: "Portal".into(),
            auth_method: ClientAuthMethod::PrivateKeyJwt,
            secret_hash: Some(vec![1, 2, 3]),
            previous_secret: None,
            jwks: Some(json!({"keys": []})),
            jwks_uri: Some("https://p.example/jwks".into()),
            backchannel_logout_uri: Some(RedirectUri::parse("https://p.example/bcl").expect("uri")),
            redirect_uris: vec![RedirectUri::parse("https://p.example/cb").expect("uri")],
            post_logout_redirect_uris: vec![
                RedirectUri::parse("https://p.example/bye").expect("uri"),
            ],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: Scopes::from_iter(["openid", "email"]),
            subject_type: SubjectType::Public,
            id_token_alg: SigningAlg::ES256,
            default_level: Some(Loa::Substantial),
        };
        db.clients().insert(&c).await.expect("insert client");
        let back = db.clients().by_id("c1").await.expect("client");
        assert_eq!(back.secret_hash, c.secret_hash);
        assert_eq!(back.redirect_uris, c.redirect_uris);
        assert_eq!(back.post_logout_redirect_uris, c.post_logout_redirect_uris);
        assert_eq!(back.grant_types, c.grant_types);
        assert_eq!(back.scopes, c.scopes);
        assert_eq!(back.default_level, Some(Loa::Substantial));
        assert_eq!(back.subject_type, SubjectType::Public);
        assert_eq!(back.id_token_alg, SigningAlg::ES256);
        assert_eq!(back.auth_method, ClientAuthMethod::PrivateKeyJwt);
        assert_eq!(back.jwks, c.jwks);
        assert_eq!(back.jwks_uri, c.jwks_uri);
        assert_eq!(back.backchannel_logout_uri, c.backchannel_logout_uri);
        assert!(
            db.clients().insert(&c).await.is_err(),
            "duplicate client id"
        );
        let orphan = Client {
            id: ClientId("c2".into()),
            tenant_id: buergerkonto::domain::ids::TenantId::new(),
            ..c.clone()
        };
        assert!(
            matches!(
                db.clients().insert(&orphan).await,
                Err(StoreError::Conflict { .. })
            ),
            "foreign key on tenant ({kind})"
        );

        // Accounts: unique e-mail enforced by the database.
        let email = EmailAddress::parse("a@example.org").expect("email");
        let id = db
            .accounts()
            .insert(&email, "$argon2id$hash", false, Loa::Low)
            .await
            .expect("insert account");
        assert!(
            db.accounts()
                .insert(&email, "other", true, Loa::High)
                .await
                .expect_err("dup")
                .is_conflict_on("email")
        );
        let found = db.accounts().by_email(&email).await.expect("by email");
        assert_eq!(found.account.id, id);
        assert_eq!(found.password_hash, "$argon2id$hash");
        assert!(!found.account.email_verified);
        db.accounts()
            .set_email_verified(id, true)
            .await
            .expect("verify");
        db.accounts()
            .set_password_hash(id, "new")
            .await
            .expect("pw");
        // A changed address is confirmed; another account's address is a conflict.
        let moved = EmailAddress::parse("b@example.org").expect("email");
        db.accounts()
            .set_email(id, &moved)
            .await
            .expect("set email");
        assert_eq!(db.accounts().by_id(id).await.expect("by id").email, moved);
        let other = db
            .accounts()
            .insert(
                &EmailAddress::parse("c@example.org").expect("email"),
                "h",
                false,
                Loa::Low,
            )
            .await
            .expect("other account");
        assert!(
            db.accounts()
                .set_email(other, &moved)
                .await
                .expect_err("taken")
                .is_conflict_on("email"),
            "{kind}"
        );
        db.accounts().set_email(id, &email).await.expect("back");
        let acc = db.accounts().by_id(id).await.expect("by id");
        assert!(acc.email_verified);
        assert_eq!(
            db.accounts()
                .by_email(&email)
                .await
                .expect("again")
                .password_hash,
            "new"
        );
        assert!(matches!(
            db.accounts()
                .set_email_verified(AccountId::new(), true)
                .await,
            Err(StoreError::NotFound)
        ));

        // Consents: upsert.
        assert!(db.consents().get(id, &c.id).await.expect("get").is_none());
        db.consents()
            .grant(id, &c.id, &Scopes::from_iter(["openid"]))
            .await
            .expect("grant");
        db.consents()
            .grant(id, &c.id, &Scopes::from_iter(["openid", "email"]))
            .await
            .expect("regrant");
        assert_eq!(
            db.consents().get(id, &c.id).await.expect("get"),
            Some(Scopes::from_iter(["openid", "email"]))
        );

        // Subjects: idempotent remember, resolve by sector.
        db.subjects()
            .remember("tenant:x", "sub1", id)
            .await
            .expect("remember");
        db.subjects()
            .remember("tenant:x", "sub1", id)
            .await
            .expect("remember twice");
        assert_eq!(
            db.subjects()
                .resolve("tenant:x", "sub1")
                .await
                .expect("resolve"),
            Some(id)
        );
        assert_eq!(
            db.subjects()
                .resolve("tenant:y", "sub1")
                .await
                .expect("resolve"),
            None
        );

        // Audit log.
        db.audit()
            .record("test.event", Some(id), Some(&c.id), json!({"k": 1}))
            .await
            .expect("record");
        db.audit()
            .record("test.other", Some(id), None, json!({}))
            .await
            .expect("record");
        let events = db.audit().for_account(id, 10).await.expect("events");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].kind, "test.other", "newest first");
        assert_eq!(events[1].detail.0["k"], 1);
        // Process catalogue: one entry per scope, replaced on upsert.
        use buergerkonto::domain::process::{Process, ProcessId, ProcessScope};
        let pid = ProcessId::parse("bauantrag").expect("id");
        let verbund = Process {
            id: pid.clone(),
            scope: ProcessScope::Verbund,
            name: "Bauantrag".into(),
            level: Loa::Substantial,
            upstream_required: false,
        };
        db.processes()
            .upsert(&verbund, "test")
            .await
            .expect("upsert");
        db.processes()
            .upsert(
                &Process {
                    level: Loa::High,
                    ..verbund.clone()
                },
                "test",
            )
            .await
            .expect("replace");
        let own = Process {
            scope: ProcessScope::Tenant(t.id),
            level: Loa::High,
            ..verbund.clone()
        };
        db.processes()
            .upsert(&own, "test")
            .await
            .expect("tenant entry");
        assert_eq!(
            db.processes()
                .get(&pid, ProcessScope::Verbund)
                .await
                .expect("get")
                .map(|p| p.level),
            Some(Loa::High)
        );
        assert_eq!(
            db.processes()
                .get(&pid, ProcessScope::Tenant(t.id))
                .await
                .expect("get")
                .map(|p| p.name),
            Some("Bauantrag".into())
        );
        assert!(
            db.processes()
                .get(
                    &ProcessId::parse("none").expect("id"),
                    ProcessScope::Verbund
                )
                .await
                .expect("get")
                .is_none()
        );
        // Second factors: each TOTP step once, each recovery code once.
        db.credentials()
            .set_totp(id, b"secret", 100, &["d1".into(), "d2".into()])
            .await
            .expect("totp");
        assert_eq!(
            db.credentials().totp(id).await.expect("get"),
            Some((b"secret".to_vec(), 100))
        );
        assert!(
            !db.credentials().use_step(id, 100).await.expect("step"),
            "a used step again"
        );
        assert!(db.credentials().use_step(id, 101).await.expect("step"));
        assert!(!db.credentials().use_step(id, 101).await.expect("step"));
        assert!(
            db.credentials()
                .use_recovery_code(id, "d1")
                .await
                .expect("code")
        );
        assert!(
            !db.credentials()
                .use_recovery_code(id, "d1")
                .await
                .expect("code"),
            "once"
        );
        assert!(
            !db.credentials()
                .use_recovery_code(id, "nope")
                .await
                .expect("code")
        );
        // Identity proofing raises the account's level.
        db.proofings()
            .record(
                id,
                Loa::Substantial,
                "in_person",
                Some("personalausweis"),
                "clerk",
                None,
            )
            .await
            .expect("proofing");
        assert_eq!(
            db.accounts().by_id(id).await.expect("account").proofing,
            Loa::Substantial
        );
        // Passkeys: a credential id belongs to one account; rename and remove only one's own.
        let pk = db
            .passkeys()
            .add(id, "cred-1", "Laptop", "{}")
            .await
            .expect("passkey");
        assert!(matches!(
            db.passkeys().add(id, "cred-1", "again", "{}").await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(
            db.passkeys()
                .rename(id, pk, "Telefon")
                .await
                .expect("rename")
        );
        assert!(
            !db.passkeys()
                .rename(AccountId::new(), pk, "fremd")
                .await
                .expect("rename"),
            "not another account's"
        );
        db.passkeys()
            .used("cred-1", "{\"c\":1}")
            .await
            .expect("used");
        let row = db
            .passkeys()
            .by_credential("cred-1")
            .await
            .expect("by credential")
            .expect("found");
        assert_eq!(
            (row.name.as_str(), row.passkey.as_str()),
            ("Telefon", "{\"c\":1}")
        );
        assert!(row.last_used_at.is_some());
        assert!(
            !db.passkeys()
                .remove(AccountId::new(), pk)
                .await
                .expect("remove")
        );
        assert!(db.passkeys().remove(id, pk).await.expect("remove"));
        assert!(db.passkeys().list(id).await.expect("list").is_empty());
        // Upstream links and verified claims with their source.
        let claims = vec![("given_name".to_owned(), "\"Erika\"".to_owned())];
        db.identities()
            .link(id, "land-id", "sub-1", Loa::Substantial, &claims)
            .await
            .expect("link");
        assert_eq!(
            db.identities()
                .linked_account("land-id", "sub-1")
                .await
                .expect("owner"),
            Some(id)
        );
        let got = db.identities().claims(id).await.expect("claims");
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].source.as_str(), got[0].level.as_str()),
            ("upstream:land-id", "substantial")
        );
        // A weaker source does not replace stronger data, nor lower the proofing level.
        db.identities()
            .set_claims(id, "clerk:Amt", Loa::High, &claims)
            .await
            .expect("clerk");
        let weak = vec![("given_name".to_owned(), "\"Erik\"".to_owned())];
        db.identities()
            .link(id, "land-id", "sub-1", Loa::Low, &weak)
            .await
            .expect("low link");
        let got = db.identities().claims(id).await.expect("claims");
        assert_eq!(
            (got[0].value.as_str(), got[0].level.as_str()),
            ("\"Erika\"", "high")
        );
        db.proofings()
            .record(id, Loa::High, "in_person", Some("eid"), "clerk", None)
            .await
            .expect("high");
        db.proofings()
            .record(id, Loa::Substantial, "upstream", None, "upstream:x", None)
            .await
            .expect("substantial");
        assert_eq!(
            db.accounts().by_id(id).await.expect("account").proofing,
            Loa::High,
            "never lowered"
        );
        db.identities()
            .link(id, "land-id", "sub-2", Loa::High, &[])
            .await
            .expect("relink replaces");
        assert_eq!(
            db.identities()
                .linked_account("land-id", "sub-1")
                .await
                .expect("owner"),
            None
        );
        db.ping().await.expect("ping");
    }
}

/// A tenant, a client of it and an account, for the token and mailbox tables.
async fn fixture(db: &Db, n: &str) -> (buergerkonto::domain::ids::TenantId, AccountId) {
    let t = db
        .tenants()
        .insert(&TenantSlug::parse(&format!("t-{n}")).expect("slug"), "T")
        .await
        .expect("tenant");
    let c = Client {
        id: ClientId(format!("c-{n}")),
        tenant_id: t.id,
        name: "Portal".into(),
        auth_method: ClientAuthMethod::ClientSecretBasic,
        secret_hash: Some(vec![1]),
        previous_secret: None,
        jwks: None,
        jwks_uri: None,
        backchannel_logout_uri: None,
        redirect_uris: vec![RedirectUri::parse("https://p.example/cb").expect("uri")],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: Scopes::from_iter(["openid"]),
        subject_type: SubjectType::Pairwise,
        id_token_alg: SigningAlg::ES256,
        default_level: None,
    };
    db.clients().insert(&c).await.expect("client");
    let a = db
        .accounts()
        .insert(
            &EmailAddress::parse(&format!("{n}@example.org")).expect("email"),
            "h",
            true,
            Loa::Low,
        )
        .await
        .expect("account");
    (t.id, a)
}

fn record(
    hash: &str,
    family: uuid::Uuid,
    client: &str,
    account: AccountId,
    family_expires: chrono::DateTime<chrono::Utc>,
) -> RefreshRecord {
    let now = chrono::Utc::now();
    RefreshRecord {
        token_hash: hash.into(),
        family_id: family,
        client_id: client.into(),
        account_id: account,
        sub: "sub".into(),
        scope: "openid".into(),
        auth_time: now.timestamp(),
        acr: Loa::Substantial,
        amr: vec![Amr::Pwd, Amr::Otp],
        level_source: Some("upstream:bundid".into()),
        sid: "sid".into(),
        created_at: now,
        expires_at: now + chrono::Duration::days(1),
        family_expires_at: family_expires,
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_once_detect_reuse_revoke_and_purge() {
    use buergerkonto::store::refresh_tokens::Presented;
    for (_dir, db) in backends().await {
        let (_, account) = fixture(&db, "rt").await;
        let rt = db.refresh_tokens();
        let later = chrono::Utc::now() + chrono::Duration::days(30);
        let family = uuid::Uuid::now_v7();
        rt.insert(&record("h0", family, "c-rt", account, later))
            .await
            .expect("insert");
        let back = rt.active("h0").await.expect("active").expect("found");
        assert_eq!(
            (back.acr, back.amr.clone()),
            (Loa::Substantial, vec![Amr::Pwd, Amr::Otp])
        );
        assert!(matches!(
            rt.present("h0", "c-rt", chrono::Utc::now())
                .await
                .expect("present"),
            Presented::Usable(_)
        ));
        assert!(
            matches!(
                rt.present("h0", "other", chrono::Utc::now())
                    .await
                    .expect("present"),
                Presented::Invalid
            ),
            "another client's token is invalid"
        );
        // The same token rotated 40 times at once: exactly one rotation wins (the SQLite
        // writer queue and PostgreSQL's row lock, through the same write_tx! body).
        let tries = (0..40).map(|i| {
            let db = db.clone();
            let next = record(&format!("h1-{i}"), family, "c-rt", account, later);
            async move {
                db.refresh_tokens()
                    .rotate("h0", "c-rt", &next, chrono::Utc::now())
                    .await
            }
        });
        let won = futures_util::future::join_all(tries)
            .await
            .into_iter()
            .map(|r| r.expect("rotate"))
            .filter(|w| *w)
            .count();
        assert_eq!(won, 1, "one rotation of one token");
        assert!(rt.active("h0").await.expect("active").is_none(), "used");
        assert!(matches!(
            rt.present("h0", "c-rt", chrono::Utc::now()).await.expect("present"),
            Presented::Used { family_id } if family_id == family
        ));
        // Reuse revokes the family for good; a token added to it later is refused.
        assert!(rt.revoke_family(family, later).await.expect("revoke") >= 1);
        rt.insert(&record("h-late", family, "c-rt", account, later))
            .await
            .expect("late insert");
        assert!(matches!(
            rt.present("h-late", "c-rt", chrono::Utc::now())
                .await
                .expect("present"),
            Presented::Invalid
        ));
        // Per client and per account.
        let f2 = uuid::Uuid::now_v7();
        rt.insert(&record("h2", f2, "c-rt", account, later))
            .await
            .expect("insert");
        // h2, and h-late (its family's grant was revoked, the token itself not yet).
        assert_eq!(rt.revoke_for(account, "c-rt").await.expect("revoke for"), 2);
        assert!(matches!(
            rt.present("h2", "c-rt", chrono::Utc::now())
                .await
                .expect("present"),
            Presented::Invalid
        ));
        let f3 = uuid::Uuid::now_v7();
        rt.insert(&record("h3", f3, "c-rt", account, later))
            .await
            .expect("insert");
        assert_eq!(rt.revoke_all_for(account).await.expect("revoke all"), 1);
        // Expiry is decided at the time given: a day past the idle expiry, h-fresh is invalid
        // and cannot be rotated.
        let f5 = uuid::Uuid::now_v7();
        rt.insert(&record("h-fresh", f5, "c-rt", account, later))
            .await
            .expect("insert");
        let day_after = chrono::Utc::now() + chrono::Duration::days(2);
        assert!(matches!(
            rt.present("h-fresh", "c-rt", day_after)
                .await
                .expect("present"),
            Presented::Invalid
        ));
        let next = record("h-next", f5, "c-rt", account, later);
        assert!(
            !rt.rotate("h-fresh", "c-rt", &next, day_after)
                .await
                .expect("rotate")
        );
        assert!(matches!(
            rt.present("h-fresh", "c-rt", chrono::Utc::now())
                .await
                .expect("present"),
            Presented::Usable(_)
        ));
        // Families past their absolute lifetime are purged.
        let f4 = uuid::Uuid::now_v7();
        let past = chrono::Utc::now() - chrono::Duration::seconds(1);
        rt.insert(&record("h4", f4, "c-rt", account, past))
            .await
            .expect("insert");
        assert!(rt.purge_expired(chrono::Utc::now()).await.expect("purge") >= 1);
        assert!(rt.active("h4").await.expect("active").is_none());
    }
}

/// [`backends`], and PostgreSQL once more over TLS when the server offers it: new messages
/// are stored in one statement over a plain connection and a statement each over TLS.
async fn mailbox_backends() -> Vec<(tempfile::TempDir, Db)> {
    let mut v = backends().await;
    if let Some(pg) = test_pg_url() {
        let mut url = url::Url::parse(&fresh_pg_database(&pg).await).expect("url");
        let plain = url
            .query_pairs()
            .any(|(k, v)| k == "sslmode" && v == "disable");
        let query: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "sslmode")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(query)
            .append_pair("sslmode", if plain { "require" } else { "disable" });
        match Db::connect(url.as_str()).await {
            Ok(db) => v.push((tempfile::tempdir().expect("tmp"), db)),
            Err(e) => eprintln!("PostgreSQL with {url}: {e} (not covered)"),
        }
    }
    v
}

#[tokio::test]
async fn mailbox_rows_states_replies_evidence_keys_and_purge() {
    use buergerkonto::domain::evidence::verify_chain;
    use buergerkonto::domain::mailbox::MessageState;
    use buergerkonto::store::mailbox::{NewAttachment, PendingMessage, Sealed};
    for (_dir, db) in mailbox_backends().await {
        let (tenant, account) = fixture(&db, "mb").await;
        let mb = db.mailbox();
        let id = uuid::Uuid::now_v7();
        let attachment = NewAttachment {
            id: uuid::Uuid::now_v7(),
            content_type: "application/pdf".into(),
            size: 3,
            sha512: "00".repeat(64),
            filename: b"sealed-name".to_vec(),
            content: b"sealed-content".to_vec(),
        };
        let pending = |id: uuid::Uuid,
                       key: Option<&str>,
                       expires: Option<chrono::DateTime<chrono::Utc>>,
                       files: Vec<NewAttachment>| PendingMessage {
            id,
            sender_client_id: "c-mb".into(),
            sender_tenant_id: tenant.0,
            account,
            recipient_sub: "sub-at-tenant".into(),
            reference: Some(b"sealed-ref".to_vec()),
            process: None,
            required_level: Loa::Substantial,
            reply_allowed: true,
            expires_at: expires,
            key_id: "k1".into(),
            wrapped_key: b"wrapped".to_vec(),
            subject: b"sealed-subject".to_vec(),
            body: b"sealed-body".to_vec(),
            idempotency_key: key.map(str::to_owned),
            request_hash: key.map(|_| "hash-1".to_owned()),
            attachments: files,
        };
        mb.insert_messages(&[pending(id, Some("idem-1"), None, vec![attachment.clone()])])
            .await
            .expect("insert");
        // A batch with a reused key stores nothing of the batch.
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        assert!(
            mb.insert_messages(&[
                pending(a, None, None, vec![]),
                pending(b, Some("idem-1"), None, vec![])
            ])
            .await
            .expect_err("same idempotency key")
            .is_conflict_on("idempotency")
        );
        assert!(
            mb.message(a).await.expect("m").is_none(),
            "the whole batch rolled back"
        );
        assert_eq!(
            mb.by_idempotency("c-mb", "idem-1").await.expect("idem"),
            Some((id, Some("hash-1".into())))
        );
        let row = mb.message(id).await.expect("message").expect("found");
        assert_eq!(
            (row.state, row.required_level),
            (MessageState::Delivered, Loa::Substantial)
        );
        assert_eq!(row.reference_sealed.as_deref(), Some(&b"sealed-ref"[..]));
        let inbox = mb
            .inbox(account, Some(tenant.0), false, 10, 0)
            .await
            .expect("inbox");
        assert_eq!(inbox.len(), 1);
        assert!(
            mb.inbox(account, Some(uuid::Uuid::now_v7()), false, 10, 0)
                .await
                .expect("other tenant")
                .is_empty()
        );
        let files = mb.attachments(id, None).await.expect("attachments");
        assert_eq!(files.len(), 1);
        assert_eq!(
            mb.attachment(id, attachment.id)
                .await
                .expect("one")
                .map(|a| a.content),
            Some(Some(b"sealed-content".to_vec()))
        );

        // Notification: due, claimed once, marked once.
        let now = chrono::Utc::now();
        let lease = now - chrono::Duration::minutes(5);
        assert_eq!(
            mb.due_notifications(now, lease).await.expect("due"),
            vec![account]
        );
        assert_eq!(
            mb.claim_notifications(account, now, lease)
                .await
                .expect("claim")
                .into_iter()
                .map(|(m, _)| m)
                .collect::<Vec<_>>(),
            vec![id]
        );
        assert!(
            mb.claim_notifications(account, now, lease)
                .await
                .expect("again")
                .is_empty(),
            "leased"
        );
        assert!(mb.mark_notified(id).await.expect("notified"));
        assert!(!mb.mark_notified(id).await.expect("once"));

        // Opened once, replied, archived; every change in the hash chain.
        assert!(mb.open_once(id, "page").await.expect("open"));
        assert!(!mb.open_once(id, "page").await.expect("once"));
        let reply = uuid::Uuid::now_v7();
        let cursor = mb
            .insert_reply(
                reply,
                id,
                "c-mb",
                "k1",
                b"wrapped-r",
                b"sealed-reply",
                &[],
                1,
            )
            .await
            .expect("reply")
            .expect("a place");
        // The message has the one reply it may have: another finds no place.
        assert_eq!(
            mb.insert_reply(uuid::Uuid::now_v7(), id, "c-mb", "k1", b"w", b"s", &[], 1)
                .await
                .expect("store"),
            None
        );
        assert_eq!(mb.reply_count(id).await.expect("count"), 1);
        assert_eq!(mb.replies_to(id).await.expect("to").len(), 1);
        let after = mb
            .replies_after("c-mb", cursor - 1, 10)
            .await
            .expect("after");
        assert_eq!(after.iter().map(|r| r.id).collect::<Vec<_>>(), vec![reply]);
        assert_eq!(after[0].message_level, Loa::Substantial);
        assert!(
            mb.replies_after("c-mb", cursor, 10)
                .await
                .expect("none after")
                .is_empty()
        );
        assert!(mb.reply(id, reply).await.expect("reply").is_some());
        assert_eq!(
            mb.message(id).await.expect("m").expect("m").state,
            MessageState::Replied
        );
        assert!(mb.archive(id, true).await.expect("archive"));
        assert_eq!(
            mb.inbox(account, None, true, 10, 0)
                .await
                .expect("archive")
                .len(),
            1
        );
        let events = mb.events(id).await.expect("events");
        assert_eq!(
            events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["sent", "delivered", "notified", "opened", "replied"]
        );
        assert!(verify_chain(&id.to_string(), &events).is_ok());

        // Master-key rotation: keys not under the current one, re-wrapped once.
        let waiting = mb
            .wrapped_keys(Sealed::Message, "k2")
            .await
            .expect("wrapped");
        assert_eq!(waiting.iter().map(|w| w.id).collect::<Vec<_>>(), vec![id]);
        assert_eq!(waiting[0].level.as_deref(), Some("substantial"));
        assert!(
            mb.rewrap(Sealed::Message, id, "k1", "k2", b"rewrapped")
                .await
                .expect("rewrap")
        );
        assert!(
            !mb.rewrap(Sealed::Message, id, "k1", "k2", b"again")
                .await
                .expect("once")
        );
        assert!(
            mb.wrapped_keys(Sealed::Message, "k2")
                .await
                .expect("none")
                .is_empty()
        );
        assert_eq!(
            mb.wrapped_keys(Sealed::Reply, "k2")
                .await
                .expect("replies")
                .len(),
            1
        );

        // Nothing to seal (references are sealed on insert); sealing is a no-op then.
        assert!(mb.unsealed_references().await.expect("unsealed").is_empty());
        mb.seal_reference(id, Some(b"x")).await.expect("no-op");
        assert_eq!(
            mb.message(id)
                .await
                .expect("m")
                .expect("m")
                .reference_sealed
                .as_deref(),
            Some(&b"sealed-ref"[..])
        );

        // Deleted, then purged after the retention: content gone, evidence kept.
        assert!(mb.delete(id).await.expect("delete"));
        assert!(!mb.delete(id).await.expect("once"));
        assert_eq!(
            mb.message(id).await.expect("m").expect("m").state,
            MessageState::Deleted
        );
        assert_eq!(mb.purge_due(chrono::Utc::now()).await.expect("purge"), 1);
        let purged = mb.message(id).await.expect("m").expect("m");
        assert!(
            purged.purged_at.is_some() && purged.body.is_none() && purged.wrapped_key.is_none()
        );
        assert!(mb.attachments(id, None).await.expect("files").is_empty());
        let events = mb.events(id).await.expect("events");
        assert_eq!(events.last().map(|e| e.kind.as_str()), Some("purged"));
        assert!(verify_chain(&id.to_string(), &events).is_ok());

        // Expiry: a message past its date becomes expired, once.
        let e = uuid::Uuid::now_v7();
        mb.insert_messages(&[pending(
            e,
            None,
            Some(chrono::Utc::now() + chrono::Duration::milliseconds(10)),
            vec![],
        )])
        .await
        .expect("insert expiring");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(mb.expire_due(chrono::Utc::now()).await.expect("expire"), 1);
        assert_eq!(mb.expire_due(chrono::Utc::now()).await.expect("once"), 0);
        assert_eq!(
            mb.message(e).await.expect("m").expect("m").state,
            MessageState::Expired
        );
        // A batch: each message with its own chain and its own files.
        let (c, d) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let second = NewAttachment {
            id: uuid::Uuid::now_v7(),
            ..attachment.clone()
        };
        let third = NewAttachment {
            id: uuid::Uuid::now_v7(),
            content: b"third".to_vec(),
            ..attachment.clone()
        };
        mb.insert_messages(&[
            pending(c, None, None, vec![second.clone()]),
            pending(
                d,
                Some("idem-2"),
                None,
                vec![attachment.clone(), third.clone()],
            ),
        ])
        .await
        .expect("batch");
        let mut files = Vec::new();
        for m in [c, d] {
            let rows = mb.attachments(m, None).await.expect("files");
            files.push(
                rows.into_iter()
                    .map(|f| (f.id, f.position, f.content))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(
            files,
            [
                vec![(second.id, 0, Some(attachment.content.clone()))],
                vec![
                    (attachment.id, 0, Some(attachment.content.clone())),
                    (third.id, 1, Some(b"third".to_vec()))
                ]
            ]
        );
        for x in [c, d] {
            let ev = mb.events(x).await.expect("events");
            assert_eq!(
                ev.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
                ["sent", "delivered"]
            );
            assert!(verify_chain(&x.to_string(), &ev).is_ok());
        }
    }
}

#[tokio::test]
async fn account_lifecycle_deletion_is_won_by_a_cancelling_login_and_leaves_a_tombstone() {
    use buergerkonto::store::accounts::DeletionReason;
    use buergerkonto::store::devices::Seen;
    for (_dir, db) in backends().await {
        let kind = match db {
            Db::Pg(_) => "postgres",
            Db::Sqlite(..) => "sqlite",
        };
        let now = chrono::Utc::now();
        let email = EmailAddress::parse("leben@example.org").expect("email");
        let id = db
            .accounts()
            .insert(&email, "hash", true, Loa::Low)
            .await
            .expect("insert");
        // Devices: the first is the first, a second is new, a repeat is known.
        let d = db.devices();
        let forget = now - chrono::Duration::days(400);
        assert_eq!(
            d.seen(id, "a", now, forget).await.expect("seen"),
            Seen::First,
            "{kind}"
        );
        assert_eq!(
            d.seen(id, "b", now, forget).await.expect("seen"),
            Seen::New,
            "{kind}"
        );
        assert_eq!(
            d.seen(id, "a", now, forget).await.expect("seen"),
            Seen::Known,
            "{kind}"
        );
        // Browsers beyond the newest 50 are forgotten: "a", now the oldest, is new again.
        for n in 0..buergerkonto::store::devices::KEPT {
            let later = now + chrono::Duration::seconds(i64::try_from(n).unwrap_or(0) + 1);
            d.seen(id, &format!("x{n}"), later, forget)
                .await
                .expect("seen");
        }
        let last = now + chrono::Duration::hours(1);
        assert_eq!(
            d.seen(id, "a", last, forget).await.expect("seen"),
            Seen::New,
            "{kind}"
        );
        // Not due: erasing does nothing.
        assert!(
            !db.accounts().erase(id, now).await.expect("erase"),
            "{kind}"
        );
        // Due, then a login cancels it before the round: the round's erase does nothing.
        let due = now + chrono::Duration::days(14);
        db.accounts()
            .schedule_deletion(id, due, DeletionReason::Requested)
            .await
            .expect("schedule");
        assert_eq!(
            db.accounts()
                .deletion(id)
                .await
                .expect("deletion")
                .map(|(_, r)| r),
            Some(DeletionReason::Requested)
        );
        let later = due + chrono::Duration::days(1);
        assert_eq!(
            db.accounts().due_deletions(later).await.expect("due"),
            vec![id]
        );
        assert_eq!(
            db.accounts().logged_in(id, now).await.expect("login"),
            Some(DeletionReason::Requested),
            "{kind}"
        );
        assert!(
            !db.accounts().erase(id, later).await.expect("erase"),
            "{kind}: the login won"
        );
        assert!(db.accounts().by_email(&email).await.is_ok());
        // Due again, and nobody signs in: one of 10 concurrent erasures does it.
        db.accounts()
            .schedule_deletion(id, due, DeletionReason::Inactive)
            .await
            .expect("schedule");
        let tries = (0..10).map(|_| {
            let db = db.clone();
            async move { db.accounts().erase(id, later).await.expect("erase") }
        });
        let done = futures_util::future::join_all(tries).await;
        assert_eq!(done.iter().filter(|d| **d).count(), 1, "{kind}");
        // The tombstone: no address, no sign-in, no writes, the address free again.
        assert!(matches!(
            db.accounts().by_email(&email).await,
            Err(StoreError::NotFound)
        ));
        let stone = db.accounts().by_id(id).await.expect("tombstone");
        assert!(stone.email.as_str().ends_with("@deleted.invalid"), "{kind}");
        assert!(matches!(
            db.accounts().set_email(id, &email).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            db.accounts().set_password_hash(id, "x").await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            db.accounts().logged_in(id, now).await,
            Err(StoreError::NotFound)
        ));
        assert!(
            db.accounts()
                .insert(&email, "hash", false, Loa::Low)
                .await
                .is_ok(),
            "{kind}: the address is free"
        );
        // The inactivity rule announces an unused account once.
        let old = EmailAddress::parse("alt-und-still@example.org").expect("email");
        let quiet = db
            .accounts()
            .insert(&old, "hash", true, Loa::Low)
            .await
            .expect("insert");
        let future = now + chrono::Duration::days(800);
        let first = db
            .accounts()
            .announce_inactive(future - chrono::Duration::days(700), future)
            .await
            .expect("announce");
        assert!(first.contains(&quiet), "{kind}");
        let again = db
            .accounts()
            .announce_inactive(future - chrono::Duration::days(700), future)
            .await
            .expect("announce");
        assert!(again.is_empty(), "{kind}: once");
    }
}
