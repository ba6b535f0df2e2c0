//! Accounts at upstream identity providers (issue 18): one user per upstream subject,
//! just-in-time creation in one transaction (a racer finds the link, nothing half
//! written), the last use and sealed refresh token recorded, unlinking only one's own,
//! and the links go with the user.

use std::sync::Arc;
use valet_protocol::user::UserClaims;
use valet_store::{IdentityRecord, Role, Store, StoreError, UserRecord};

fn user(id: &str, name: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        username: name.into(),
        claims: UserClaims {
            email: Some(format!("{name}@corp.example")),
            ..Default::default()
        },
        password_hash: None,
        disabled: false,
        role: Role::None,
        pending_until: None,
        created_at: 1,
        updated_at: 1,
    }
}

fn identity(upstream: &str, subject: &str, user_id: &str) -> IdentityRecord {
    IdentityRecord {
        upstream: upstream.into(),
        subject: subject.into(),
        user_id: user_id.into(),
        email: Some(format!("{subject}@corp.example")),
        refresh_token: None,
        created_at: 10,
        last_used_at: 10,
    }
}

pub(crate) async fn upstream_identities(s: Arc<dyn Store>) {
    // Just in time: the user and the link together.
    let alice = user("corp:alice", "corp:alice");
    assert!(
        s.create_user_with_identity(&alice, &identity("corp", "alice", "corp:alice"))
            .await
            .unwrap()
    );
    assert_eq!(s.user("corp:alice").await.unwrap().unwrap(), alice);
    let link = s.identity("corp", "alice").await.unwrap().unwrap();
    assert_eq!(link, identity("corp", "alice", "corp:alice"));
    // The subject is taken: the second creation writes nothing, not even its user.
    assert!(
        !s.create_user_with_identity(
            &user("corp:alice-2", "corp:alice-2"),
            &identity("corp", "alice", "corp:alice-2")
        )
        .await
        .unwrap()
    );
    assert!(s.user("corp:alice-2").await.unwrap().is_none());
    // A taken username is a conflict, and the link is not left behind.
    match s
        .create_user_with_identity(
            &user("corp:other", "corp:alice"),
            &identity("corp", "other", "corp:other"),
        )
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(s.identity("corp", "other").await.unwrap().is_none());

    // Linking to an existing user; the same subject cannot be linked twice.
    s.create_user(&user("u-bob", "bob")).await.unwrap();
    assert!(
        s.link_identity(&identity("corp", "bob", "u-bob"))
            .await
            .unwrap()
    );
    assert!(
        s.link_identity(&identity("hub", "42", "u-bob"))
            .await
            .unwrap()
    );
    assert!(
        !s.link_identity(&identity("corp", "bob", "corp:alice"))
            .await
            .unwrap()
    );
    // The same subject at another provider is another account.
    assert!(s.identity("hub", "bob").await.unwrap().is_none());
    let bobs = s.identities_of_user("u-bob").await.unwrap();
    let names: Vec<_> = bobs
        .iter()
        .map(|i| (i.upstream.as_str(), i.subject.as_str()))
        .collect();
    assert_eq!(names, [("corp", "bob"), ("hub", "42")]);

    // A sign-in records its time, the address, and a sealed refresh token when given.
    assert!(
        s.identity_used("corp", "bob", Some("b@corp.example"), Some(b"sealed"), 20)
            .await
            .unwrap()
    );
    assert!(
        s.identity_used("corp", "bob", None, None, 30)
            .await
            .unwrap()
    );
    let used = s.identity("corp", "bob").await.unwrap().unwrap();
    assert_eq!(used.last_used_at, 30);
    assert_eq!(used.email, None);
    assert_eq!(used.refresh_token.as_deref(), Some(&b"sealed"[..]));
    assert!(!format!("{used:?}").contains("sealed"), "{used:?}");
    assert!(
        !s.identity_used("corp", "nobody", None, None, 30)
            .await
            .unwrap()
    );

    // Unlinking removes only one's own link.
    assert!(
        !s.unlink_identity("corp:alice", "corp", "bob")
            .await
            .unwrap()
    );
    assert!(s.unlink_identity("u-bob", "corp", "bob").await.unwrap());
    assert!(s.identity("corp", "bob").await.unwrap().is_none());
    assert!(!s.unlink_identity("u-bob", "corp", "bob").await.unwrap());

    // The links go with the user.
    assert!(s.delete_user("bob", 40).await.unwrap());
    assert!(s.identity("hub", "42").await.unwrap().is_none());
    assert!(s.identities_of_user("u-bob").await.unwrap().is_empty());
}

/// Ten first sign-ins of one subject at once: one user, one link.
pub(crate) async fn racing_first_sign_ins(s: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for n in 0..10 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("corp:racer-{n}");
            s.create_user_with_identity(&user(&id, &id), &identity("corp", "racer", &id))
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
    let link = s.identity("corp", "racer").await.unwrap().unwrap();
    assert!(s.user(&link.user_id).await.unwrap().is_some());
    let users = s.users().await.unwrap();
    assert_eq!(
        users
            .iter()
            .filter(|u| u.id.starts_with("corp:racer"))
            .count(),
        1
    );
}

/// Providers added through the administration: kept as given, ids unique, the secret
/// never in `Debug`.
pub(crate) async fn stored_upstream_providers(s: Arc<dyn Store>) {
    use valet_store::UpstreamProviderRecord;
    let p = UpstreamProviderRecord {
        id: "okta".into(),
        config: r#"{"name":"Okta"}"#.into(),
        secret: b"sealed-secret".to_vec(),
        created_at: 1,
        updated_at: 1,
    };
    s.create_upstream_provider(&p).await.unwrap();
    assert!(matches!(
        s.create_upstream_provider(&p).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.upstream_provider("okta").await.unwrap().unwrap(), p);
    assert!(!format!("{p:?}").contains("sealed-secret"));
    let changed = UpstreamProviderRecord {
        config: r#"{"name":"Okta 2"}"#.into(),
        updated_at: 5,
        ..p.clone()
    };
    assert!(s.update_upstream_provider(&changed).await.unwrap());
    let all = s.upstream_providers().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].config, r#"{"name":"Okta 2"}"#);
    assert_eq!(all[0].created_at, 1);
    assert!(s.delete_upstream_provider("okta").await.unwrap());
    assert!(!s.delete_upstream_provider("okta").await.unwrap());
    assert!(!s.update_upstream_provider(&changed).await.unwrap(), "gone");
}
