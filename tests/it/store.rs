//! Every store method on SQLite, and on PostgreSQL when `BUERGERKONTO_TEST_DATABASE_URL` is set.

use crate::helpers::{fresh_pg_database, test_pg_url};
use buergerkonto::domain::account::EmailAddress;
use buergerkonto::domain::client::{
    Client, ClientAuthMethod, GrantType, RedirectUri, SigningAlg, SubjectType,
};
use buergerkonto::domain::ids::{AccountId, ClientId, TenantSlug};
use buergerkonto::domain::level::Loa;
use buergerkonto::domain::scope::Scopes;
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
        };
        db.processes().upsert(&verbund).await.expect("upsert");
        db.processes()
            .upsert(&Process {
                level: Loa::High,
                ..verbund.clone()
            })
            .await
            .expect("replace");
        let own = Process {
            scope: ProcessScope::Tenant(t.id),
            level: Loa::High,
            ..verbund.clone()
        };
        db.processes().upsert(&own).await.expect("tenant entry");
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
            .record(id, Loa::High, "in_person", Some("eid"), "clerk")
            .await
            .expect("high");
        db.proofings()
            .record(id, Loa::Substantial, "upstream", None, "upstream:x")
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
