//! Self-registration (issue 16): a signed-up user is pending until they follow the emailed
//! link; the mark is kept and cleared like any field, and the purge deletes a user still
//! pending once `pending_until` passes, and nobody else.

use std::sync::Arc;
use valet_protocol::user::UserClaims;
use valet_store::{PasswordHash, Role, Store, UserRecord};

fn user(id: &str, name: &str, pending_until: Option<i64>) -> UserRecord {
    UserRecord {
        id: id.into(),
        username: name.into(),
        claims: UserClaims {
            email: Some(format!("{name}@example.com")),
            ..Default::default()
        },
        password_hash: Some(PasswordHash("$argon2id$x".into())),
        disabled: false,
        role: Role::None,
        pending_until,
        created_at: 1,
        updated_at: 1,
    }
}

pub(crate) async fn pending_users(s: Arc<dyn Store>) {
    s.create_user(&user("u-new", "newcomer", Some(1000)))
        .await
        .unwrap();
    s.create_user(&user("u-kept", "confirmed", Some(1000)))
        .await
        .unwrap();
    s.create_user(&user("u-admin", "staff", None))
        .await
        .unwrap();
    let read = s.user_by_username("NEWCOMER").await.unwrap().unwrap();
    assert_eq!(read.pending_until, Some(1000));
    assert_eq!(
        s.users_by_email("newcomer@example.com").await.unwrap()[0].pending_until,
        Some(1000)
    );
    // Confirming is an update like any other; a resend moves the deadline.
    let mut kept = s.user("u-kept").await.unwrap().unwrap();
    kept.pending_until = None;
    kept.claims.email_verified = true;
    assert!(s.update_user(&kept).await.unwrap());
    assert_eq!(s.user("u-kept").await.unwrap().unwrap(), kept);
    let mut later = user("u-later", "latecomer", Some(900));
    s.create_user(&later).await.unwrap();
    later.pending_until = Some(2000);
    assert!(s.update_user(&later).await.unwrap());

    // At 1000 what is pending until 1000 stays; after it, it goes, and only it.
    s.purge_expired(1000, 100).await.unwrap();
    assert!(s.user("u-new").await.unwrap().is_some());
    s.purge_expired(1001, 100).await.unwrap();
    assert!(s.user("u-new").await.unwrap().is_none());
    assert!(s.user_by_username("newcomer").await.unwrap().is_none());
    for kept in ["u-kept", "u-admin", "u-later"] {
        assert!(s.user(kept).await.unwrap().is_some(), "{kept}");
    }
    // A batch bounds the purge; the rest goes in the next one.
    for i in 0..3 {
        s.create_user(&user(&format!("u-b{i}"), &format!("batch{i}"), Some(10)))
            .await
            .unwrap();
    }
    s.purge_expired(1001, 2).await.unwrap();
    let left = s
        .users()
        .await
        .unwrap()
        .iter()
        .filter(|u| u.id.starts_with("u-b"))
        .count();
    assert_eq!(left, 1);
    s.purge_expired(1001, 2).await.unwrap();
    assert_eq!(s.users().await.unwrap().len(), 3);
}
