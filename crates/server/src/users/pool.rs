//! Connections to one directory: a small pool with a bound on everything that can wait.
//! Connecting (TCP, then TLS: `ldaps://`, or StartTLS per RFC 4511 §4.14 and RFC 4513
//! §3) is bounded by `connect_timeout`, every operation by `timeout`, and waiting for a
//! free connection by `timeout` too. A connection that failed is dropped, never reused;
//! one that sat idle and was closed by the server is replaced once, silently. After a
//! failure to reach the directory, calls fail at once for `retry_interval` (so sign-ins to
//! other stores are not held up by a dead directory) and the next call after it tries
//! again: recovery needs no restart.
//!
//! Two pools serve a directory: searches run on connections bound as the service account;
//! users' passwords are checked by binds on connections that do nothing else, since a
//! Bind changes a connection's identity (RFC 4511 §4.2.1).

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

use super::config::LdapSettings;

/// A password that never reaches a log or a `Debug`.
#[derive(Clone)]
pub struct BindPassword(String);

impl BindPassword {
    pub fn new(p: String) -> Self {
        Self(p)
    }
}

impl std::fmt::Debug for BindPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BindPassword([redacted])")
    }
}

/// Why a directory could not answer; `retry_after` is in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub retry_after: u64,
}

/// Shared by a directory's pools: whether it is known to be unreachable, and until when.
#[derive(Default)]
pub struct Health {
    down_until: Mutex<Option<Instant>>,
}

impl Health {
    fn down_for(&self) -> Option<u64> {
        let guard = self.down_until.lock().ok()?;
        let until = (*guard)?;
        let now = Instant::now();
        (until > now).then(|| (until - now).as_secs().max(1))
    }

    fn set_down(&self, for_: Duration) {
        if let Ok(mut g) = self.down_until.lock() {
            *g = Some(Instant::now() + for_);
        }
    }

    fn set_up(&self) {
        if let Ok(mut g) = self.down_until.lock() {
            *g = None;
        }
    }
}

pub struct Pool {
    /// For logs: the store's name and which pool.
    label: String,
    url: String,
    settings: LdapConnSettings,
    /// The service account, for the search pool; `None` for the bind pool (and for
    /// anonymous searches).
    credentials: Option<(String, BindPassword)>,
    idle: Mutex<Vec<Ldap>>,
    slots: Semaphore,
    connect_timeout: Duration,
    timeout: Duration,
    retry_interval: Duration,
    health: Arc<Health>,
}

/// What an operation may fail with.
enum Failure {
    /// The directory answered with an error result: the connection is fine.
    Result(ldap3::LdapResult),
    /// No usable answer (I/O, TLS, timeout): the connection is not to be trusted.
    Broken(String),
}

impl Pool {
    pub fn new(
        label: String,
        s: &LdapSettings,
        tls: Arc<rustls::ClientConfig>,
        credentials: Option<(String, BindPassword)>,
        health: Arc<Health>,
    ) -> Self {
        let settings = LdapConnSettings::new()
            .set_conn_timeout(s.connect_timeout)
            .set_starttls(s.starttls)
            .set_config(tls);
        Self {
            label,
            url: s.url.clone(),
            settings,
            credentials,
            idle: Mutex::default(),
            slots: Semaphore::new(s.pool_size),
            connect_timeout: s.connect_timeout,
            timeout: s.timeout,
            retry_interval: s.retry_interval,
            health,
        }
    }

    /// Runs `op` on a pooled connection (a handle to it: `Ldap` clones share their
    /// connection). An error result it returns as `Err(LdapError::LdapResult)` is logged
    /// and reported unavailable without blaming the connection; any other error drops it.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, Unavailable>
    where
        F: Fn(Ldap) -> Fut,
        Fut: Future<Output = Result<T, LdapError>>,
    {
        if let Some(retry_after) = self.health.down_for() {
            return Err(Unavailable { retry_after });
        }
        let busy = Unavailable {
            retry_after: self.retry_interval.as_secs().max(1),
        };
        let Ok(Ok(_permit)) = tokio::time::timeout(self.timeout, self.slots.acquire()).await else {
            tracing::warn!(directory = %self.label, "every connection stayed busy past the timeout");
            return Err(busy);
        };
        // An idle connection the server has closed meanwhile fails at once: one retry on
        // a new connection hides that from the user.
        for _ in 0..2 {
            let (ldap, reused) = match self.take_idle() {
                Some(l) => (l, true),
                None => match self.connect().await {
                    Ok(l) => (l, false),
                    Err(why) => return Err(self.down(&why)),
                },
            };
            match self.attempt(op(ldap.clone())).await {
                Ok(v) => {
                    self.give_back(ldap);
                    self.health.set_up();
                    return Ok(v);
                }
                Err(Failure::Result(r)) => {
                    self.give_back(ldap);
                    tracing::warn!(directory = %self.label, rc = r.rc, message = %r.text,
                        "the directory refused an operation");
                    return Err(busy);
                }
                Err(Failure::Broken(why)) if reused && !why.starts_with("timeout") => {
                    tracing::debug!(directory = %self.label, error = %why,
                        "an idle connection failed; trying a new one");
                }
                Err(Failure::Broken(why)) => return Err(self.down(&why)),
            }
        }
        Err(busy)
    }

    async fn attempt<T>(
        &self,
        op: impl Future<Output = Result<T, LdapError>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(LdapError::LdapResult { result })) => Err(Failure::Result(result)),
            Ok(Err(e)) => Err(Failure::Broken(e.to_string())),
            Err(_) => Err(Failure::Broken(format!(
                "timeout: no answer within {} s",
                self.timeout.as_secs()
            ))),
        }
    }

    fn down(&self, why: &str) -> Unavailable {
        tracing::warn!(directory = %self.label, url = %self.url, error = %why,
            retry_in_seconds = self.retry_interval.as_secs(), "the directory is unavailable");
        self.health.set_down(self.retry_interval);
        Unavailable {
            retry_after: self.retry_interval.as_secs().max(1),
        }
    }

    fn take_idle(&self) -> Option<Ldap> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(mut l) = idle.pop() {
            if !l.is_closed() {
                return Some(l);
            }
        }
        None
    }

    fn give_back(&self, ldap: Ldap) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(ldap);
        }
    }

    /// A new connection, TLS established and (for the search pool) bound as the
    /// service account, within `connect_timeout` + `timeout`.
    async fn connect(&self) -> Result<Ldap, String> {
        let open = async {
            let (conn, mut ldap) = LdapConnAsync::with_settings(self.settings.clone(), &self.url)
                .await
                .map_err(|e| e.to_string())?;
            let label = self.label.clone();
            tokio::spawn(async move {
                if let Err(e) = conn.drive().await {
                    tracing::debug!(directory = %label, error = %e, "directory connection closed");
                }
            });
            if let Some((dn, password)) = &self.credentials {
                let r = ldap
                    .simple_bind(dn, &password.0)
                    .await
                    .map_err(|e| e.to_string())?;
                if r.rc != 0 {
                    return Err(format!(
                        "the service account {dn} cannot bind (rc {}: {})",
                        r.rc, r.text
                    ));
                }
            }
            Ok(ldap)
        };
        tokio::time::timeout(self.connect_timeout + self.timeout, open)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "timeout: not connected within {} s",
                    (self.connect_timeout + self.timeout).as_secs()
                ))
            })
    }
}

/// The TLS client configuration of a directory: the CAs of `ca_file` when given, the
/// system's otherwise; always verified, aws-lc-rs as everywhere in Valet.
pub fn tls_config(s: &LdapSettings, store: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    use crate::outbound_tls;
    let roots = match &s.ca_file {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            outbound_tls::add_pem_file(&mut roots, path)
                .map_err(|e| format!("user_stores `{store}`: ca_file {e}"))?;
            roots
        }
        None => outbound_tls::platform_roots(),
    };
    outbound_tls::config(roots)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bind_password_never_prints() {
        let p = super::BindPassword::new("hunter2-service".into());
        assert_eq!(format!("{p:?}"), "BindPassword([redacted])");
        let creds = Some(("cn=valet".to_string(), p));
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
