//! Back-Channel Logout deliveries: queued with the logout itself, claimed once, retried,
//! given up on.

use std::sync::Arc;
use valet_store::{LOGOUT_DELIVERY_MEMORY, Store};

use super::{grant, grant_in, insert_grants, session, token_hash};

fn key(d: &valet_store::LogoutDelivery) -> (String, String, Option<Vec<u8>>) {
    (
        d.client_id.clone(),
        d.user_id.clone(),
        d.session.as_ref().map(|h| h.as_bytes().to_vec()),
    )
}

pub(crate) async fn logout_deliveries(s: Arc<dyn Store>) {
    s.create_session(&session(1, "u1", 1000), None)
        .await
        .unwrap();
    s.create_session(&session(2, "u1", 1000), None)
        .await
        .unwrap();
    let mut c2 = grant_in("b", "u1", "openid offline_access", 1, 500);
    c2.client_id = "c2".into();
    insert_grants(
        &s,
        &[
            grant_in("a", "u1", "openid", 1, 500),
            grant_in("a2", "u1", "openid profile", 1, 500), // same app, same session: once
            c2,
            grant_in("old", "u1", "openid", 1, 50), // expired at 100: nothing to tell
            grant_in("other", "u1", "openid", 2, 500),
        ],
    )
    .await;
    s.revoke_grant("other", 500).await.unwrap();
    assert!(
        s.claim_logout_deliveries(100, 30, 10)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(s.end_session(&token_hash(1), 100).await.unwrap());
    let mut due = s.claim_logout_deliveries(100, 30, 10).await.unwrap();
    due.sort_by_key(|d| d.client_id.clone());
    let s1 = Some(token_hash(1).as_bytes().to_vec());
    assert_eq!(
        due.iter().map(key).collect::<Vec<_>>(),
        [
            ("c1".to_string(), "u1".to_string(), s1.clone()),
            ("c2".to_string(), "u1".to_string(), s1.clone()),
        ]
    );
    assert!(due.iter().all(|d| d.attempts == 1));
    assert_eq!(due[0].expires_at, 100 + LOGOUT_DELIVERY_MEMORY);
    // Claimed: hidden for the lease, from every caller.
    assert!(
        s.claim_logout_deliveries(110, 30, 10)
            .await
            .unwrap()
            .is_empty()
    );
    s.finish_logout_delivery(due[0].id).await.unwrap();
    s.retry_logout_delivery(due[1].id, 200).await.unwrap();
    assert!(
        s.claim_logout_deliveries(199, 30, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = s.claim_logout_deliveries(200, 30, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    s.finish_logout_delivery(again[0].id).await.unwrap();
    assert!(
        s.claim_logout_deliveries(10_000, 30, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn logout_deliveries_for_a_whole_user(s: Arc<dyn Store>) {
    s.create_session(&session(1, "u1", 1000), None)
        .await
        .unwrap();
    s.create_session(&session(2, "u1", 1000), None)
        .await
        .unwrap();
    insert_grants(
        &s,
        &[
            grant_in("a", "u1", "openid", 1, 500),
            grant_in("b", "u1", "openid", 2, 500),
            grant("c", "u1", "c1", "openid", 500), // the password grant: no session
            grant_in("d", "u2", "openid", 3, 500),
        ],
    )
    .await;
    s.end_user_access("u1", 100).await.unwrap();
    let due = s.claim_logout_deliveries(100, 30, 10).await.unwrap();
    assert_eq!(due.len(), 3, "one per session, and one without");
    assert!(due.iter().all(|d| d.user_id == "u1"));
    assert_eq!(due.iter().filter(|d| d.session.is_none()).count(), 1);
    // Already revoked: ending again tells nobody twice.
    s.end_user_access("u1", 101).await.unwrap();
    assert!(s.claim_logout_deliveries(1000, 30, 10).await.unwrap().len() <= 3);
    // Limits: a claim takes at most `limit`.
    for d in &due {
        s.finish_logout_delivery(d.id).await.unwrap();
    }
}

pub(crate) async fn expired_sessions_are_logged_out_too(s: Arc<dyn Store>) {
    s.create_session(&session(1, "u1", 150), None)
        .await
        .unwrap();
    s.create_session(&session(2, "u1", 5000), None)
        .await
        .unwrap();
    insert_grants(
        &s,
        &[
            grant_in("a", "u1", "openid offline_access", 1, 9000),
            grant_in("b", "u1", "openid", 2, 9000),
        ],
    )
    .await;
    s.purge_expired(200, 100).await.unwrap();
    assert!(
        s.session(&token_hash(1), 100).await.unwrap().is_none(),
        "gone"
    );
    let due = s.claim_logout_deliveries(200, 30, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].session, Some(token_hash(1)));
    // Past their memory, undelivered ones go.
    s.purge_expired(200 + LOGOUT_DELIVERY_MEMORY + 1, 100)
        .await
        .unwrap();
    assert!(
        s.claim_logout_deliveries(200 + LOGOUT_DELIVERY_MEMORY + 100, 30, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn one_time_links(s: Arc<dyn Store>) {
    use valet_store::LinkRecord;
    let link = |n: u8, user: &str, purpose: &str, expires_at: i64| LinkRecord {
        hash: token_hash(n),
        purpose: purpose.into(),
        user_id: user.into(),
        data: String::new(),
        created_at: 1,
        expires_at,
    };
    s.create_link(&link(1, "u1", "reset_password", 100))
        .await
        .unwrap();
    s.create_link(&link(2, "u2", "reset_password", 100))
        .await
        .unwrap();
    // Only for what it was made for, and only while it lasts.
    assert!(
        s.link(&token_hash(1), "verify_email", 10)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.link(&token_hash(1), "reset_password", 100)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.link(&token_hash(1), "reset_password", 99)
            .await
            .unwrap()
            .is_some()
    );
    // Used once, racing or not.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.consume_link(&token_hash(1), "reset_password", 10)
                .await
                .unwrap()
                .is_some()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
    // A newer link of the same user and purpose replaces the older.
    s.create_link(&link(3, "u2", "reset_password", 100))
        .await
        .unwrap();
    assert!(
        s.consume_link(&token_hash(2), "reset_password", 10)
            .await
            .unwrap()
            .is_none()
    );
    let got = s
        .consume_link(&token_hash(3), "reset_password", 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.user_id, "u2");
    // Expired ones are purged.
    s.create_link(&link(4, "u3", "verify_email", 50))
        .await
        .unwrap();
    s.purge_expired(60, 100).await.unwrap();
    assert!(
        s.link(&token_hash(4), "verify_email", 0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !format!("{:?}", link(5, "u", "p", 1)).contains("0505"),
        "no hash printed raw"
    );
}
