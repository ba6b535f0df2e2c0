//! Second factors (issue 16): one authenticator app per user, its steps used once and in
//! order; recovery codes replaced whole and spent once; passkeys one user's each, within
//! a limit; all gone with the user.

use std::sync::Arc;
use valet_protocol::user::UserClaims;
use valet_store::{PasskeyRecord, PasswordHash, Role, Store, TokenHash, TotpRecord, UserRecord};

use super::{session, token_hash};

fn totp(user: &str, last_step: i64) -> TotpRecord {
    TotpRecord {
        user_id: user.into(),
        sealed_secret: vec![7; 40],
        last_step,
        created_at: 5,
    }
}

fn codes(from: u8) -> Vec<TokenHash> {
    (from..from + 10).map(token_hash).collect()
}

pub(crate) async fn authenticator_apps(s: Arc<dyn Store>) {
    assert_eq!(s.totp("u1").await.unwrap(), None);
    assert!(
        !s.use_totp_step("u1", 10).await.unwrap(),
        "nothing enrolled"
    );
    assert!(s.enrol_totp(&totp("u1", 100), None).await.unwrap());
    assert_eq!(s.totp("u1").await.unwrap(), Some(totp("u1", 100)));
    assert!(
        !s.enrol_totp(&totp("u1", 200), Some(&codes(1)))
            .await
            .unwrap(),
        "one at a time: a second enrolment changes nothing"
    );
    assert_eq!(s.totp("u1").await.unwrap(), Some(totp("u1", 100)));
    assert_eq!(s.recovery_codes_left("u1").await.unwrap(), 0);

    // The step of the confirming code, and any before it, no longer pass.
    assert!(!s.use_totp_step("u1", 100).await.unwrap());
    assert!(!s.use_totp_step("u1", 99).await.unwrap());
    assert!(s.use_totp_step("u1", 101).await.unwrap());
    assert!(!s.use_totp_step("u1", 101).await.unwrap(), "replayed");
    assert!(s.use_totp_step("u1", 103).await.unwrap());
    assert!(
        !s.use_totp_step("u1", 102).await.unwrap(),
        "older than the last used"
    );
    assert_eq!(s.totp("u1").await.unwrap().unwrap().last_step, 103);

    assert!(s.remove_second_factors("u1").await.unwrap());
    assert!(!s.remove_second_factors("u1").await.unwrap());
    assert_eq!(s.totp("u1").await.unwrap(), None);
    assert!(!s.use_totp_step("u1", 200).await.unwrap());
    // Enrolled afresh, with recovery codes.
    assert!(
        s.enrol_totp(&totp("u1", 300), Some(&codes(1)))
            .await
            .unwrap()
    );
    assert_eq!(s.recovery_codes_left("u1").await.unwrap(), 10);
}

pub(crate) async fn recovery_codes(s: Arc<dyn Store>) {
    s.replace_recovery_codes("u1", &codes(1), 5).await.unwrap();
    s.replace_recovery_codes("u2", &codes(1), 5).await.unwrap();
    assert_eq!(s.recovery_codes_left("u1").await.unwrap(), 10);
    assert!(s.use_recovery_code("u1", &token_hash(3)).await.unwrap());
    assert!(
        !s.use_recovery_code("u1", &token_hash(3)).await.unwrap(),
        "once"
    );
    assert!(!s.use_recovery_code("u1", &token_hash(50)).await.unwrap());
    assert_eq!(s.recovery_codes_left("u1").await.unwrap(), 9);
    assert_eq!(
        s.recovery_codes_left("u2").await.unwrap(),
        10,
        "another user's"
    );
    assert!(s.use_recovery_code("u2", &token_hash(3)).await.unwrap());

    // Regenerated: the old ones no longer work.
    s.replace_recovery_codes("u1", &codes(20), 6).await.unwrap();
    assert_eq!(s.recovery_codes_left("u1").await.unwrap(), 10);
    assert!(!s.use_recovery_code("u1", &token_hash(4)).await.unwrap());
    assert!(s.use_recovery_code("u1", &token_hash(20)).await.unwrap());

    // Removing the second factors removes the codes too.
    assert!(s.remove_second_factors("u1").await.unwrap(), "codes alone");
    assert_eq!(s.recovery_codes_left("u1").await.unwrap(), 0);
}

pub(crate) async fn racing_second_factors(s: Arc<dyn Store>) {
    s.enrol_totp(&totp("u1", 1), Some(&codes(1))).await.unwrap();
    // 50 concurrent submits of one code (one step) and of one recovery code: one each.
    let mut tasks = Vec::new();
    for i in 0..100 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                (s.use_totp_step("u1", 2).await.unwrap(), false)
            } else {
                (
                    false,
                    s.use_recovery_code("u1", &token_hash(5)).await.unwrap(),
                )
            }
        }));
    }
    let (mut steps, mut codes) = (0, 0);
    for t in tasks {
        let (a, b) = t.await.unwrap();
        steps += usize::from(a);
        codes += usize::from(b);
    }
    assert_eq!((steps, codes), (1, 1));
}

pub(crate) async fn second_factors_go_with_the_user(s: Arc<dyn Store>) {
    for (id, name) in [("u1", "ann"), ("u2", "bob")] {
        s.create_user(&UserRecord {
            id: id.into(),
            username: name.into(),
            claims: UserClaims::default(),
            password_hash: Some(PasswordHash("$argon2id$x".into())),
            disabled: false,
            role: Role::None,
            pending_until: None,
            created_at: 1,
            updated_at: 1,
        })
        .await
        .unwrap();
        s.enrol_totp(&totp(id, 1), Some(&codes(1))).await.unwrap();
    }
    s.create_session(&session(1, "u1", 1000), None)
        .await
        .unwrap();
    // Ending access (a new password, disabling) keeps the factors; deleting takes them.
    s.end_user_access("u1", 10).await.unwrap();
    assert!(s.totp("u1").await.unwrap().is_some());
    assert!(s.delete_user("ann", 10).await.unwrap());
    assert_eq!(s.totp("u1").await.unwrap(), None);
    assert_eq!(s.recovery_codes_left("u1").await.unwrap(), 0);
    assert!(s.totp("u2").await.unwrap().is_some());
    assert_eq!(s.recovery_codes_left("u2").await.unwrap(), 10);
}

pub(crate) async fn sessions_keep_their_factors(s: Arc<dyn Store>) {
    let mut two = session(1, "u1", 1000);
    two.amr = vec!["pwd".into(), "otp".into(), "mfa".into()];
    s.create_session(&two, None).await.unwrap();
    assert_eq!(s.session(&token_hash(1), 10).await.unwrap(), Some(two));
}

fn passkey(id: &str, user: &str, at: i64) -> PasskeyRecord {
    PasskeyRecord {
        credential_id: id.into(),
        user_id: user.into(),
        name: format!("key {id}"),
        credential: format!("{{\"cred\":\"{id}\"}}"),
        created_at: at,
        last_used_at: None,
    }
}

pub(crate) async fn passkeys(s: Arc<dyn Store>) {
    assert!(s.passkeys_of_user("u1").await.unwrap().is_empty());
    assert!(
        s.add_passkey(&passkey("c2", "u1", 20), Some(&codes(1)), 3)
            .await
            .unwrap()
    );
    assert_eq!(
        s.recovery_codes_left("u1").await.unwrap(),
        10,
        "a first passkey brings recovery codes"
    );
    assert!(s.use_recovery_code("u1", &token_hash(1)).await.unwrap());
    assert!(
        s.add_passkey(&passkey("c1", "u1", 10), Some(&codes(30)), 3)
            .await
            .unwrap()
    );
    assert_eq!(
        s.recovery_codes_left("u1").await.unwrap(),
        9,
        "codes the user has are kept"
    );
    // A credential id belongs to one user only (WebAuthn §7.1 step 22).
    assert!(
        !s.add_passkey(&passkey("c1", "u2", 30), None, 3)
            .await
            .unwrap()
    );
    assert!(s.passkeys_of_user("u2").await.unwrap().is_empty());
    assert!(
        s.add_passkey(&passkey("c3", "u1", 30), None, 3)
            .await
            .unwrap()
    );
    assert!(
        !s.add_passkey(&passkey("c4", "u1", 40), None, 3)
            .await
            .unwrap(),
        "at the limit"
    );
    let mine: Vec<String> = s
        .passkeys_of_user("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.credential_id)
        .collect();
    assert_eq!(mine, ["c1", "c2", "c3"], "oldest first");
    assert_eq!(
        s.passkey("c2").await.unwrap(),
        Some(passkey("c2", "u1", 20))
    );
    assert_eq!(s.passkey("nope").await.unwrap(), None);

    assert!(
        s.passkey_used("c2", "{\"cred\":\"new\"}", 99)
            .await
            .unwrap()
    );
    let used = s.passkey("c2").await.unwrap().unwrap();
    assert_eq!(
        (used.credential.as_str(), used.last_used_at),
        ("{\"cred\":\"new\"}", Some(99))
    );
    assert!(!s.passkey_used("nope", "{}", 99).await.unwrap());

    assert!(s.rename_passkey("u1", "c2", "Laptop").await.unwrap());
    assert!(
        !s.rename_passkey("u2", "c2", "Mine now").await.unwrap(),
        "another user's"
    );
    assert_eq!(s.passkey("c2").await.unwrap().unwrap().name, "Laptop");
    assert!(
        !s.remove_passkey("u2", "c2").await.unwrap(),
        "another user's"
    );
    assert!(s.remove_passkey("u1", "c2").await.unwrap());
    assert!(!s.remove_passkey("u1", "c2").await.unwrap());
    assert_eq!(s.passkey("c2").await.unwrap(), None);

    // The help desk's reset takes passkeys too; so does deleting the user.
    assert!(s.remove_second_factors("u1").await.unwrap());
    assert!(s.passkeys_of_user("u1").await.unwrap().is_empty());
    s.create_user(&UserRecord {
        id: "u3".into(),
        username: "cy".into(),
        claims: UserClaims::default(),
        password_hash: None,
        disabled: false,
        role: Role::None,
        created_at: 1,
        updated_at: 1,
        pending_until: None,
    })
    .await
    .unwrap();
    assert!(
        s.add_passkey(&passkey("c9", "u3", 1), None, 3)
            .await
            .unwrap()
    );
    assert!(s.delete_user("cy", 10).await.unwrap());
    assert_eq!(s.passkey("c9").await.unwrap(), None);
}

pub(crate) async fn racing_passkeys(s: Arc<dyn Store>) {
    // 20 concurrent registrations against a limit of 5: exactly 5 land.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.add_passkey(&passkey(&format!("r{i}"), "u1", i), None, 5)
                .await
                .unwrap()
        }));
    }
    let mut landed = 0;
    for t in tasks {
        landed += usize::from(t.await.unwrap());
    }
    assert_eq!(landed, 5);
    assert_eq!(s.passkeys_of_user("u1").await.unwrap().len(), 5);
}
