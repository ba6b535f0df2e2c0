//! Nothing answered is lost on a crash: a node is killed with SIGKILL at random moments
//! under mixed load, restarted, and everything it answered with success is checked against
//! the new process (invariant 6: a response that reports a write is sent after the write
//! committed). Requests in flight at the kill may have failed any way; only answered
//! successes count, and what they touched is checked only as far as an unanswered request
//! cannot have changed it.

use crate::browser::{Authorized, Browser};
use crate::node::{Backend, Cluster, REDIRECT};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KILLS: usize = 15;
const WORKERS: usize = 4;
/// Applications asking for consent: each consent is given once, so each needs its own.
const CONSENT_APPS: usize = 3 * KILLS;

/// xorshift64*: reproducible from the printed seed, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// One authorization (one code, one grant): what the node answered about it.
struct Family {
    client: usize,
    code: String,
    /// Access tokens answered 200, and whether a revocation of it was answered 200.
    access: Vec<(String, bool)>,
    /// The refresh token answered last; and those rotated away by an answered refresh.
    live: String,
    rotated: Vec<String>,
    /// A revocation of its refresh token was answered 200 (RFC 7009 §2.1: the grant goes).
    revoked: bool,
    busy: bool,
    /// A request about it went unanswered: it may have changed in ways we cannot know.
    uncertain: bool,
}

#[derive(Default)]
struct Ledger {
    /// Codes answered, never sent to the token endpoint: (client, code).
    codes: Vec<(usize, String)>,
    families: Vec<Family>,
    /// Applications the user's consent to was answered with a redirect.
    consented: Vec<usize>,
    /// Applications never asked for consent yet.
    fresh: Vec<usize>,
}

struct Load {
    c: Arc<Cluster>,
    clients: Vec<(String, String)>,
    browser: Browser,
    ledger: Mutex<Ledger>,
    stop: AtomicBool,
}

fn str_of(v: &Value, k: &str) -> Option<String> {
    v[k].as_str().map(str::to_owned)
}

impl Load {
    /// Takes a family nobody else is using and that may still change.
    fn take(&self, rng: &mut Rng) -> Option<usize> {
        let mut l = self.ledger.lock().unwrap();
        let free: Vec<usize> = (0..l.families.len())
            .filter(|&i| !l.families[i].busy && !l.families[i].revoked && !l.families[i].uncertain)
            .collect();
        let i = *free.get(rng.below(free.len().max(1) as u64) as usize)?;
        l.families[i].busy = true;
        Some(i)
    }

    fn with<T>(&self, i: usize, f: impl FnOnce(&mut Family) -> T) -> T {
        f(&mut self.ledger.lock().unwrap().families[i])
    }

    /// Records the answer about family `i` and frees it.
    fn finish(&self, i: usize, ok: bool, f: impl FnOnce(&mut Family)) {
        self.with(i, |fam| {
            if ok {
                f(fam);
            } else {
                fam.uncertain = true;
            }
            fam.busy = false;
        });
    }

    async fn step(&self, rng: &mut Rng) {
        let c = &self.c;
        let op = rng.below(100);
        if op < 25 {
            let code = self.ledger.lock().unwrap().codes.pop();
            if let Some((client, code)) = code {
                if let Ok((200, v)) = c.try_exchange(0, &self.clients[client], &code).await {
                    self.ledger.lock().unwrap().families.push(Family {
                        client,
                        code,
                        access: vec![(str_of(&v, "access_token").unwrap(), false)],
                        live: str_of(&v, "refresh_token").unwrap(),
                        rotated: vec![],
                        revoked: false,
                        busy: false,
                        uncertain: false,
                    });
                }
                return;
            }
        } else if op < 75 {
            if let Some(i) = self.take(rng) {
                let (client, live, at) = self.with(i, |f| {
                    let at = f.access.iter().position(|(_, r)| !r);
                    (self.clients[f.client].clone(), f.live.clone(), at)
                });
                if op < 50 {
                    // Refresh with rotation (RFC 6749 §6, RFC 9700 §4.14.2).
                    let r = c.try_refresh(0, &client, &live).await;
                    let next = r.ok().filter(|(st, _)| *st == 200).map(|(_, v)| v);
                    self.finish(i, next.is_some(), |f| {
                        let v = next.unwrap();
                        f.rotated.push(std::mem::replace(
                            &mut f.live,
                            str_of(&v, "refresh_token").unwrap(),
                        ));
                        f.access.push((str_of(&v, "access_token").unwrap(), false));
                    });
                } else if let (true, Some(a)) = (op < 65, at) {
                    // RFC 7009 revocation of an access token.
                    let token = self.with(i, |f| f.access[a].0.clone());
                    let r = c
                        .try_post(0, "/oauth2/revoke", &client, &[("token", &token)])
                        .await;
                    self.finish(i, matches!(r, Ok((200, _))), |f| f.access[a].1 = true);
                } else {
                    // RFC 7009 revocation of a refresh token, and with it the grant.
                    let r = c
                        .try_post(0, "/oauth2/revoke", &client, &[("token", &live)])
                        .await;
                    self.finish(i, matches!(r, Ok((200, _))), |f| f.revoked = true);
                }
                return;
            }
        } else if op < 85 {
            let fresh = self.ledger.lock().unwrap().fresh.pop();
            if let Some(client) = fresh {
                let id = &self.clients[client].0;
                if let Ok(Authorized::Consent { csrf, interaction }) =
                    c.try_authorize(0, &self.browser, id).await
                {
                    if let Ok(code) = c.try_allow(0, &self.browser, &csrf, &interaction).await {
                        let mut l = self.ledger.lock().unwrap();
                        l.consented.push(client);
                        l.codes.push((client, code));
                    }
                }
                return;
            }
        }
        // A code of the trusted application: the browser's session skips every page.
        if let Ok(Authorized::Code(code)) =
            c.try_authorize(0, &self.browser, &self.clients[0].0).await
        {
            self.ledger.lock().unwrap().codes.push((0, code));
        }
    }
}

async fn worker(load: Arc<Load>, seed: u64) {
    let mut rng = Rng(seed | 1);
    while !load.stop.load(Ordering::SeqCst) {
        load.step(&mut rng).await;
    }
}

/// After a restart: everything answered in the last run, in an order where no check
/// spoils a later one (reuse and replay revoke a family, so they come last).
async fn check(load: &Load, dead: &mut Vec<(usize, String)>) -> usize {
    let c = &load.c;
    let l = std::mem::take(&mut *load.ledger.lock().unwrap());
    let mut checks = 0;
    let mut codes = l.codes;
    // Consents: the authorization answers with a code, not a consent page.
    for &client in &l.consented {
        match c
            .try_authorize(0, &load.browser, &load.clients[client].0)
            .await
            .unwrap()
        {
            Authorized::Code(code) => codes.push((client, code)),
            other => panic!("a consent answered with success was lost: {other:?}"),
        }
        checks += 1;
    }
    let mut families = l.families;
    // Codes answered and never used redeem now (RFC 6749 §4.1.2: within their lifetime).
    for (client, code) in codes {
        let (status, v) = c
            .try_exchange(0, &load.clients[client], &code)
            .await
            .unwrap();
        assert_eq!(status, 200, "an answered code was lost: {v}");
        families.push(Family {
            client,
            code,
            access: vec![(str_of(&v, "access_token").unwrap(), false)],
            live: str_of(&v, "refresh_token").unwrap(),
            rotated: vec![],
            revoked: false,
            busy: false,
            uncertain: false,
        });
        checks += 1;
    }
    for f in &mut families {
        let client = &load.clients[f.client];
        // RFC 7662: answered revocations hold; answered tokens live on where nothing
        // unanswered may have touched them.
        for (token, revoked) in &f.access {
            let active = c.active(0, client, token).await;
            if *revoked || f.revoked {
                assert!(!active, "an answered revocation was lost");
            } else if !f.uncertain {
                assert!(active, "an answered access token was lost");
            }
            checks += 1;
        }
        if !f.uncertain {
            let (status, v) = c.try_refresh(0, client, &f.live).await.unwrap();
            if f.revoked {
                assert_eq!(status, 400, "a revoked refresh token refreshed: {v}");
            } else {
                assert_eq!(status, 200, "an answered refresh token was lost: {v}");
                f.rotated.push(std::mem::replace(
                    &mut f.live,
                    str_of(&v, "refresh_token").unwrap(),
                ));
                f.access.push((str_of(&v, "access_token").unwrap(), false));
            }
            checks += 1;
        }
    }
    // Last: no rotated refresh token works again, no redeemed code redeems again.
    for f in &families {
        let client = &load.clients[f.client];
        for old in &f.rotated {
            let (status, v) = c.try_refresh(0, client, old).await.unwrap();
            assert_eq!(
                (status, &v["error"]),
                (400, &json!("invalid_grant")),
                "a rotated refresh token worked again"
            );
            checks += 1;
        }
        let (status, v) = c.try_exchange(0, client, &f.code).await.unwrap();
        assert_eq!(
            (status, &v["error"]),
            (400, &json!("invalid_grant")),
            "a redeemed code redeemed again"
        );
        checks += 1;
        // The replay revoked the grant: every token of it is dead from now on.
        dead.extend(f.access.iter().map(|(t, _)| (f.client, t.clone())));
    }
    // Revocations stay through every later crash too (the latest ones, to bound the time).
    for (client, token) in dead.iter().rev().take(40) {
        assert!(
            !c.active(0, &load.clients[*client], token).await,
            "a revocation was lost"
        );
        checks += 1;
    }
    checks
}

async fn crash_many_times(backend: Backend) {
    let started = Instant::now();
    let c = Cluster::start(
        backend,
        1,
        &[
            ("VALET_REFRESH_TOKEN_ROTATION", "all"),
            ("VALET_REFRESH_RETRY_WINDOW", "0"),
        ],
    )
    .await;
    c.user("alice");
    let trusted = c.client(&[
        "--name",
        "First party",
        "--profile",
        "web",
        "--trusted",
        "--redirect-uri",
        REDIRECT,
    ]);
    let admin = c.client(&[
        "--name",
        "Admin",
        "--profile",
        "service",
        "--scope",
        "valet:admin",
    ]);
    let (_, v) = c
        .post(
            0,
            "/oauth2/token",
            &admin,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "valet:admin"),
            ],
        )
        .await;
    let bearer = str_of(&v, "access_token").unwrap();
    let mut clients = vec![trusted];
    for i in 0..CONSENT_APPS {
        let r = c.http.post(c.nodes[0].url("/admin/api/clients")).bearer_auth(&bearer)
            .json(&json!({"name": format!("Third party {i}"), "profile": "web", "redirect_uris": [REDIRECT]}))
            .send().await.unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        clients.push((
            str_of(&v, "client_id").unwrap(),
            str_of(&v, "client_secret").unwrap(),
        ));
    }
    let (browser, _) = c.sign_in(0, &clients[0].0, "alice").await;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("seed {seed}");
    let mut rng = Rng(seed | 1);
    let c = Arc::new(c);
    let mut dead = Vec::new();
    let (mut checks, mut answered) = (0, 0);
    for kill in 0..KILLS {
        let load = Arc::new(Load {
            c: c.clone(),
            clients: clients.clone(),
            browser: browser.clone(),
            ledger: Mutex::new(Ledger {
                fresh: (1 + 3 * kill..4 + 3 * kill).collect(),
                ..Ledger::default()
            }),
            stop: AtomicBool::new(false),
        });
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                tokio::spawn(worker(
                    load.clone(),
                    seed ^ ((kill * WORKERS + w + 1) as u64 * 0x9E37_79B9),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50 + rng.below(351))).await;
        c.nodes[0].kill();
        load.stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.await.unwrap();
        }
        {
            let l = load.ledger.lock().unwrap();
            answered += l.codes.len()
                + l.consented.len()
                + l.families.iter().map(|f| f.access.len()).sum::<usize>();
        }
        c.start_node(0).await;
        checks += check(&load, &mut dead).await;
    }
    println!(
        "{KILLS} kills, {answered} answered successes, {checks} checks, {:?}",
        started.elapsed()
    );
    assert!(answered > KILLS, "the load did something before the kills");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
async fn postgres_loses_nothing_answered_when_killed() {
    crash_many_times(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_loses_nothing_answered_when_killed() {
    crash_many_times(Backend::Sqlite).await;
}
