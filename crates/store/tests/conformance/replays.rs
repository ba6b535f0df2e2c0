//! One-time values (RFC 7523 and RFC 9449 `jti`s): the first use of a (kind, id) wins,
//! everywhere, until the record is purged after its expiry.

use std::sync::Arc;
use valet_store::Store;

pub(crate) async fn one_time_values(s: Arc<dyn Store>) {
    assert!(s.first_use("dpop", "j1", 1000).await.unwrap(), "first");
    assert!(!s.first_use("dpop", "j1", 1000).await.unwrap(), "second");
    assert!(
        !s.first_use("dpop", "j1", 9999).await.unwrap(),
        "another expiry changes nothing"
    );
    assert!(s.first_use("dpop", "j2", 1000).await.unwrap(), "another id");
    // Families are independent: the same id in another kind is a first use.
    assert!(
        s.first_use("client_assertion", "j1", 1000).await.unwrap(),
        "another kind"
    );
    assert!(!s.first_use("client_assertion", "j1", 1000).await.unwrap());
    assert!(!s.first_use("dpop", "j1", 1000).await.unwrap());
}

pub(crate) async fn racing_one_time_values(s: Arc<dyn Store>) {
    // 16 concurrent uses of one value: exactly one is the first.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.spawn(async move { s.first_use("dpop", "race", i64::MAX).await.unwrap() });
    }
    let won: Vec<bool> = tasks.join_all().await;
    assert_eq!(won.len(), 16);
    assert_eq!(won.iter().filter(|w| **w).count(), 1);
}

pub(crate) async fn purge_one_time_values(s: Arc<dyn Store>) {
    assert!(s.first_use("dpop", "j1", 1000).await.unwrap());
    // The same id in another family lasts longer: the purge takes only what expired.
    assert!(s.first_use("client_assertion", "j1", 5000).await.unwrap());
    // Kept until its expiry (what expires at 1000 stays at 1000), purged after.
    assert_eq!(s.purge_expired(1000, 100).await.unwrap(), 0);
    assert!(!s.first_use("dpop", "j1", 1000).await.unwrap());
    assert_eq!(s.purge_expired(1001, 100).await.unwrap(), 1);
    assert_eq!(s.purge_expired(1001, 100).await.unwrap(), 0);
    assert!(
        !s.first_use("client_assertion", "j1", 5000).await.unwrap(),
        "not expired yet: still there"
    );
    // Gone: by now the value itself is no longer accepted, so the store is never asked.
    assert!(s.first_use("dpop", "j1", 2000).await.unwrap());
    // Batches bound the table.
    for i in 0..3 {
        assert!(s.first_use("dpop", &format!("old{i}"), 10).await.unwrap());
    }
    assert_eq!(s.purge_expired(1001, 2).await.unwrap(), 2);
    assert_eq!(s.purge_expired(1001, 2).await.unwrap(), 1);
    assert_eq!(s.purge_expired(1001, 2).await.unwrap(), 0);
}

pub(crate) async fn odd_one_time_values(s: Arc<dyn Store>) {
    // Quotes, SQL and LIKE metacharacters, a backslash, Unicode and an emoji: stored as
    // they are and compared exactly.
    let odd = "jti-'\"; DROP TABLE used_once; -- %_\\ ünïcödé 🔑 ∑";
    let kind = "kïnd 'ø'";
    assert!(s.first_use(kind, odd, 1000).await.unwrap());
    assert!(!s.first_use(kind, odd, 1000).await.unwrap());
    // Close but not equal is another value: case, a LIKE pattern, Unicode normalisation
    // (precomposed "é" against "e" + U+0301), a trailing space.
    for other in [
        odd.to_uppercase(),
        "jti-%".to_owned(),
        odd.replace('é', "e\u{301}"),
        format!("{odd} "),
    ] {
        assert!(s.first_use(kind, &other, 1000).await.unwrap(), "{other}");
    }
    assert!(s.first_use("kïnd", odd, 1000).await.unwrap());
    assert!(!s.first_use(kind, odd, 1000).await.unwrap());
}
