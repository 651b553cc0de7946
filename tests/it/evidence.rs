//! Evidence with legal effect: every evidence event as a signed Security Event Token that
//! verifies with the JWKS and chains by hash, and the announcement date (§ 9 Abs. 1 OZG or a
//! Land's rule) in the status, the receipt and on the citizen's page.

use crate::callbacks::Setup;
use crate::helpers::rp::jwt_payload;
use crate::helpers::{Backend, TestApp};
use crate::mailbox::{authority, letter, send};
use buergerkonto::domain::civil::german_time;
use chrono::{Datelike, NaiveDate};
use serde_json::Value;
use std::time::Duration;

async fn setup(tweak: fn(&mut buergerkonto::config::RawConfig)) -> Setup {
    crate::callbacks::setup(Backend::Default, tweak).await
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn quick(raw: &mut buergerkonto::config::RawConfig) {
    raw.mailbox_notify_delay_secs = 1;
    raw.mailbox_interval_secs = 1;
}

#[tokio::test]
async fn every_evidence_event_is_a_security_event_token_that_verifies_and_chains_by_hash() {
    let s = setup(quick).await;
    let app = &s.app;
    let (_, _, sent) = send(app, &s.token, &letter(&s.sub), None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    assert_eq!(app.get(&format!("/postfach/{id}")).await.status(), 200);
    let (_, status) = get(app, &s.token, &format!("/api/v1/mailbox/messages/{id}")).await;
    let (code, log) = get(
        app,
        &s.token,
        &format!("/api/v1/mailbox/messages/{id}/events"),
    )
    .await;
    assert_eq!(code, 200, "{log}");
    let tokens = log["event_log"].as_array().expect("event_log");
    let events = status["events"].as_array().expect("events");
    assert_eq!(tokens.len(), events.len());
    assert!(events.len() >= 3, "sent, delivered, opened: {status}");
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .http
        .get(app.url("/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let mut prev = "0".repeat(64);
    for (t, e) in tokens.iter().zip(events) {
        let t = t.as_str().expect("jws");
        let header = jsonwebtoken::decode_header(t).expect("header");
        assert_eq!(header.typ.as_deref(), Some("secevent+jwt"));
        let jwk = jwks
            .find(header.kid.as_deref().expect("kid"))
            .expect("kid in JWKS");
        let mut v = jsonwebtoken::Validation::new(header.alg);
        v.set_audience(&[&s.client_id]);
        v.set_issuer(&[&app.addr]);
        v.set_required_spec_claims(&["iss", "aud", "sub", "iat"]);
        v.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(
            t,
            &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
            &v,
        )
        .expect("the SET verifies")
        .claims;
        assert_eq!(claims["sub"], format!("message:{id}"));
        assert!(claims["jti"].is_string());
        let evs = claims["events"].as_object().expect("events");
        assert_eq!(evs.len(), 1, "one event per token");
        let (uri, body) = evs.iter().next().expect("event");
        assert_eq!(
            *uri,
            format!(
                "urn:buergerkonto:mailbox:event:{}",
                e["type"].as_str().expect("type")
            )
        );
        assert_eq!(body["seq"], e["seq"]);
        assert_eq!(body["hash"], e["hash"]);
        assert_eq!(
            body["prev_hash"],
            prev.as_str(),
            "chained by the evidence's hashes"
        );
        prev = body["hash"].as_str().expect("hash").to_owned();
    }
    // The legal terms of § 9 OZG name what was recorded.
    let terms: Vec<&str> = events.iter().filter_map(|e| e["term"].as_str()).collect();
    assert!(
        terms.contains(&"bereitgestellt") && terms.contains(&"erster Abruf"),
        "{terms:?}"
    );
    // Another system: the same 404 as for an unknown message.
    let (other, _) = authority(app, &app.tenant).await;
    assert_eq!(
        get(
            app,
            &other,
            &format!("/api/v1/mailbox/messages/{id}/events")
        )
        .await
        .0,
        404
    );
}

fn german_day(at: &str) -> NaiveDate {
    let t = chrono::DateTime::parse_from_rfc3339(at)
        .expect("time")
        .with_timezone(&chrono::Utc);
    german_time(t).date()
}

#[tokio::test]
async fn the_federal_rule_dates_the_announcement_three_days_after_provision_everywhere() {
    let s = setup(quick).await;
    let app = &s.app;
    let (_, _, sent) = send(app, &s.token, &letter(&s.sub), None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    let (_, status) = get(app, &s.token, &format!("/api/v1/mailbox/messages/{id}")).await;
    let a = &status["announcement"];
    assert_eq!(a["rule"], "ozg");
    assert_eq!(a["citation"], "§ 9 Abs. 1 OZG");
    assert_eq!(a["basis"], "provided");
    let provided = german_day(a["provided_at"].as_str().expect("provided_at"));
    let day = provided + chrono::Days::new(3);
    assert_eq!(a["announced_on"], day.format("%Y-%m-%d").to_string());
    // In the signed receipt too.
    let r = app
        .http
        .get(app.url(&format!("/api/v1/mailbox/messages/{id}/receipt")))
        .bearer_auth(&s.token)
        .send()
        .await
        .expect("receipt");
    let receipt = jwt_payload(&r.text().await.expect("jws"));
    assert_eq!(receipt["announcement"]["announced_on"], a["announced_on"]);
    // And to the citizen.
    let page = app
        .get(&format!("/postfach/{id}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Gilt als bekannt gegeben am"), "{page}");
    assert!(page.contains(&day.format("%d.%m.%Y").to_string()));
    assert!(page.contains("§ 9 Abs. 1 OZG"));
}

fn bavarian(raw: &mut buergerkonto::config::RawConfig) {
    quick(raw);
    raw.announcement_rule = "baydig".into();
}

#[tokio::test]
async fn under_the_bavarian_rule_the_date_counts_from_the_notification() {
    let s = setup(bavarian).await;
    let app = &s.app;
    let (_, _, sent) = send(app, &s.token, &letter(&s.sub), None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    let (_, status) = get(app, &s.token, &format!("/api/v1/mailbox/messages/{id}")).await;
    assert_eq!(status["announcement"]["basis"], "notified");
    assert_eq!(
        status["announcement"]["announced_on"],
        Value::Null,
        "not notified yet"
    );
    let mut a = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, st) = get(app, &s.token, &format!("/api/v1/mailbox/messages/{id}")).await;
        if st["announcement"]["notified_at"].is_string() {
            a = st["announcement"].clone();
            break;
        }
    }
    let notified = german_day(a["notified_at"].as_str().expect("notified"));
    assert_eq!(a["citation"], "Art. 24 Abs. 2 BayDiG");
    assert_eq!(
        a["announced_on"],
        (notified + chrono::Days::new(3))
            .format("%Y-%m-%d")
            .to_string()
    );
}

fn holidays_ahead(raw: &mut buergerkonto::config::RawConfig) {
    quick(raw);
    raw.announcement_next_working_day = true;
    let today = german_time(chrono::Utc::now()).date();
    raw.announcement_holidays = (3..=9)
        .map(|d| {
            (today + chrono::Days::new(d))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(",");
}

#[tokio::test]
async fn a_date_on_a_holiday_or_weekend_moves_to_the_next_working_day_when_configured() {
    let s = setup(holidays_ahead).await;
    let app = &s.app;
    let (_, _, sent) = send(app, &s.token, &letter(&s.sub), None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    let (_, status) = get(app, &s.token, &format!("/api/v1/mailbox/messages/{id}")).await;
    let a = &status["announcement"];
    let provided = german_day(a["provided_at"].as_str().expect("provided_at"));
    let on = NaiveDate::parse_from_str(a["announced_on"].as_str().expect("date"), "%Y-%m-%d")
        .expect("date");
    assert!(
        on >= provided + chrono::Days::new(10),
        "after the configured holidays: {on}"
    );
    assert!(on <= provided + chrono::Days::new(14), "{on}");
    assert!(!matches!(
        on.weekday(),
        chrono::Weekday::Sat | chrono::Weekday::Sun
    ));
}
