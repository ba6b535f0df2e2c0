//! Attempt counters: limits hold under races, refusals change nothing, refunds and marks.

use std::sync::Arc;
use valet_store::{Store, ThrottleDecision, ThrottleRule};

fn rule(key: &str, limit: u32) -> ThrottleRule {
    ThrottleRule {
        key: key.into(),
        window: 60,
        limit,
        free: u32::MAX,
        max_spacing: 5,
    }
}

fn allowed(d: ThrottleDecision) -> bool {
    matches!(d, ThrottleDecision::Allowed)
}

pub(crate) async fn throttle_counts(s: Arc<dyn Store>) {
    let pair = rule("pair", 3);
    let account = rule("account", 100);
    for _ in 0..3 {
        assert!(allowed(
            s.throttle_attempt(&[pair.clone(), account.clone()], 1000)
                .await
                .unwrap()
        ));
    }
    let d = s
        .throttle_attempt(&[pair.clone(), account.clone()], 1030)
        .await
        .unwrap();
    assert_eq!(d, ThrottleDecision::Refused { retry_after: 30 });
    // The refusal left the other counter alone: 97 more fit under its limit of 100.
    let mut n = 0;
    while allowed(
        s.throttle_attempt(std::slice::from_ref(&account), 1030)
            .await
            .unwrap(),
    ) {
        n += 1;
    }
    assert_eq!(n, 97);
    // A refund gives one attempt back, and never goes below zero.
    s.throttle_refund(&["pair".into(), "nothing".into()])
        .await
        .unwrap();
    assert!(allowed(
        s.throttle_attempt(std::slice::from_ref(&pair), 1031)
            .await
            .unwrap()
    ));
    assert!(!allowed(
        s.throttle_attempt(std::slice::from_ref(&pair), 1031)
            .await
            .unwrap()
    ));
    // A new window starts afresh.
    assert!(allowed(
        s.throttle_attempt(std::slice::from_ref(&pair), 1060)
            .await
            .unwrap()
    ));
    // Purged once the window is over.
    s.purge_expired(1200, 100).await.unwrap();
    for _ in 0..3 {
        assert!(allowed(
            s.throttle_attempt(std::slice::from_ref(&pair), 1200)
                .await
                .unwrap()
        ));
    }
}

pub(crate) async fn racing_throttle(s: Arc<dyn Store>) {
    // 40 concurrent attempts against a limit of 10: exactly 10 are allowed (issue 12.1).
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let rules = [rule("race", 10), rule(&format!("other{}", i % 3), 1000)];
            s.throttle_attempt(&rules, 5000).await.unwrap()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if allowed(t.await.unwrap()) {
            ok += 1;
        }
    }
    assert_eq!(ok, 10);
}

pub(crate) async fn throttle_marks(s: Arc<dyn Store>) {
    assert!(!s.throttle_marked("known", 10).await.unwrap());
    s.throttle_mark("known", 10, 100).await.unwrap();
    s.throttle_mark("known", 20, 50).await.unwrap();
    assert!(
        s.throttle_marked("known", 99).await.unwrap(),
        "the later expiry holds"
    );
    assert!(!s.throttle_marked("known", 100).await.unwrap());
    s.purge_expired(101, 100).await.unwrap();
    assert!(!s.throttle_marked("known", 10).await.unwrap());
}
