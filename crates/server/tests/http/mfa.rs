//! Second factors (issue 16): enrolling an authenticator app (QR code and URI shown, the
//! first code confirms), the code after the password before any session, single use and
//! ±1 step of drift, racing submits, recovery codes, removal and the help desk's reset.
//! The policy, step-up and throttling are in `mfa_policy.rs`. Codes are computed here,
//! independently of the server's code (RFC 4226 §5.3), and time moves on the node's
//! `ManualClock`.

use aws_lc_rs::hmac;
use serde_json::Value;
use std::time::Duration;
use valet_store::AuditQuery;

use crate::flow::{Browser, PASSWORD, Page, REDIRECT, param, unescape};
use crate::harness::{TestApp, spawn_app};

pub(crate) const MFA_ACR: &str = "urn:valet:acr:mfa";

pub(crate) fn hotp(secret: &[u8], counter: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let h = hmac::sign(&key, &(counter as u64).to_be_bytes());
    let h = h.as_ref();
    let o = (h[19] & 0xf) as usize;
    let n = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]) % 1_000_000;
    format!("{n:06}")
}

pub(crate) fn unbase32(s: &str) -> Vec<u8> {
    let (mut out, mut buf, mut bits) = (Vec::new(), 0u32, 0);
    for c in s.bytes() {
        let v = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
            .iter()
            .position(|&a| a == c)
            .unwrap() as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

/// The secret of the `otpauth://` URI an enrolment page shows as text.
pub(crate) fn secret_of(p: &Page) -> Vec<u8> {
    let body = unescape(&p.body);
    let at = body.find("otpauth://totp/").expect("the URI as text");
    let uri = &body[at..at + body[at..].find('<').unwrap()];
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    unbase32(secret)
}

/// The code of the step `offset` steps from now.
pub(crate) fn code(app: &TestApp, secret: &[u8], offset: i64) -> String {
    hotp(secret, app.now().div_euclid(30) + offset)
}

pub(crate) fn is_code_page(p: &Page) -> bool {
    p.status == 200
        && p.body.contains("name=\"code\"")
        && p.body.contains("autocomplete=\"one-time-code\"")
        && p.body.contains("inputmode=\"numeric\"")
        && !p.body.contains("name=\"password\"")
}

pub(crate) fn recovery_codes(p: &Page) -> Vec<String> {
    p.body
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_owned())
        .collect()
}

pub(crate) fn sessions(app: &TestApp) -> i64 {
    let db = rusqlite::Connection::open(app.sqlite_path()).unwrap();
    db.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
        .unwrap()
}

/// Moves the clock to 5 s into a step, so ±1 step means what it says.
pub(crate) fn align(app: &TestApp) {
    app.clock.set((app.now().div_euclid(30) + 1) * 30 + 5);
}

impl Browser {
    pub(crate) async fn submit_code(&self, app: &TestApp, form: &Page, code: &str) -> Page {
        let action = if unescape(&form.body).contains("action=\"/account/authenticator\"") {
            "/account/authenticator"
        } else {
            "/login/second-factor"
        };
        self.post_form(
            &app.url(action),
            &[
                ("csrf", &form.field("csrf").unwrap()),
                ("interaction", &form.field("interaction").unwrap()),
                ("code", code),
            ],
        )
        .await
    }
}

/// Signs `user` in on `/login` (password only) and enrols an authenticator app from the
/// account page: the secret and the recovery codes.
pub(crate) async fn enrol(app: &TestApp, b: &Browser, user: &str) -> (Vec<u8>, Vec<String>) {
    let login = b.get(&app.url("/login")).await;
    let r = b.login(app, &login, user, PASSWORD).await;
    assert_eq!(r.location().as_deref(), Some("/account"), "{}", r.body);
    let account = b.get(&app.url("/account")).await;
    assert!(account.body.contains("Set up an authenticator app"));
    let p = b.get(&app.url("/account/authenticator")).await;
    assert!(is_code_page(&p), "{}", p.body);
    let secret = secret_of(&p);
    let done = b.submit_code(app, &p, &code(app, &secret, 0)).await;
    let codes = recovery_codes(&done);
    assert_eq!(codes.len(), 10, "{}", done.body);
    (secret, codes)
}

pub(crate) fn claims_of(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// The ID token the redirect's code redeems for.
pub(crate) async fn id_token(app: &TestApp, id: &str, secret: &str, location: &str) -> Value {
    let r = app.redeem(id, secret, location).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    claims_of(body["id_token"].as_str().unwrap())
}

/// From the page after the password (or the second factor) to the redirect: allows
/// consent when asked.
pub(crate) async fn to_redirect(app: &TestApp, b: &Browser, mut p: Page) -> String {
    if p.status == 200 && p.body.contains("value=\"allow\"") {
        p = b.consent(app, &p, "allow").await;
    }
    assert_eq!(p.status, 303, "{}", p.body);
    let location = p.location().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    location
}

pub(crate) async fn audit_actions(app: &TestApp, prefix: &str) -> Vec<String> {
    // Security events are written by a background task: wait for them a little.
    for _ in 0..50 {
        let events = app
            .store
            .audit_events(&AuditQuery {
                action: Some(prefix.into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        if !events.is_empty() {
            return events.into_iter().map(|e| e.action).collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    vec![]
}

#[tokio::test]
async fn enrolment_shows_a_qr_code_and_the_uri_and_the_first_code_confirms_it() {
    let app = spawn_app().await;
    let sub = app.user("alice").await;
    align(&app);
    let b = app.browser();
    let login = b.get(&app.url("/login")).await;
    b.login(&app, &login, "alice", PASSWORD).await;
    let p = b.get(&app.url("/account/authenticator")).await;
    assert!(is_code_page(&p), "{}", p.body);
    assert!(
        p.body.contains("<svg class=\"qr\""),
        "the QR code, as markup"
    );
    let text = unescape(&p.body);
    assert!(text.contains("otpauth://totp/Valet:alice?secret="));
    assert!(text.contains("&issuer=Valet&"));
    let secret = secret_of(&p);
    assert_eq!(secret.len(), 20);

    // A wrong first code enrols nothing; the form comes back with the same secret.
    let wrong = b.submit_code(&app, &p, "000000").await;
    assert!(is_code_page(&wrong) && wrong.body.contains("not right"));
    assert_eq!(secret_of(&wrong), secret);
    assert!(app.store.totp(&sub).await.unwrap().is_none());
    // The spent form does not open again.
    let spent = b.submit_code(&app, &p, &code(&app, &secret, 0)).await;
    assert_eq!(spent.status, 400, "{}", spent.body);

    let done = b.submit_code(&app, &wrong, &code(&app, &secret, 0)).await;
    let codes = recovery_codes(&done);
    assert_eq!(codes.len(), 10);
    assert_eq!(
        done.headers.get("cache-control").unwrap(),
        "no-store",
        "recovery codes are shown once"
    );
    let record = app.store.totp(&sub).await.unwrap().unwrap();
    assert!(
        !record
            .sealed_secret
            .windows(20)
            .any(|w| w == secret.as_slice()),
        "the secret is sealed at rest"
    );
    assert_eq!(app.store.recovery_codes_left(&sub).await.unwrap(), 10);
    let account = b.get(&app.url("/account")).await;
    assert!(account.body.contains("An authenticator app is set up"));
    assert!(account.body.contains("10 recovery codes left"));
    assert!(audit_actions(&app, "mfa.enrolled").await.len() == 1);
}

#[tokio::test]
async fn the_code_comes_after_the_password_and_only_then_a_session() {
    let app = spawn_app().await;
    app.user("alice").await;
    align(&app);
    let (secret, _) = enrol(&app, &app.browser(), "alice").await;
    // The enrolment spent this step's code.
    app.clock.advance(30);
    let (id, client_secret) = app.web_client().await;
    let before = sessions(&app);

    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    let p = b.login(&app, &login, "alice", PASSWORD).await;
    assert!(is_code_page(&p), "{}", p.body);
    assert!(p.body.contains("recovery code"));
    assert!(
        !p.headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("__Host-valet-session")),
        "no session cookie before the second factor"
    );
    assert_eq!(
        sessions(&app),
        before,
        "no session after the password alone"
    );

    // Another browser cannot submit this form.
    let other = app.browser();
    let stolen = other.submit_code(&app, &p, &code(&app, &secret, 0)).await;
    assert_ne!(stolen.status, 303);

    let wrong = b.submit_code(&app, &p, "123456").await;
    assert!(is_code_page(&wrong) && wrong.body.contains("not right"));
    assert_eq!(sessions(&app), before);
    let ok = b.submit_code(&app, &wrong, &code(&app, &secret, 0)).await;
    assert_eq!(sessions(&app), before + 1);
    let location = to_redirect(&app, &b, ok).await;
    let claims = id_token(&app, &id, &client_secret, &location).await;
    assert_eq!(claims["acr"], MFA_ACR);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));

    // Single sign-on: the session has both factors, nothing asked again.
    let again = b.sign_in(&app, &app.authorize_url(&id, ""), "alice").await;
    assert!(param(&again, "code").is_some());
}

#[tokio::test]
async fn a_code_counts_once_and_one_step_of_drift_either_side() {
    let app = spawn_app().await;
    app.user("alice").await;
    align(&app);
    let (secret, _) = enrol(&app, &app.browser(), "alice").await;
    // Past the enrolment's step (its code is spent), on a step of its own.
    app.clock.advance(120);
    let (id, _) = app.web_client().await;
    let second_step = async |b: &Browser| {
        let login = b.get(&app.authorize_url(&id, "")).await;
        b.login(&app, &login, "alice", PASSWORD).await
    };
    let signed_in = |p: &Page| p.status == 303 || p.body.contains("value=\"allow\"");

    let b1 = app.browser();
    let p = second_step(&b1).await;
    let p = b1.submit_code(&app, &p, &code(&app, &secret, -2)).await;
    assert!(is_code_page(&p), "two steps behind: refused");
    let p = b1.submit_code(&app, &p, &code(&app, &secret, 2)).await;
    assert!(is_code_page(&p), "two steps ahead: refused");
    let p = b1.submit_code(&app, &p, &code(&app, &secret, -1)).await;
    assert!(signed_in(&p), "one step behind: accepted: {}", p.body);

    let b2 = app.browser();
    let p = second_step(&b2).await;
    let p = b2.submit_code(&app, &p, &code(&app, &secret, -1)).await;
    assert!(is_code_page(&p), "the same code again: refused");
    let p = b2.submit_code(&app, &p, &code(&app, &secret, 0)).await;
    assert!(signed_in(&p), "the current step: accepted");

    let b3 = app.browser();
    let p = second_step(&b3).await;
    let p = b3.submit_code(&app, &p, &code(&app, &secret, 0)).await;
    assert!(is_code_page(&p), "replayed in the same step: refused");
    let p = b3.submit_code(&app, &p, &code(&app, &secret, 1)).await;
    assert!(signed_in(&p), "one step ahead: accepted");
    assert!(audit_actions(&app, "mfa.failed").await.len() >= 4);
}

#[tokio::test]
async fn a_recovery_code_works_once_instead_of_a_code() {
    let app = spawn_app().await;
    let sub = app.user("alice").await;
    align(&app);
    let (_, codes) = enrol(&app, &app.browser(), "alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    let p = b.login(&app, &login, "alice", PASSWORD).await;
    // Typed in capitals without the dash: the same code.
    let typed = codes[3].replace('-', "").to_uppercase();
    let ok = b.submit_code(&app, &p, &typed).await;
    to_redirect(&app, &b, ok).await;
    assert_eq!(app.store.recovery_codes_left(&sub).await.unwrap(), 9);
    assert_eq!(audit_actions(&app, "mfa.recovery_used").await.len(), 1);

    let b2 = app.browser();
    let login = b2.get(&app.authorize_url(&id, "")).await;
    let p = b2.login(&app, &login, "alice", PASSWORD).await;
    let again = b2.submit_code(&app, &p, &codes[3]).await;
    assert!(is_code_page(&again), "a spent recovery code");
}

#[tokio::test]
async fn removing_the_app_and_the_help_desk_reset() {
    let app = spawn_app().await;
    let sub = app.user("alice").await;
    align(&app);
    let b = app.browser();
    enrol(&app, &b, "alice").await;
    let account = b.get(&app.url("/account")).await;
    let csrf = account.field("csrf").unwrap();
    let wrong = b
        .post_form(
            &app.url("/account/authenticator/remove"),
            &[("csrf", &csrf), ("password", "wrong")],
        )
        .await;
    assert!(wrong.body.contains("not right"));
    assert!(app.store.totp(&sub).await.unwrap().is_some());
    let removed = b
        .post_form(
            &app.url("/account/authenticator/remove"),
            &[("csrf", &csrf), ("password", PASSWORD)],
        )
        .await;
    assert!(removed.body.contains("was removed"), "{}", removed.body);
    assert!(app.store.totp(&sub).await.unwrap().is_none());
    assert_eq!(app.store.recovery_codes_left(&sub).await.unwrap(), 0);
    assert_eq!(audit_actions(&app, "mfa.removed").await.len(), 1);

    // Enrolled again, then reset by the help desk (the admin model the CLI uses).
    app.clock.advance(60);
    enrol(&app, &app.browser(), "alice").await;
    assert!(app.admin.reset_mfa("alice", app.now()).await.unwrap());
    assert!(app.store.totp(&sub).await.unwrap().is_none());
    let c = app.browser();
    let login = c.get(&app.url("/login")).await;
    let r = c.login(&app, &login, "alice", PASSWORD).await;
    assert_eq!(
        r.location().as_deref(),
        Some("/account"),
        "password alone again"
    );
    assert!(audit_actions(&app, "user.mfa_reset").await.len() == 1);

    // And through the admin API.
    app.clock.advance(60);
    enrol(&app, &app.browser(), "alice").await;
    let (admin, admin_secret) = app.service(&["valet:admin"]).await;
    let token = app.token(&admin, &admin_secret).await;
    let r = app
        .http
        .post(app.url("/admin/api/users/alice/mfa/reset"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["removed"], true);
    assert!(app.store.totp(&sub).await.unwrap().is_none());
}

// Ten browsers at the second step submit the same code at once: one signs in.
#[tokio::test]
async fn ten_racing_submits_of_one_code_sign_in_once() {
    let app = spawn_app().await;
    app.user("alice").await;
    align(&app);
    let (secret, _) = enrol(&app, &app.browser(), "alice").await;
    app.clock.advance(30);
    let mut forms = Vec::new();
    for _ in 0..10 {
        let b = app.browser();
        let login = b.get(&app.url("/login")).await;
        let p = b.login(&app, &login, "alice", PASSWORD).await;
        assert!(is_code_page(&p));
        forms.push((b, p));
    }
    let code = code(&app, &secret, 0);
    let before = sessions(&app);
    let results = futures_join(forms.iter().map(|(b, p)| b.submit_code(&app, p, &code))).await;
    let signed_in = results
        .iter()
        .filter(|r| r.location().as_deref() == Some("/account"))
        .count();
    assert_eq!(signed_in, 1);
    assert_eq!(sessions(&app), before + 1);
}

async fn futures_join<F: std::future::Future<Output = Page>>(
    futures: impl Iterator<Item = F>,
) -> Vec<Page> {
    // Polled together on this task: the requests are in flight at once.
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<Page>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(p) => out[i] = Some(p),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn new_recovery_codes_need_a_current_code_and_replace_the_old_ones() {
    let app = spawn_app().await;
    let sub = app.user("alice").await;
    align(&app);
    let b = app.browser();
    let (secret, old) = enrol(&app, &b, "alice").await;
    app.clock.advance(30);
    let account = b.get(&app.url("/account")).await;
    let csrf = account.field("csrf").unwrap();
    let nothing = b
        .post_form(&app.url("/account/recovery-codes"), &[("csrf", &csrf)])
        .await;
    assert!(
        nothing
            .body
            .contains("Enter your password or a current code")
    );
    let fresh = b
        .post_form(
            &app.url("/account/recovery-codes"),
            &[("csrf", &csrf), ("code", &code(&app, &secret, 0))],
        )
        .await;
    let new = recovery_codes(&fresh);
    assert_eq!(new.len(), 10, "{}", fresh.body);
    assert!(new.iter().all(|c| !old.contains(c)));
    assert_eq!(app.store.recovery_codes_left(&sub).await.unwrap(), 10);
    // An old one no longer signs in; a new one does.
    let c = app.browser();
    let login = c.get(&app.url("/login")).await;
    let p = c.login(&app, &login, "alice", PASSWORD).await;
    let p = c.submit_code(&app, &p, &old[0]).await;
    assert!(is_code_page(&p));
    let ok = c.submit_code(&app, &p, &new[0]).await;
    assert_eq!(ok.location().as_deref(), Some("/account"));
}
