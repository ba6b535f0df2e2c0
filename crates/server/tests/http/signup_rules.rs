//! Issue 16, sign-up's rules and what an unauthenticated caller can make it do: the form
//! checks each field (the password rule included) and its CSRF token; an address with an
//! account gets a note, never a second account, and the page says the same; links work
//! once and expire on the node's clock, and an account never confirmed is purged; asking
//! is throttled per client address and per email address.

use crate::flow::Browser;
use crate::harness::TestApp;
use crate::signup::{NEW_PASSWORD, confirm, link_in, login, sign_up, with_signup};

/// A body with the address typed taken out.
fn shape(body: &str, email: &str) -> String {
    body.replace(email, "EMAIL")
}

async fn post(app: &TestApp, b: &Browser, fields: &[(&str, &str)]) -> crate::flow::Page {
    let csrf = b.get(&app.url("/signup")).await.field("csrf").unwrap();
    let mut form = fields.to_vec();
    form.push(("csrf", &csrf));
    b.post_form(&app.url("/signup"), &form).await
}

/// The fields sent, the field said to be wrong, and what is said of it.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

#[tokio::test]
async fn the_form_checks_each_field_and_the_password_rule() {
    let (app, sink) = with_signup(None).await;
    app.user("alice").await;
    let b = app.browser();
    let cases: &[Case] = &[
        (
            &[("email", "n@example.com"), ("password", NEW_PASSWORD)],
            "username",
            "Choose a username",
        ),
        (
            &[
                ("username", "a b"),
                ("email", "n@example.com"),
                ("password", NEW_PASSWORD),
            ],
            "username",
            "may not contain spaces",
        ),
        (
            &[
                ("username", "victim@example.com"),
                ("email", "n@example.com"),
                ("password", NEW_PASSWORD),
            ],
            "username",
            "must be the email address you sign up with",
        ),
        (
            &[("username", "newcomer"), ("password", NEW_PASSWORD)],
            "email",
            "Enter your email address",
        ),
        (
            &[
                ("username", "newcomer"),
                ("email", "not-an-address"),
                ("password", NEW_PASSWORD),
            ],
            "email",
            "not an email address",
        ),
        (
            &[
                ("username", "newcomer"),
                ("email", "n@example.com"),
                ("password", "short"),
            ],
            "password",
            "at least 8 characters",
        ),
        (
            &[
                ("username", "newcomer"),
                ("email", "n@example.com"),
                ("password", "Password1"),
            ],
            "password",
            "too common",
        ),
        (
            &[
                ("username", "newcomer"),
                ("email", "n@example.com"),
                ("password", "Trustno1"),
            ],
            "password",
            "too common",
        ),
        (
            &[
                ("username", "newcomer2024"),
                ("email", "n@example.com"),
                ("password", "NEWCOMER2024"),
            ],
            "password",
            "cannot be your username",
        ),
        (
            &[
                ("username", "alice"),
                ("email", "n@example.com"),
                ("password", NEW_PASSWORD),
            ],
            "username",
            "That username is taken",
        ),
        (
            &[
                ("username", "ALICE"),
                ("email", "n@example.com"),
                ("password", NEW_PASSWORD),
            ],
            "username",
            "That username is taken",
        ),
    ];
    for (fields, field, message) in cases {
        let r = post(&app, &b, fields).await;
        assert_eq!(r.status, 400, "{message}: {}", r.body);
        assert!(r.body.contains(message), "{message}: {}", r.body);
        assert!(
            r.body.contains(&format!("id=\"{field}-error\"")),
            "{field}: {}",
            r.body
        );
        // What was typed comes back, but never the password.
        if let Some((_, email)) = fields.iter().find(|(k, _)| *k == "email") {
            assert!(r.body.contains(&format!("value=\"{email}\"")), "{}", r.body);
        }
        for (k, v) in *fields {
            if *k == "password" {
                assert!(!r.body.contains(&format!("value=\"{v}\"")));
            }
        }
    }
    // Several faults, each said by its field.
    let r = post(
        &app,
        &b,
        &[("username", ""), ("email", "x"), ("password", "x")],
    )
    .await;
    for field in ["username", "email", "password"] {
        assert!(r.body.contains(&format!("id=\"{field}-error\"")), "{field}");
    }
    // A name with control characters is refused; an over-long one too.
    let long = "n".repeat(201);
    for name in ["bad\u{7}name", long.as_str()] {
        let r = post(
            &app,
            &b,
            &[
                ("username", "newcomer"),
                ("email", "n@example.com"),
                ("name", name),
                ("password", NEW_PASSWORD),
            ],
        )
        .await;
        assert_eq!(r.status, 400);
        assert!(r.body.contains("id=\"name-error\""));
    }
    assert_eq!(app.store.users().await.unwrap().len(), 1, "only alice");
    assert!(sink.messages.lock().unwrap().is_empty());

    // Without the CSRF token (or with another browser's), nothing happens.
    let other = app.browser();
    let csrf = other.get(&app.url("/signup")).await.field("csrf").unwrap();
    b.get(&app.url("/signup")).await;
    for token in [None, Some(csrf.as_str())] {
        let mut form = vec![
            ("username", "newcomer"),
            ("email", "n@example.com"),
            ("password", NEW_PASSWORD),
        ];
        if let Some(t) = token {
            form.push(("csrf", t));
        }
        let r = b.post_form(&app.url("/signup"), &form).await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    assert!(
        app.store
            .user_by_username("newcomer")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_address_with_an_account_gets_a_note_and_the_page_says_the_same() {
    let (app, sink) = with_signup(None).await;
    app.user("alice").await;
    let b = app.browser();
    let fresh = sign_up(&app, &b, "newcomer", "new@example.com", NEW_PASSWORD).await;
    let taken = sign_up(&app, &b, "newalice", "ALICE@example.com", NEW_PASSWORD).await;
    assert_eq!((fresh.status, taken.status), (200, 200));
    assert_eq!(
        shape(&fresh.body, "new@example.com"),
        shape(&taken.body, "ALICE@example.com"),
        "the same page whether the address has an account or not"
    );
    assert!(
        app.store
            .user_by_username("newalice")
            .await
            .unwrap()
            .is_none()
    );
    let messages = sink.wait_for(2).await;
    let note = messages
        .iter()
        .find(|m| m.to == ["<ALICE@example.com>"])
        .expect("a note to the address");
    assert!(link_in(note).is_none(), "no account, so no link");
    assert!(note.data.contains("Someone tried to create"));
    assert!(note.data.contains("already has one: alice"));
    assert!(note.data.contains("/password/forgot"));

    // An address whose account is itself waiting gets a fresh link for that account; the
    // earlier link stops working.
    let first = link_in(&messages[0]).unwrap();
    let again = sign_up(&app, &b, "someone-else", "new@example.com", NEW_PASSWORD).await;
    assert_eq!(again.status, 200);
    let messages = sink.wait_for(3).await;
    let second = link_in(&messages[2]).expect("a fresh link");
    assert!(messages[2].data.contains("newcomer"));
    assert_ne!(first, second);
    assert!(
        app.store
            .user_by_username("someone-else")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(b.get(&app.url(&first)).await.status, 400);
    assert_eq!(confirm(&app, &b, &second).await.status, 200);
}

#[tokio::test]
async fn links_expire_and_accounts_never_confirmed_are_purged() {
    let (app, sink) = with_signup(None).await;
    let b = app.browser();
    sign_up(&app, &b, "newcomer", "new@example.com", NEW_PASSWORD).await;
    let link = link_in(&sink.wait_for(1).await[0]).unwrap();
    let page = b.get(&app.url(&link)).await;
    let token = page.field("token").unwrap();
    // A day and a second later (the node's clock, no waiting): the link is dead, and the
    // purge takes the account with it.
    app.clock.advance(24 * 3600 + 1);
    assert_eq!(b.get(&app.url(&link)).await.status, 400);
    let late = b
        .post_form(
            &app.url("/signup/verify"),
            &[("token", &token), ("csrf", &page.field("csrf").unwrap())],
        )
        .await;
    assert_eq!(late.status, 400);
    assert!(
        app.store
            .user_by_username("newcomer")
            .await
            .unwrap()
            .is_some()
    );
    app.store.purge_expired(app.now(), 1000).await.unwrap();
    assert!(
        app.store
            .user_by_username("newcomer")
            .await
            .unwrap()
            .is_none()
    );
    // The name is free again.
    let again = sign_up(&app, &b, "newcomer", "new@example.com", NEW_PASSWORD).await;
    assert_eq!(again.status, 200);

    // A new link moves the deadline: 20 hours on, one more; 10 hours after that (30 after
    // signing up) it still works and the purge leaves the account alone.
    app.clock.advance(20 * 3600);
    let resend = b.get(&app.url("/signup/resend?username=newcomer")).await;
    assert_eq!(resend.status, 200);
    assert_eq!(resend.field("who").as_deref(), Some("newcomer"));
    let sent = b
        .post_form(
            &app.url("/signup/resend"),
            &[
                ("who", "newcomer"),
                ("csrf", &resend.field("csrf").unwrap()),
            ],
        )
        .await;
    assert_eq!(sent.status, 200);
    assert!(sent.body.contains("Check your email"));
    let messages = sink.wait_for(3).await;
    let fresh = link_in(&messages[2]).unwrap();
    app.clock.advance(10 * 3600);
    app.store.purge_expired(app.now(), 1000).await.unwrap();
    assert_eq!(confirm(&app, &b, &fresh).await.status, 200);
    assert_eq!(login(&app, &b, "newcomer", NEW_PASSWORD).await.status, 303);
}

#[tokio::test]
async fn resending_tells_nobody_which_accounts_exist_or_wait() {
    let (app, sink) = with_signup(None).await;
    app.user("alice").await;
    let b = app.browser();
    sign_up(&app, &b, "newcomer", "new@example.com", NEW_PASSWORD).await;
    sink.wait_for(1).await;
    let csrf = b
        .get(&app.url("/signup/resend"))
        .await
        .field("csrf")
        .unwrap();
    let mut shapes = Vec::new();
    for who in [
        "nobody",
        "alice",
        "alice@example.com",
        "newcomer",
        "new@example.com",
    ] {
        let r = b
            .post_form(&app.url("/signup/resend"), &[("who", who), ("csrf", &csrf)])
            .await;
        assert_eq!(r.status, 200, "{who}");
        shapes.push(r.body);
    }
    assert!(shapes.windows(2).all(|w| w[0] == w[1]), "one page for all");
    // Only the waiting account got mail (by name, then by address); alice got nothing.
    let messages = sink.wait_for(3).await;
    assert!(messages.iter().all(|m| m.to == ["<new@example.com>"]));
    // A pending account asks for no password reset: its link confirms it first.
    let forgot = b.get(&app.url("/password/forgot")).await;
    let r = b
        .post_form(
            &app.url("/password/forgot"),
            &[
                ("who", "newcomer"),
                ("csrf", &forgot.field("csrf").unwrap()),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    // Mail goes out in order: had the reset been sent, it would come before this link.
    b.post_form(
        &app.url("/signup/resend"),
        &[("who", "newcomer"), ("csrf", &csrf)],
    )
    .await;
    let messages = sink.wait_for(4).await;
    assert!(
        link_in(&messages[3]).is_some(),
        "no reset link for a pending account"
    );
    assert!(!messages.iter().any(|m| m.data.contains("/password/reset")));
}

#[tokio::test]
async fn sign_ups_are_throttled_per_email_address_and_per_client_address() {
    let (app, _sink) = with_signup(None).await;
    app.user("alice").await;
    let b = app.browser();
    // A taken username is counted before it is said, and costs no hashing: these count
    // without making accounts.
    let try_as = |email: String| {
        let b = &b;
        let app = &app;
        async move {
            post(
                app,
                b,
                &[
                    ("username", "alice"),
                    ("email", &email),
                    ("password", NEW_PASSWORD),
                ],
            )
            .await
            .status
        }
    };
    for _ in 0..3 {
        assert_eq!(try_as("same@example.com".into()).await, 400);
    }
    assert_eq!(
        try_as("SAME@example.com".into()).await,
        429,
        "the fourth for one address in an hour"
    );
    for i in 0..7 {
        assert_eq!(try_as(format!("other{i}@example.com")).await, 400);
    }
    let r = post(
        &app,
        &b,
        &[
            ("username", "alice"),
            ("email", "yet-another@example.com"),
            ("password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(
        r.status, 429,
        "the eleventh from one client address in an hour"
    );
    assert!(r.headers.get("retry-after").is_some());
    // An hour later it may ask again.
    app.clock.advance(3601);
    assert_eq!(try_as("same@example.com".into()).await, 400);
}

#[tokio::test]
async fn an_admin_can_activate_a_pending_account() {
    let (app, _sink) = with_signup(None).await;
    let b = app.browser();
    sign_up(&app, &b, "newcomer", "new@example.com", NEW_PASSWORD).await;
    assert_eq!(login(&app, &b, "newcomer", NEW_PASSWORD).await.status, 403);
    let u = app
        .admin
        .set_disabled("newcomer", false, app.now())
        .await
        .unwrap();
    assert_eq!(u.pending_until, None);
    assert_eq!(login(&app, &b, "newcomer", NEW_PASSWORD).await.status, 303);
}
