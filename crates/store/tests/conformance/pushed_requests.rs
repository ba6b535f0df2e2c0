//! Pushed authorization requests (RFC 9126): stored by the hash of their `request_uri`,
//! taken once, never after their expiry.

use std::sync::Arc;
use valet_store::{PushedRequestRecord, Store, StoreError};

use super::token_hash;

fn pushed(hash: u8, expires_at: i64) -> PushedRequestRecord {
    PushedRequestRecord {
        hash: token_hash(hash),
        client_id: "c1".into(),
        params: r#"{"redirect_uri":"https://app.example/cb","scope":"openid","state":"s-ëx 🔑"}"#
            .into(),
        expires_at,
    }
}

pub(crate) async fn pushed_requests(s: Arc<dyn Store>) {
    s.push_request(&pushed(1, 100)).await.unwrap();
    s.push_request(&pushed(2, 100)).await.unwrap();
    // A hash already stored is refused.
    assert!(matches!(
        s.push_request(&pushed(1, 200)).await,
        Err(StoreError::Conflict(_))
    ));
    // Taken as it was pushed, once.
    assert_eq!(
        s.take_pushed_request(&token_hash(1), 99).await.unwrap(),
        Some(pushed(1, 100))
    );
    assert_eq!(
        s.take_pushed_request(&token_hash(1), 99).await.unwrap(),
        None
    );
    assert_eq!(
        s.take_pushed_request(&token_hash(9), 10).await.unwrap(),
        None
    );
    // Expired (expires_at <= now): not returned.
    assert_eq!(
        s.take_pushed_request(&token_hash(2), 100).await.unwrap(),
        None
    );
    // A taken hash can be pushed again (a new request_uri never repeats one, but the
    // store does not keep what was taken).
    s.push_request(&pushed(1, 300)).await.unwrap();
    assert_eq!(
        s.take_pushed_request(&token_hash(1), 200).await.unwrap(),
        Some(pushed(1, 300))
    );
}

pub(crate) async fn racing_pushed_requests(s: Arc<dyn Store>) {
    // 16 concurrent takes of one request: exactly one gets it.
    s.push_request(&pushed(3, i64::MAX)).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.spawn(async move { s.take_pushed_request(&token_hash(3), 10).await.unwrap() });
    }
    let taken: Vec<_> = tasks.join_all().await.into_iter().flatten().collect();
    assert_eq!(taken, vec![pushed(3, i64::MAX)]);
}

pub(crate) async fn purge_pushed_requests(s: Arc<dyn Store>) {
    s.push_request(&pushed(1, 1000)).await.unwrap();
    s.push_request(&pushed(2, 5000)).await.unwrap();
    // What expires at 1000 stays at 1000, and goes after.
    assert_eq!(s.purge_expired(1000, 100).await.unwrap(), 0);
    assert_eq!(s.purge_expired(1001, 100).await.unwrap(), 1);
    assert_eq!(s.purge_expired(1001, 100).await.unwrap(), 0);
    // Gone: not even a take at an earlier `now` finds it.
    assert_eq!(
        s.take_pushed_request(&token_hash(1), 10).await.unwrap(),
        None
    );
    assert_eq!(
        s.take_pushed_request(&token_hash(2), 1001).await.unwrap(),
        Some(pushed(2, 5000))
    );
}

pub(crate) async fn pushed_request_debug_redacts(s: Arc<dyn Store>) {
    // 0xab prints as 171 in a derived Debug of the bytes.
    s.push_request(&pushed(0xab, 1000)).await.unwrap();
    let taken = s
        .take_pushed_request(&token_hash(0xab), 10)
        .await
        .unwrap()
        .unwrap();
    let p = format!("{taken:?}");
    assert!(!p.contains("171") && !p.contains("TokenHash"), "{p}");
    assert!(!p.contains("redirect_uri") && !p.contains("openid"), "{p}");
    assert!(p.contains("c1") && p.contains("1000"), "{p}");
}
