//! The short-lived store: in-process always, Redis when `BUERGERKONTO_TEST_REDIS_URL` is set.

use crate::helpers::test_redis_url;
use buergerkonto::domain::ids::AccountId;
use buergerkonto::ephemeral::{Ephemeral, Key};
use std::time::Duration;

async fn stores() -> Vec<Ephemeral> {
    let mut v = vec![
        Ephemeral::connect(None, "", usize::MAX, std::time::Duration::from_secs(1))
            .await
            .expect("memory"),
    ];
    if let Some(url) = test_redis_url() {
        let prefix = format!("bkt:{}:", uuid::Uuid::new_v4().simple());
        v.push(
            Ephemeral::connect(
                Some(&url),
                &prefix,
                usize::MAX,
                std::time::Duration::from_secs(1),
            )
            .await
            .expect("BUERGERKONTO_TEST_REDIS_URL must be reachable"),
        );
    }
    v
}

#[tokio::test]
async fn put_get_take_once_and_counters() {
    for s in stores().await {
        s.put(&Key::Code("k"), "v", Duration::from_secs(60))
            .await
            .expect("put");
        assert_eq!(
            s.get(&Key::Code("k")).await.expect("get").as_deref(),
            Some("v")
        );
        assert!(
            !s.put_if_absent(&Key::Code("k"), "w", Duration::from_secs(60))
                .await
                .expect("nx")
        );
        assert!(
            s.put_if_absent(&Key::Code("k2"), "w", Duration::from_secs(60))
                .await
                .expect("nx")
        );
        assert_eq!(
            s.take(&Key::Code("k")).await.expect("take").as_deref(),
            Some("v")
        );
        assert_eq!(
            s.take(&Key::Code("k")).await.expect("take"),
            None,
            "taken once"
        );
        s.delete(&Key::Code("k2")).await.expect("delete");
        assert_eq!(s.get(&Key::Code("k2")).await.expect("get"), None);
        assert_eq!(
            s.incr_window(&Key::FailedLogins("c"), Duration::from_secs(60))
                .await
                .expect("incr"),
            1
        );
        assert_eq!(
            s.incr_window(&Key::FailedLogins("c"), Duration::from_secs(60))
                .await
                .expect("incr"),
            2
        );
        assert_eq!(s.count(&Key::FailedLogins("c")).await.expect("count"), 2);
        assert_eq!(s.count(&Key::FailedLogins("none")).await.expect("count"), 0);
        s.ping().await.expect("ping");
    }
}

#[tokio::test]
async fn concurrent_takes_yield_exactly_one_winner() {
    for s in stores().await {
        for round in 0..20 {
            let key = format!("code-{round}");
            s.put(&Key::Code(&key), "grant", Duration::from_secs(60))
                .await
                .expect("put");
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let s = s.clone();
                    let key = key.clone();
                    tokio::spawn(async move { s.take(&Key::Code(&key)).await.expect("take") })
                })
                .collect();
            let mut winners = 0;
            for t in tasks {
                if t.await.expect("join").is_some() {
                    winners += 1;
                }
            }
            assert_eq!(winners, 1);
        }
    }
}

#[tokio::test]
async fn values_expire() {
    // Redis: real time, short TTL.
    for s in stores()
        .await
        .into_iter()
        .filter(|s| matches!(s, Ephemeral::Redis(_)))
    {
        s.put(&Key::Code("short"), "v", Duration::from_millis(150))
            .await
            .expect("put");
        s.incr_window(&Key::FailedLogins("win"), Duration::from_millis(150))
            .await
            .expect("incr");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(s.get(&Key::Code("short")).await.expect("get"), None);
        assert_eq!(s.take(&Key::Code("short")).await.expect("take"), None);
        assert_eq!(
            s.incr_window(&Key::FailedLogins("win"), Duration::from_secs(60))
                .await
                .expect("incr"),
            1,
            "a new window"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn memory_values_expire_with_paused_time() {
    let s = Ephemeral::connect(None, "", usize::MAX, std::time::Duration::from_secs(1))
        .await
        .expect("memory");
    s.put(&Key::Code("short"), "v", Duration::from_secs(60))
        .await
        .expect("put");
    s.incr_window(&Key::FailedLogins("win"), Duration::from_secs(60))
        .await
        .expect("incr");
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(
        s.get(&Key::Code("short")).await.expect("get").as_deref(),
        Some("v")
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(s.get(&Key::Code("short")).await.expect("get"), None);
    assert_eq!(s.take(&Key::Code("short")).await.expect("take"), None);
    assert!(
        s.put_if_absent(&Key::Code("short"), "w", Duration::from_secs(1))
            .await
            .expect("nx"),
        "an expired key counts as absent"
    );
    assert_eq!(
        s.incr_window(&Key::FailedLogins("win"), Duration::from_secs(60))
            .await
            .expect("incr"),
        1
    );
}

#[tokio::test]
async fn sets_add_remove_and_expire() {
    for s in stores().await {
        s.set_add(
            &Key::AccountSessions(AccountId(uuid::Uuid::from_u128(1))),
            "a",
            Duration::from_secs(60),
        )
        .await
        .expect("add");
        s.set_add(
            &Key::AccountSessions(AccountId(uuid::Uuid::from_u128(1))),
            "b",
            Duration::from_secs(60),
        )
        .await
        .expect("add");
        s.set_add(
            &Key::AccountSessions(AccountId(uuid::Uuid::from_u128(1))),
            "a",
            Duration::from_secs(60),
        )
        .await
        .expect("add twice");
        let mut m = s
            .set_members(&Key::AccountSessions(AccountId(uuid::Uuid::from_u128(1))))
            .await
            .expect("members");
        m.sort();
        assert_eq!(m, vec!["a".to_owned(), "b".to_owned()]);
        s.set_remove(
            &Key::AccountSessions(AccountId(uuid::Uuid::from_u128(1))),
            "a",
        )
        .await
        .expect("remove");
        assert_eq!(
            s.set_members(&Key::AccountSessions(AccountId(uuid::Uuid::from_u128(1))))
                .await
                .expect("members"),
            vec!["b".to_owned()]
        );
        assert!(
            s.set_members(&Key::AccountSessions(AccountId(uuid::Uuid::from_u128(2))))
                .await
                .expect("members")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn released_counts_go_back_but_never_below_zero_or_revive_a_counter() {
    for s in stores().await {
        let w = Duration::from_secs(60);
        assert_eq!(
            s.incr_window(&Key::FailedLogins("r"), w)
                .await
                .expect("incr"),
            1
        );
        assert_eq!(
            s.incr_window(&Key::FailedLogins("r"), w)
                .await
                .expect("incr"),
            2
        );
        s.release(&Key::FailedLogins("r")).await.expect("release");
        assert_eq!(s.count(&Key::FailedLogins("r")).await.expect("count"), 1);
        s.release(&Key::FailedLogins("r")).await.expect("release");
        s.release(&Key::FailedLogins("r")).await.expect("release");
        assert_eq!(
            s.count(&Key::FailedLogins("r")).await.expect("count"),
            0,
            "not below zero"
        );
        s.release(&Key::FailedLogins("absent"))
            .await
            .expect("release");
        assert_eq!(
            s.get(&Key::FailedLogins("absent")).await.expect("get"),
            None,
            "a released counter that does not exist stays absent"
        );
        // Released to zero, the same counter counts on from there.
        assert_eq!(
            s.incr_window(&Key::FailedLogins("r"), w)
                .await
                .expect("incr"),
            1
        );
    }
}
