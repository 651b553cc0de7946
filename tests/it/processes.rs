//! The process catalogue: one level per process for the Verbund, raised (never lowered) by a
//! tenant; portals name a process at the authorization endpoint.

use crate::helpers::{CHALLENGE, TestApp, TestClient, location, query_param, spawn_app};
use crate::oidc_flow::urlencode;
use serde_json::{Value, json};

const PW: &str = "ein langes Passwort";

fn authorize(c: &TestClient, process: &str) -> String {
    format!(
        "/authorize?client_id={}&redirect_uri={}&response_type=code&scope=openid&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256&process={process}",
        c.id,
        urlencode(&c.redirect_uri)
    )
}

pub(crate) async fn m2m(app: &TestApp, scope: &str) -> String {
    let c = app.add_service_client(&app.tenant, &["--scope", scope]);
    app.service_token(&c, None).await
}

async fn put(app: &TestApp, at: Option<&str>, id: &str, body: &Value) -> (u16, Value) {
    let mut req = app
        .http
        .put(app.url(&format!("/api/v1/processes/{id}")))
        .json(body);
    if let Some(t) = at {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("put");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_verbund_sets_levels_and_tenants_may_only_raise_them() {
    let app = spawn_app().await;
    app.add_tenant("gemeinde-b", "Gemeinde B").await;
    let (ok, out, err) = set_process(&app, "bauantrag", "Bauantrag", "high", None);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        json!({"id": "bauantrag", "name": "Bauantrag", "level": "high", "tenant": null, "upstream_required": false})
    );
    let (ok, _, err) = set_process(&app, "bauantrag", "Bauantrag", "low", Some("gemeinde-a"));
    assert!(
        !ok && err.contains("not lower"),
        "a tenant cannot lower the Verbund's level: {err}"
    );
    let (ok, _, err) = set_process(
        &app,
        "hundesteuer",
        "Hundesteuer",
        "high",
        Some("gemeinde-a"),
    );
    assert!(!ok && err.contains("no process"), "{err}");
    assert!(
        set_process(
            &app,
            "meldebescheinigung",
            "Meldebescheinigung",
            "low",
            None
        )
        .0
    );
    assert!(
        set_process(
            &app,
            "meldebescheinigung",
            "Meldebescheinigung",
            "substantial",
            Some("gemeinde-a")
        )
        .0
    );

    // Portals read the level that applies to them.
    let (s, v) = app_get(&app, "/api/v1/processes/meldebescheinigung").await;
    assert_eq!(
        (s, v["level"].as_str(), v["acr"].as_str()),
        (200, Some("low"), Some("http://eidas.europa.eu/LoA/low"))
    );
    let (_, v) = app_get(
        &app,
        "/api/v1/processes/meldebescheinigung?tenant=gemeinde-a",
    )
    .await;
    assert_eq!(v["level"], "substantial");
    let (_, v) = app_get(
        &app,
        "/api/v1/processes/meldebescheinigung?tenant=gemeinde-b",
    )
    .await;
    assert_eq!(v["level"], "low");
    // A tenant may add the need for an upstream (BundID) for its portals; the Verbund's
    // entry keeps its own.
    let (ok, out, err) = app.cli(
        &[
            "process",
            "set",
            "--id",
            "meldebescheinigung",
            "--name",
            "Meldebescheinigung",
            "--level",
            "substantial",
            "--tenant",
            "gemeinde-a",
            "--upstream-required",
        ],
        None,
    );
    assert!(ok && out["upstream_required"] == true, "{err}");
    let (_, v) = app_get(
        &app,
        "/api/v1/processes/meldebescheinigung?tenant=gemeinde-a",
    )
    .await;
    assert_eq!(v["upstream_required"], true);
    let (_, v) = app_get(&app, "/api/v1/processes/meldebescheinigung").await;
    assert_eq!(v["upstream_required"], false);
    let (s, v) = app_get(&app, "/api/v1/processes/unbekannt").await;
    assert_eq!((s, v["status"].as_i64()), (404, Some(404)));
    assert_eq!(
        app_get(&app, "/api/v1/processes/x?tenant=nope").await.0,
        404
    );
    assert_eq!(
        app_get(&app, &format!("/api/v1/processes/{}", "a".repeat(100)))
            .await
            .0,
        404
    );
}

/// `buergerkonto process set ...`: (success, JSON out, stderr).
fn set_process(
    app: &TestApp,
    id: &str,
    name: &str,
    level: &str,
    tenant: Option<&str>,
) -> (bool, Value, String) {
    let mut args = vec![
        "process", "set", "--id", id, "--name", name, "--level", level,
    ];
    if let Some(t) = tenant {
        args.extend(["--tenant", t]);
    }
    app.cli(&args, None)
}

async fn app_get(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.http.get(app.url(path)).send().await.expect("get");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn malformed_process_ids_get_problem_json() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/api/v1/processes/%FF%FE"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let admin = m2m(&app, "catalogue.admin").await;
    let (s, v) = put(
        &app,
        Some(&admin),
        "%FF",
        &json!({"name": "X", "level": "low"}),
    )
    .await;
    assert_eq!((s, v["status"].as_i64()), (400, Some(400)));
}

#[tokio::test]
async fn the_admin_api_needs_the_right_scope() {
    let app = spawn_app().await;
    let admin = m2m(&app, "catalogue.admin").await;
    let tenant_admin = m2m(&app, "catalogue.tenant").await;
    let other = m2m(&app, "api.read").await;
    let entry = json!({"name": "Gewerbeanmeldung", "level": "substantial"});
    assert_eq!(put(&app, None, "gewerbe", &entry).await.0, 401);
    assert_eq!(put(&app, Some("garbage"), "gewerbe", &entry).await.0, 401);
    assert_eq!(put(&app, Some(&other), "gewerbe", &entry).await.0, 403);
    assert_eq!(
        put(&app, Some(&tenant_admin), "gewerbe", &entry).await.0,
        404,
        "tenants raise only existing processes"
    );
    let (s, v) = put(&app, Some(&admin), "gewerbe", &entry).await;
    assert_eq!((s, v["level"].as_str()), (200, Some("substantial")));
    let (s, v) = put(
        &app,
        Some(&tenant_admin),
        "gewerbe",
        &json!({"name": "Gewerbeanmeldung", "level": "low"}),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = put(
        &app,
        Some(&tenant_admin),
        "gewerbe",
        &json!({"name": "Gewerbeanmeldung", "level": "high"}),
    )
    .await;
    assert_eq!(
        (s, v["level"].as_str(), v["tenant"].as_str()),
        (200, Some("high"), Some("gemeinde-a"))
    );
    // The Verbund's own level is unchanged by the tenant.
    assert_eq!(
        app_get(&app, "/api/v1/processes/gewerbe").await.1["level"],
        "substantial"
    );
    // Malformed bodies and levels are 400 problem JSON.
    let r = app
        .http
        .put(app.url("/api/v1/processes/gewerbe"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert_eq!(
        put(
            &app,
            Some(&admin),
            "gewerbe",
            &json!({"name": "X", "level": "medium"})
        )
        .await
        .0,
        400
    );
    assert_eq!(put(&app, Some(&admin), "bad id", &entry).await.0, 400);
}

#[tokio::test]
async fn a_named_process_demands_its_level_at_login() {
    let app = spawn_app().await;
    let c = app.add_client(&app.tenant, &[]).await;
    app.add_user("p@example.org", PW).await;
    assert!(set_process(&app, "bauantrag", "Bauantrag", "high", None).0);
    assert!(
        set_process(
            &app,
            "meldebescheinigung",
            "Meldebescheinigung",
            "low",
            None
        )
        .0
    );
    // Log in and consent once.
    let cb = crate::helpers::rp::run_browser(
        &app,
        &app.url(&authorize(&c, "meldebescheinigung")),
        "p@example.org",
        PW,
    )
    .await;
    assert!(
        query_param(&cb, "code").is_some(),
        "a low process works with a password: {cb}"
    );
    // A high process cannot be reached with this account: refused, not faked.
    let cb = crate::helpers::unmet_target(app.get(&authorize(&c, "bauantrag")).await).await;
    assert_eq!(
        query_param(&cb, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    // Raised by this tenant: its portal is now refused for a password-only login.
    assert!(
        set_process(
            &app,
            "meldebescheinigung",
            "Meldebescheinigung",
            "substantial",
            Some(&app.tenant)
        )
        .0
    );
    let cb =
        crate::helpers::unmet_target(app.get(&authorize(&c, "meldebescheinigung")).await).await;
    assert_eq!(
        query_param(&cb, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    let cb = location(&app.get(&authorize(&c, "unbekannt")).await);
    assert_eq!(
        query_param(&cb, "error").as_deref(),
        Some("invalid_request")
    );
}
