//! Device codes (RFC 8628): pending until answered once, polls recorded only over the poll
//! they saw, redeemed exactly once, kept past expiry, then purged.

use std::sync::Arc;
use valet_store::{DeviceCodeRecord, DeviceDecision, DeviceStatus, Store, StoreError};

use super::{grant, token_hash};

fn device(n: u8, expires_at: i64) -> DeviceCodeRecord {
    DeviceCodeRecord {
        device_hash: token_hash(n),
        user_code_hash: token_hash(n + 100),
        client_id: "c1".into(),
        details: r#"{"scope":"openid","audience":[]}"#.into(),
        status: DeviceStatus::Pending,
        user_id: None,
        auth_time: None,
        amr: vec![],
        grant_id: None,
        interval: 5,
        last_poll_at: 100,
        created_at: 100,
        expires_at,
        redeemed_at: None,
    }
}

fn approve(grant_id: &str) -> DeviceDecision {
    DeviceDecision::Approve {
        grant: grant(grant_id, "u1", "c1", "openid", 10_000),
        auth_time: 90,
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
    }
}

pub(crate) async fn device_codes(s: Arc<dyn Store>) {
    s.insert_device_code(&device(1, 700)).await.unwrap();
    assert_eq!(
        s.device_code(&token_hash(1)).await.unwrap(),
        Some(device(1, 700))
    );
    assert_eq!(s.device_code(&token_hash(9)).await.unwrap(), None);
    // Both hashes are unique: a colliding user code is refused, to be drawn again.
    let mut twin = device(2, 700);
    twin.user_code_hash = token_hash(101);
    assert!(matches!(
        s.insert_device_code(&twin).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.insert_device_code(&device(1, 800)).await,
        Err(StoreError::Conflict(_))
    ));

    // Pending by user code until it expires.
    assert!(
        s.pending_device_code(&token_hash(101), 699)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.pending_device_code(&token_hash(101), 700)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.pending_device_code(&token_hash(102), 200)
            .await
            .unwrap()
            .is_none()
    );

    // A poll is recorded only over the poll it saw.
    assert!(
        s.record_device_poll(&token_hash(1), 100, 10, 104)
            .await
            .unwrap()
    );
    assert!(
        !s.record_device_poll(&token_hash(1), 100, 10, 105)
            .await
            .unwrap()
    );
    let d = s.device_code(&token_hash(1)).await.unwrap().unwrap();
    assert_eq!((d.last_poll_at, d.interval), (104, 10));

    // Nothing to redeem before approval.
    assert_eq!(
        s.redeem_device_code(&token_hash(1), 120).await.unwrap(),
        None
    );
    // Another client cannot answer it; the first answer counts, once.
    assert!(
        !s.decide_device_code(&token_hash(101), "c2", &approve("g1"), 110)
            .await
            .unwrap()
    );
    assert!(
        s.decide_device_code(&token_hash(101), "c1", &approve("g1"), 110)
            .await
            .unwrap()
    );
    assert!(
        !s.decide_device_code(&token_hash(101), "c1", &DeviceDecision::Deny, 111)
            .await
            .unwrap()
    );
    assert!(
        !s.decide_device_code(&token_hash(101), "c1", &approve("g2"), 111)
            .await
            .unwrap()
    );
    assert!(
        s.grant("g2").await.unwrap().is_none(),
        "a lost answer starts nothing"
    );
    let g = s.grant("g1").await.unwrap().unwrap();
    assert_eq!((g.user_id.as_str(), g.client_id.as_str()), ("u1", "c1"));
    assert!(
        s.pending_device_code(&token_hash(101), 120)
            .await
            .unwrap()
            .is_none()
    );
    let d = s.device_code(&token_hash(1)).await.unwrap().unwrap();
    assert_eq!(d.status, DeviceStatus::Approved);
    assert_eq!(
        (d.user_id.as_deref(), d.grant_id.as_deref(), d.auth_time),
        (Some("u1"), Some("g1"), Some(90))
    );
    assert_eq!(
        d.amr,
        ["pwd", "otp", "mfa"],
        "the approving session's factors"
    );

    // Redeemed once; then no poll is recorded either.
    let r = s
        .redeem_device_code(&token_hash(1), 130)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.redeemed_at, Some(130));
    assert_eq!(r.grant_id.as_deref(), Some("g1"));
    assert_eq!(
        s.redeem_device_code(&token_hash(1), 131).await.unwrap(),
        None
    );
    assert!(
        !s.record_device_poll(&token_hash(1), 130, 5, 140)
            .await
            .unwrap()
    );

    // Denied codes are kept as denied; answers after expiry do nothing.
    s.insert_device_code(&device(3, 700)).await.unwrap();
    assert!(
        s.decide_device_code(&token_hash(103), "c1", &DeviceDecision::Deny, 110)
            .await
            .unwrap()
    );
    assert_eq!(
        s.device_code(&token_hash(3)).await.unwrap().unwrap().status,
        DeviceStatus::Denied
    );
    s.insert_device_code(&device(4, 700)).await.unwrap();
    assert!(
        !s.decide_device_code(&token_hash(104), "c1", &approve("g4"), 700)
            .await
            .unwrap()
    );
    // An approved code that expired unredeemed is not redeemed.
    s.insert_device_code(&device(5, 700)).await.unwrap();
    assert!(
        s.decide_device_code(&token_hash(105), "c1", &approve("g5"), 600)
            .await
            .unwrap()
    );
    assert_eq!(
        s.redeem_device_code(&token_hash(5), 700).await.unwrap(),
        None
    );

    // Kept DEVICE_CODE_MEMORY past expiry (a late poll reads expired_token), then purged.
    let memory = valet_store::DEVICE_CODE_MEMORY;
    s.purge_expired(700 + memory - 1, 100).await.unwrap();
    assert!(s.device_code(&token_hash(4)).await.unwrap().is_some());
    s.purge_expired(700 + memory + 1, 100).await.unwrap();
    for n in [1, 3, 4, 5] {
        assert!(
            s.device_code(&token_hash(n)).await.unwrap().is_none(),
            "{n}"
        );
    }
    // Purged, its user code can be drawn again.
    s.insert_device_code(&device(1, 5000)).await.unwrap();
}

pub(crate) async fn racing_device_redemptions(s: Arc<dyn Store>) {
    // RFC 8628 §3.5 and the contract: of 50 concurrent polls after approval exactly one
    // gets the record (and so the tokens).
    s.insert_device_code(&device(7, i64::MAX)).await.unwrap();
    assert!(
        s.decide_device_code(&token_hash(107), "c1", &approve("g7"), 110)
            .await
            .unwrap()
    );
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.redeem_device_code(&token_hash(7), 120).await.unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        if let Some(r) = t.await.unwrap() {
            won += 1;
            assert_eq!(r.grant_id.as_deref(), Some("g7"));
        }
    }
    assert_eq!(won, 1);
}

pub(crate) async fn racing_device_answers(s: Arc<dyn Store>) {
    // Two tabs, two nodes: of 20 concurrent answers (allow and deny mixed) one counts, and
    // only the grant of that one exists.
    s.insert_device_code(&device(8, i64::MAX)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let d = if i % 2 == 0 {
                approve(&format!("race{i}"))
            } else {
                DeviceDecision::Deny
            };
            s.decide_device_code(&token_hash(108), "c1", &d, 110)
                .await
                .unwrap()
        }));
    }
    let mut counted = 0;
    for t in tasks {
        counted += usize::from(t.await.unwrap());
    }
    assert_eq!(counted, 1);
    let d = s.device_code(&token_hash(8)).await.unwrap().unwrap();
    let mut grants = 0;
    for i in (0..20).step_by(2) {
        grants += usize::from(s.grant(&format!("race{i}")).await.unwrap().is_some());
    }
    match d.status {
        DeviceStatus::Approved => assert_eq!(grants, 1),
        DeviceStatus::Denied => assert_eq!(grants, 0),
        DeviceStatus::Pending => panic!("nobody's answer counted"),
    }
}
