//! Bounds on client connections (issue 12.3; checklist N6): a cap on open connections,
//! in all and per client address (an IPv6 /64 counts as one, `throttle::address_key`),
//! enforced as each connection is accepted and before any TLS handshake, so a flood of
//! idle sockets from one address cannot starve another. Timeouts on what a client sends
//! are set where the server is built (`app.rs`: headers and idle keep-alive through
//! hyper's header-read timer, the TLS handshake, the first request) and per request
//! (`body.rs`: the body).
//!
//! A connection over a cap is closed at once, without a response: answering would cost
//! the very resources the cap protects. The refusals are counted and logged at most once
//! a minute, so a flood cannot flood the log too.

use axum_server::accept::Accept;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::throttle::address_key;

const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// File descriptors kept for everything but client connections: the database, a
/// directory's connections, the listener, logs.
const RESERVED_FILES: u32 = 128;

/// `max_connections`, lowered to what the process's open-file limit allows (with room
/// for everything else), with a warning when it had to be: past the limit, `accept`
/// fails instead, and the node stops taking anyone, not just the connection over the
/// cap. The limit is read from `/proc/self/limits` (Linux); elsewhere the setting stands.
pub fn fitted_to_file_limit(max_connections: u32) -> u32 {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(3)
                        .and_then(|n| n.parse::<u32>().ok())
                })
        });
    match soft {
        Some(soft) if max_connections.saturating_add(RESERVED_FILES) > soft => {
            let fitted = soft.saturating_sub(RESERVED_FILES).max(1);
            tracing::warn!(
                max_connections,
                open_file_limit = soft,
                using = fitted,
                "max_connections is more than the open-file limit allows; raise the limit \
                 (ulimit -n, LimitNOFILE=) or lower max_connections"
            );
            fitted
        }
        _ => max_connections,
    }
}

pub struct Limits {
    max_total: u32,
    /// 0: no per-address cap.
    max_per_address: u32,
    open: Mutex<Open>,
    refused: AtomicU64,
    last_log: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct Open {
    total: u32,
    by_address: HashMap<String, u32>,
}

/// One admitted connection; its place is given back when it closes (on drop).
pub struct Admitted {
    limits: Arc<Limits>,
    address: String,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.limits.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

impl Limits {
    pub fn new(max_total: u32, max_per_address: u32) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_address,
            open: Mutex::default(),
            refused: AtomicU64::new(0),
            last_log: Mutex::new(None),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place for a new connection from `ip`, or `None` if a cap is reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let address = address_key(ip);
        let mut open = self.lock();
        let mine = open.by_address.get(&address).copied().unwrap_or(0);
        if open.total >= self.max_total
            || (self.max_per_address > 0 && mine >= self.max_per_address)
        {
            drop(open);
            self.refused(ip);
            return None;
        }
        open.total += 1;
        *open.by_address.entry(address.clone()).or_insert(0) += 1;
        Some(Admitted {
            limits: self.clone(),
            address,
        })
    }

    fn refused(&self, ip: IpAddr) {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self
            .last_log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                latest = %ip,
                refused_so_far = n,
                max_connections = self.max_total,
                max_connections_per_address = self.max_per_address,
                "refusing connections over the connection limits"
            );
        }
    }

    #[cfg(test)]
    fn open_total(&self) -> u32 {
        self.lock().total
    }
}

/// A TCP connection that holds its place under the caps while open.
pub struct Counted {
    inner: TcpStream,
    _place: Admitted,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The acceptor that applies the caps; the TLS acceptor, when there is one, wraps it, so
/// the caps apply before a handshake is spent on anyone.
#[derive(Clone)]
pub struct Capped {
    pub limits: Arc<Limits>,
}

impl<S: Send + 'static> Accept<TcpStream, S> for Capped {
    type Stream = Counted;
    type Service = S;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Counted, S)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream
            .peer_addr()
            .ok()
            .and_then(|peer| self.limits.admit(peer.ip()));
        Box::pin(async move {
            match admitted {
                Some(place) => {
                    // Small responses: no Nagle delay.
                    let _ = stream.set_nodelay(true);
                    Ok((
                        Counted {
                            inner: stream,
                            _place: place,
                        },
                        service,
                    ))
                }
                None => Err(io::Error::other("over the connection limits")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_open_file_limit() {
        // This process's limit is whatever it is; a cap far above any limit is lowered,
        // and a small one stands.
        assert!(fitted_to_file_limit(u32::MAX) < u32::MAX);
        assert_eq!(fitted_to_file_limit(10), 10);
    }

    #[test]
    fn caps_hold_per_address_and_in_all_and_places_come_back() {
        let limits = Limits::new(5, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = limits.admit(a).unwrap();
        let _a2 = limits.admit(a).unwrap();
        assert!(limits.admit(a).is_none(), "a third from one address");
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::2".parse().unwrap();
        let _v1 = limits.admit(v6a).unwrap();
        let _v2 = limits.admit(v6b).unwrap();
        assert!(limits.admit(v6a).is_none(), "one /64 is one address");
        let _b1 = limits.admit(b).unwrap();
        assert!(limits.admit(b).is_none(), "five in all");
        drop(a1);
        assert_eq!(limits.open_total(), 4);
        assert!(
            limits.admit(b).is_some(),
            "a closed connection gives its place back"
        );
        let unlimited = Limits::new(100, 0);
        let held: Vec<_> = (0..50).map(|_| unlimited.admit(a).unwrap()).collect();
        assert_eq!(held.len(), 50, "0 turns the per-address cap off");
    }
}
