//! Passkeys (issue 16, WebAuthn §7.1, §7.2): registered on the account page, then used to
//! sign in with no username (a discoverable credential) or after a password as the second
//! factor; every answer checked (origin, RP ID, challenge, user verification, signature,
//! user handle), each ceremony single use, a passkey renamed and removed by its owner
//! only. The authenticator is the tests' own (`webauthn.rs`); Chrome's is in
//! `tests/browser/passkeys.mjs`.

use crate::flow::{Browser, PASSWORD, Page, unescape};
use crate::harness::{TestApp, spawn_app, spawn_with};
use crate::mfa::{MFA_ACR, id_token, recovery_codes, to_redirect};
use crate::webauthn::{Authenticator, Spoil};

/// The `data-options` of the page's passkey form, and that form's hidden fields.
struct PasskeyForm {
    options: String,
    fields: Vec<(String, String)>,
}

fn passkey_form(p: &Page) -> Option<PasskeyForm> {
    let at = p.body.find("data-passkey=\"")?;
    let start = p.body[..at].rfind("<form")?;
    let end = start + p.body[start..].find("</form>")?;
    let form = &p.body[start..end];
    let options = form.split("data-options=\"").nth(1)?.split('"').next()?;
    let fields = form
        .split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|s| {
            let name = s.split('"').next()?;
            let value = s.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_owned(), unescape(value)))
        })
        .collect();
    Some(PasskeyForm {
        options: unescape(options),
        fields,
    })
}

fn action_of(p: &Page) -> String {
    let at = p.body.find("data-passkey=\"").unwrap();
    let start = p.body[..at].rfind("<form").unwrap();
    let tag = &p.body[start..at];
    unescape(
        tag.split("action=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap(),
    )
}

impl Browser {
    /// Posts the page's passkey form with `credential` as the browser's answer, and `name`
    /// when registering.
    async fn post_passkey(&self, app: &TestApp, p: &Page, credential: &str, name: &str) -> Page {
        let form = passkey_form(p).expect("a passkey form");
        let mut fields: Vec<(&str, &str)> = form
            .fields
            .iter()
            .filter(|(k, _)| k != "credential")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        fields.push(("credential", credential));
        fields.push(("name", name));
        self.post_form(&app.url(&action_of(p)), &fields).await
    }
}

/// Signs `user` in with the password and registers a passkey named `name` from the
/// account page. The page after the registration.
async fn register(
    app: &TestApp,
    b: &Browser,
    user: &str,
    key: &mut Authenticator,
    name: &str,
) -> Page {
    let login = b.get(&app.url("/login")).await;
    let r = b.login(app, &login, user, PASSWORD).await;
    assert_eq!(r.location().as_deref(), Some("/account"), "{}", r.body);
    let account = b.get(&app.url("/account")).await;
    assert!(account.body.contains("Add a passkey"), "{}", account.body);
    let form = passkey_form(&account).expect("the account page offers a passkey");
    let credential = key.register(&form.options);
    b.post_passkey(app, &account, &credential, name).await
}

fn origin(app: &TestApp) -> String {
    app.base.clone()
}

#[tokio::test]
async fn a_passkey_registered_on_the_account_page_signs_in_with_no_username() {
    let app = spawn_app().await;
    let sub = app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let mut key = Authenticator::new(&origin(&app));
    let b = app.browser();
    let done = register(&app, &b, "alice", &mut key, "Laptop").await;
    // A first passkey brings recovery codes (a lost passkey must not lock anyone out).
    assert_eq!(recovery_codes(&done).len(), 10, "{}", done.body);
    let stored = app.store.passkeys_of_user(&sub).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].credential_id, key.cred_id_b64());
    assert_eq!(stored[0].name, "Laptop");
    let account = b.get(&app.url("/account")).await;
    assert!(account.body.contains("Laptop") && account.body.contains("Not used yet"));

    // Another browser: the login page offers the passkey; no username is typed.
    let other = app.browser();
    let login = other.get(&app.authorize_url(&id, "")).await;
    assert!(
        login.body.contains("Sign in with a passkey"),
        "{}",
        login.body
    );
    assert!(login.body.contains("autocomplete=\"username webauthn\""));
    let form = passkey_form(&login).unwrap();
    let answer = key.assert(&form.options);
    let r = other.post_passkey(&app, &login, &answer, "").await;
    let location = to_redirect(&app, &other, r).await;
    let claims = id_token(&app, &id, &secret, &location).await;
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["amr"], serde_json::json!(["hwk", "user", "mfa"]));
    assert_eq!(claims["acr"], MFA_ACR);
    let used = app
        .store
        .passkey(&key.cred_id_b64())
        .await
        .unwrap()
        .unwrap();
    assert!(used.last_used_at.is_some());
    let account = other.get(&app.url("/account")).await;
    assert!(account.body.contains("Last used"), "{}", account.body);
}

#[tokio::test]
async fn a_synced_passkey_is_a_software_key() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let mut key = Authenticator::new(&origin(&app));
    key.synced = true;
    register(&app, &app.browser(), "alice", &mut key, "Phone").await;
    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    let answer = key.assert(&passkey_form(&login).unwrap().options);
    let r = b.post_passkey(&app, &login, &answer, "").await;
    let location = to_redirect(&app, &b, r).await;
    let claims = id_token(&app, &id, &secret, &location).await;
    assert_eq!(claims["amr"], serde_json::json!(["swk", "user", "mfa"]));
}

#[tokio::test]
async fn every_part_of_a_sign_in_answer_is_checked_and_it_counts_once() {
    let app = spawn_app().await;
    app.user("alice").await;
    let bob = app.user("bob").await;
    let mut key = Authenticator::new(&origin(&app));
    register(&app, &app.browser(), "alice", &mut key, "Laptop").await;
    let spoils = [
        (
            "another origin",
            Spoil {
                origin: Some("https://evil.example".into()),
                ..Default::default()
            },
        ),
        (
            "another RP ID",
            Spoil {
                rp_id: Some("evil.example".into()),
                ..Default::default()
            },
        ),
        (
            "no user verification",
            Spoil {
                no_user_verification: true,
                ..Default::default()
            },
        ),
        (
            "a broken signature",
            Spoil {
                bad_signature: true,
                ..Default::default()
            },
        ),
        (
            "another challenge",
            Spoil {
                challenge: Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
                ..Default::default()
            },
        ),
        (
            "bob's user handle",
            Spoil {
                user_handle: Some(handle_of(&app, &bob).await),
                ..Default::default()
            },
        ),
    ];
    for (what, spoil) in spoils {
        let b = app.browser();
        let login = b.get(&app.url("/login")).await;
        let answer = key.assert_spoiled(&passkey_form(&login).unwrap().options, &spoil);
        let r = b.post_passkey(&app, &login, &answer, "").await;
        assert_eq!(r.status, 200, "{what}: {}", r.body);
        assert!(
            r.body.contains("could not be used to sign in"),
            "{what}: {}",
            r.body
        );
        assert!(
            passkey_form(&r).is_some(),
            "{what}: offered again, with a new challenge"
        );
        let account = b.get(&app.url("/account")).await;
        assert_eq!(
            account.location().as_deref(),
            Some("/login"),
            "{what}: no session"
        );
    }
    // Garbage instead of an answer: the same.
    let b = app.browser();
    let login = b.get(&app.url("/login")).await;
    let r = b.post_passkey(&app, &login, "{\"id\":1}", "").await;
    assert!(
        r.body.contains("could not be used to sign in"),
        "{}",
        r.body
    );

    // A good answer signs in once; the same form and answer again finds it spent.
    let b = app.browser();
    let login = b.get(&app.url("/login")).await;
    let answer = key.assert(&passkey_form(&login).unwrap().options);
    let r = b.post_passkey(&app, &login, &answer, "").await;
    assert_eq!(r.location().as_deref(), Some("/account"), "{}", r.body);
    let again = b.post_passkey(&app, &login, &answer, "").await;
    assert_eq!(again.status, 400, "{}", again.body);
}

/// The user handle Valet gives `sub`'s passkeys (read off a registration's options).
async fn handle_of(app: &TestApp, sub: &str) -> Vec<u8> {
    let user = app.store.user(sub).await.unwrap().unwrap();
    let b = app.browser();
    let login = b.get(&app.url("/login")).await;
    b.login(app, &login, &user.username, PASSWORD).await;
    let account = b.get(&app.url("/account")).await;
    let options: serde_json::Value =
        serde_json::from_str(&passkey_form(&account).unwrap().options).unwrap();
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(options["publicKey"]["user"]["id"].as_str().unwrap())
        .unwrap()
}

#[tokio::test]
async fn registration_answers_are_checked_and_a_credential_is_one_users() {
    let app = spawn_app().await;
    let sub = app.user("alice").await;
    app.user("bob").await;
    let b = app.browser();
    let login = b.get(&app.url("/login")).await;
    b.login(&app, &login, "alice", PASSWORD).await;
    for (what, spoil) in [
        (
            "another origin",
            Spoil {
                origin: Some("https://evil.example".into()),
                ..Default::default()
            },
        ),
        (
            "another RP ID",
            Spoil {
                rp_id: Some("evil.example".into()),
                ..Default::default()
            },
        ),
        (
            "no user verification",
            Spoil {
                no_user_verification: true,
                ..Default::default()
            },
        ),
    ] {
        let account = b.get(&app.url("/account")).await;
        let mut key = Authenticator::new(&origin(&app));
        let answer = key.register_spoiled(&passkey_form(&account).unwrap().options, &spoil);
        let r = b.post_passkey(&app, &account, &answer, "x").await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert!(
            r.body.contains("The passkey was not added"),
            "{what}: {}",
            r.body
        );
    }
    assert!(app.store.passkeys_of_user(&sub).await.unwrap().is_empty());

    // Alice's credential, registered again by Bob, is refused.
    let mut key = Authenticator::new(&origin(&app));
    let account = b.get(&app.url("/account")).await;
    let answer = key.register(&passkey_form(&account).unwrap().options);
    b.post_passkey(&app, &account, &answer, "Mine").await;
    let bob = app.browser();
    let login = bob.get(&app.url("/login")).await;
    bob.login(&app, &login, "bob", PASSWORD).await;
    let account = bob.get(&app.url("/account")).await;
    let answer = key.register(&passkey_form(&account).unwrap().options);
    let r = bob.post_passkey(&app, &account, &answer, "Stolen").await;
    assert!(r.body.contains("registered already"), "{}", r.body);
    // And a registration form counts once.
    let account = b.get(&app.url("/account")).await;
    let mut another = Authenticator::new(&origin(&app));
    let answer = another.register(&passkey_form(&account).unwrap().options);
    let first = b.post_passkey(&app, &account, &answer, "Two").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = b.post_passkey(&app, &account, &answer, "Two").await;
    assert!(again.body.contains("used already"), "{}", again.body);
    assert_eq!(app.store.passkeys_of_user(&sub).await.unwrap().len(), 2);
}

#[tokio::test]
async fn after_a_password_a_passkey_is_the_second_factor() {
    let app = spawn_app().await;
    let sub = app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let mut key = Authenticator::new(&origin(&app));
    register(&app, &app.browser(), "alice", &mut key, "Laptop").await;

    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    let step = b.login(&app, &login, "alice", PASSWORD).await;
    assert!(step.body.contains("Use a passkey"), "{}", step.body);
    assert!(step.body.contains("Recovery code"), "{}", step.body);
    // A spoiled answer is refused and the step offered again.
    let form = passkey_form(&step).unwrap();
    let spoiled = key.assert_spoiled(
        &form.options,
        &Spoil {
            bad_signature: true,
            ..Default::default()
        },
    );
    let refused = b.post_passkey(&app, &step, &spoiled, "").await;
    assert!(
        refused.body.contains("That passkey could not be used"),
        "{}",
        refused.body
    );
    let form = passkey_form(&refused).unwrap();
    let answer = key.assert(&form.options);
    let r = b.post_passkey(&app, &refused, &answer, "").await;
    let location = to_redirect(&app, &b, r).await;
    let claims = id_token(&app, &id, &secret, &location).await;
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "hwk", "mfa"]));
    assert_eq!(claims["acr"], MFA_ACR);
}

#[tokio::test]
async fn a_passkey_is_renamed_and_removed_by_its_owner_only() {
    let app = spawn_app().await;
    let sub = app.user("alice").await;
    app.user("bob").await;
    let mut key = Authenticator::new(&origin(&app));
    let b = app.browser();
    register(&app, &b, "alice", &mut key, "Laptop").await;
    let id = key.cred_id_b64();
    let account = b.get(&app.url("/account")).await;
    let csrf = account.field("csrf").unwrap();

    let bob = app.browser();
    let login = bob.get(&app.url("/login")).await;
    bob.login(&app, &login, "bob", PASSWORD).await;
    let bob_csrf = bob.get(&app.url("/account")).await.field("csrf").unwrap();
    for path in ["/account/passkeys/rename", "/account/passkeys/remove"] {
        let r = bob
            .post_form(
                &app.url(path),
                &[("csrf", &bob_csrf), ("passkey", &id), ("name", "Bob's")],
            )
            .await;
        assert!(r.body.contains("not one of yours"), "{path}: {}", r.body);
    }
    // Without the CSRF token, nothing happens.
    let r = b
        .post_form(&app.url("/account/passkeys/remove"), &[("passkey", &id)])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(app.store.passkeys_of_user(&sub).await.unwrap().len(), 1);

    let r = b
        .post_form(
            &app.url("/account/passkeys/rename"),
            &[
                ("csrf", &csrf),
                ("passkey", &id),
                ("name", "  Work laptop  "),
            ],
        )
        .await;
    assert!(
        r.body.contains("Passkey renamed “Work laptop”"),
        "{}",
        r.body
    );
    let r = b
        .post_form(
            &app.url("/account/passkeys/remove"),
            &[("csrf", &csrf), ("passkey", &id)],
        )
        .await;
    assert!(
        r.body.contains("Passkey “Work laptop” removed"),
        "{}",
        r.body
    );
    assert!(app.store.passkeys_of_user(&sub).await.unwrap().is_empty());

    // A removed passkey signs nobody in.
    let c = app.browser();
    let login = c.get(&app.url("/login")).await;
    let answer = key.assert(&passkey_form(&login).unwrap().options);
    let r = c.post_passkey(&app, &login, &answer, "").await;
    assert!(
        r.body.contains("could not be used to sign in"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn a_disabled_user_does_not_sign_in_with_a_passkey() {
    let app = spawn_app().await;
    app.user("alice").await;
    let mut key = Authenticator::new(&origin(&app));
    register(&app, &app.browser(), "alice", &mut key, "Laptop").await;
    app.admin
        .set_disabled("alice", true, app.now())
        .await
        .unwrap();
    let b = app.browser();
    let login = b.get(&app.url("/login")).await;
    let answer = key.assert(&passkey_form(&login).unwrap().options);
    let r = b.post_passkey(&app, &login, &answer, "").await;
    assert!(
        r.body.contains("could not be used to sign in"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn an_issuer_that_is_an_address_offers_no_passkeys() {
    let app = spawn_with(|mut p| {
        p.issuer = p.issuer.map(|i| i.replace("localhost", "127.0.0.1"));
        p
    })
    .await;
    app.user("alice").await;
    let b = app.browser();
    let login = b.get(&app.url("/login")).await;
    assert!(!login.body.contains("passkey"), "{}", login.body);
    b.login(&app, &login, "alice", PASSWORD).await;
    let account = b.get(&app.url("/account")).await;
    assert!(!account.body.contains("Add a passkey"), "{}", account.body);
}

#[tokio::test]
async fn passkey_answers_at_the_second_step_are_counted_like_codes() {
    let app = spawn_app().await;
    app.user("alice").await;
    let mut key = Authenticator::new(&origin(&app));
    register(&app, &app.browser(), "alice", &mut key, "Laptop").await;
    let b = app.browser();
    let login = b.get(&app.url("/login")).await;
    let mut step = b.login(&app, &login, "alice", PASSWORD).await;
    let spoil = Spoil {
        bad_signature: true,
        ..Default::default()
    };
    for _ in 0..10 {
        let answer = key.assert_spoiled(&passkey_form(&step).unwrap().options, &spoil);
        step = b.post_passkey(&app, &step, &answer, "").await;
        assert_eq!(step.status, 200, "{}", step.body);
    }
    // The account's attempts are spent: even the right answer waits.
    let answer = key.assert(&passkey_form(&step).unwrap().options);
    let r = b.post_passkey(&app, &step, &answer, "").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.headers.get("retry-after").is_some());
    app.clock.advance(301);
    let answer = key.assert(&passkey_form(&r).unwrap().options);
    let done = b.post_passkey(&app, &r, &answer, "").await;
    assert_eq!(
        done.location().as_deref(),
        Some("/account"),
        "{}",
        done.body
    );
}

#[tokio::test]
async fn passkey_sign_ins_are_counted_per_address() {
    // Anyone can start a passkey sign-in: each answer costs a lookup and a signature check,
    // so an address gets mfa::PER_ADDRESS (60) a minute; a success gives its count back.
    let app = spawn_app().await;
    app.user("alice").await;
    let mut key = Authenticator::new(&origin(&app));
    register(&app, &app.browser(), "alice", &mut key, "Laptop").await;
    let b = app.browser();
    let login = b.get(&app.url("/login")).await;
    let answer = key.assert(&passkey_form(&login).unwrap().options);
    let r = b.post_passkey(&app, &login, &answer, "").await;
    assert_eq!(r.location().as_deref(), Some("/account"), "{}", r.body);
    let spoil = Spoil {
        bad_signature: true,
        ..Default::default()
    };
    let b = app.browser();
    let mut page = b.get(&app.url("/login")).await;
    for i in 0..60 {
        let answer = key.assert_spoiled(&passkey_form(&page).unwrap().options, &spoil);
        page = b.post_passkey(&app, &page, &answer, "").await;
        assert_eq!(page.status, 200, "attempt {i}: {}", page.body);
    }
    let answer = key.assert(&passkey_form(&page).unwrap().options);
    let r = b.post_passkey(&app, &page, &answer, "").await;
    assert_eq!(r.status, 429, "even the right answer waits: {}", r.body);
    assert!(r.headers.get("retry-after").is_some());
    app.clock.advance(61);
    let login = b.get(&app.url("/login")).await;
    let answer = key.assert(&passkey_form(&login).unwrap().options);
    let r = b.post_passkey(&app, &login, &answer, "").await;
    assert_eq!(r.location().as_deref(), Some("/account"), "{}", r.body);
}
