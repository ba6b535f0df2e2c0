//! `valet seed` (hidden): fills a database with synthetic applications, users, grants,
//! refresh tokens and revoked access tokens, for `bench/scale.sh` (issue 17). Everything
//! goes through Valet's own code: applications through the admin model the CLI uses
//! (`Admin::create_client`), the rest through the store's own inserts, so the rows,
//! indexes and derived tables are what a real deployment would have. One password hash
//! is shared by every user (hashing 100,000 passwords would take longer than the run).
//! Not for a database anyone signs in to.

use std::sync::Arc;
use std::time::Instant;
use valet_protocol::application::Profile;
use valet_protocol::user::{Role, UserClaims};
use valet_server::admin::{Admin, NewClient};
use valet_server::crypto::sha256;
use valet_server::passwords::Passwords;
use valet_store::{GrantRecord, RefreshTokenRecord, Store, UserRecord};

use crate::cli::SeedArgs;

/// Concurrent writers for the store inserts (PostgreSQL takes them in parallel; SQLite
/// queues them on its one writer).
const WORKERS: usize = 8;

pub async fn seed(
    args: SeedArgs,
    admin: &Admin,
    store: Arc<dyn Store>,
    now: i64,
) -> Result<(), String> {
    let started = Instant::now();
    // Web and SPA applications in turn, each on an origin of its own (what a CORS lookup
    // searches); the grants and refresh tokens below belong to them.
    let mut client_ids = Vec::with_capacity(args.apps as usize);
    for i in 0..args.apps {
        let (profile, host) = if i % 2 == 0 {
            (Profile::Spa, format!("spa{i}"))
        } else {
            (Profile::Web, format!("web{i}"))
        };
        let created = admin
            .create_client(
                NewClient {
                    name: format!("Seed app {i}"),
                    profile: Some(profile),
                    redirect_uris: vec![format!("https://{host}.seed.example/cb")],
                    ..Default::default()
                },
                now,
            )
            .await
            .map_err(|e| e.to_string())?;
        client_ids.push(created.app.client_id);
        progress("applications", i + 1, args.apps);
    }
    if client_ids.is_empty() {
        client_ids.push("seed-client".to_owned());
    }
    let client_ids = Arc::new(client_ids);
    let hash = Passwords::new()?.hash("seed-password-not-for-use")?;
    let users = args.users.max(1);
    parallel("users", args.users, store.clone(), move |s, i| {
        let hash = hash.clone();
        async move {
            s.create_user(&UserRecord {
                id: format!("seed-user-{i}"),
                username: format!("seed{i}"),
                claims: UserClaims {
                    name: Some(format!("Seed User {i}")),
                    ..Default::default()
                },
                password_hash: Some(hash),
                disabled: false,
                role: Role::None,
                pending_until: None,
                created_at: now,
                updated_at: now,
            })
            .await
            .map_err(|e| e.to_string())
        }
    })
    .await?;
    let expires = now + 7 * 24 * 3600;
    let client_of = move |g: u64| client_ids[(g % client_ids.len() as u64) as usize].clone();
    let grants_client = client_of.clone();
    parallel("grants", args.grants, store.clone(), move |s, i| {
        let client_id = grants_client(i);
        async move {
            s.insert_grant(&GrantRecord {
                grant_id: format!("seed-grant-{i}"),
                client_id,
                user_id: format!("seed-user-{}", i % users),
                scope: "openid offline_access".into(),
                session: None,
                created_at: now,
                expires_at: expires,
            })
            .await
            .map_err(|e| e.to_string())
        }
    })
    .await?;
    // One chain per grant's first tokens, then more chains on the same grants: a grant
    // holds tokens/grants chains (each a token of generation 0, as after a sign-in).
    let grants = args.grants.max(1);
    parallel(
        "refresh tokens",
        args.refresh_tokens,
        store.clone(),
        move |s, i| {
            let g = i % grants;
            let client_id = client_of(g);
            async move {
                s.insert_refresh_token(
                    &RefreshTokenRecord {
                        hash: sha256(format!("seed-refresh-token-{i}").as_bytes()),
                        grant_id: format!("seed-grant-{g}"),
                        client_id,
                        user_id: format!("seed-user-{}", g % users),
                        details: r#"{"scope":"openid offline_access","auth_time":0}"#.into(),
                        issued_at: now,
                        expires_at: expires,
                        rotated_at: None,
                        chain: Some(format!("seed-chain-{i}")),
                        generation: 0,
                    },
                    expires,
                )
                .await
                .map_err(|e| e.to_string())
            }
        },
    )
    .await?;
    parallel(
        "revoked access tokens",
        args.revoked,
        store,
        move |s, i| async move {
            s.revoke_access_token(&format!("seed-jti-{i}"), expires)
                .await
                .map_err(|e| e.to_string())
        },
    )
    .await?;
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Runs `one(store, i)` for every `i` below `n`, `WORKERS` at a time.
async fn parallel<F, Fut>(what: &str, n: u64, store: Arc<dyn Store>, one: F) -> Result<(), String>
where
    F: Fn(Arc<dyn Store>, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WORKERS as u64 {
        let (store, one, done, what) = (store.clone(), one.clone(), done.clone(), what.to_owned());
        tasks.spawn(async move {
            let mut i = w;
            while i < n {
                one(store.clone(), i).await?;
                let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(&what, d, n);
                i += WORKERS as u64;
            }
            Ok::<(), String>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| e.to_string())??;
    }
    Ok(())
}

fn progress(what: &str, done: u64, of: u64) {
    if done == of || done % (of / 10).max(1) == 0 {
        eprintln!("{what}: {done} of {of}");
    }
}
