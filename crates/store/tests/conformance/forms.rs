//! Sealed forms (issue 12 item 10): a submitted form's id is recorded once; the first
//! submit wins, everywhere, until the record is purged after the form's own expiry.

use std::sync::Arc;
use valet_store::Store;

pub(crate) async fn sealed_forms(s: Arc<dyn Store>) {
    assert!(s.consume_sealed_form("f1", 1000).await.unwrap(), "first");
    assert!(!s.consume_sealed_form("f1", 1000).await.unwrap(), "second");
    assert!(
        !s.consume_sealed_form("f1", 9999).await.unwrap(),
        "another expiry changes nothing"
    );
    assert!(
        s.consume_sealed_form("f2", 1000).await.unwrap(),
        "another form"
    );
    // Kept until its expiry (what expires at 1000 stays at 1000), purged after.
    s.purge_expired(1000, 100).await.unwrap();
    assert!(!s.consume_sealed_form("f1", 1000).await.unwrap());
    assert_eq!(s.purge_expired(1001, 100).await.unwrap(), 2);
    // Gone: by now the sealed value itself no longer opens, so the store is never asked.
    assert!(s.consume_sealed_form("f1", 2000).await.unwrap());
}

pub(crate) async fn racing_sealed_forms(s: Arc<dyn Store>) {
    // 50 concurrent submits of one form: exactly one counts.
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.consume_sealed_form("race", i64::MAX).await.unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}
