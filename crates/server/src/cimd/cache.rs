//! Fetched metadata documents, kept as the CIMD draft's "Metadata Caching" allows: for the
//! lifetime their HTTP caching headers give, within bounds (`cimd::cache_ttl`), read with
//! the node's clock. At most `MAX_ENTRIES` documents of at most 5 KB each: when full, the
//! expired ones go first, then the one closest to expiry. Errors are never kept. Concurrent
//! lookups of one URL that find nothing share one fetch (`Flights`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use valet_protocol::UnixTime;

pub const MAX_ENTRIES: usize = 1000;

/// A kept document: when it expires, and its body.
type Entry = (UnixTime, Arc<Vec<u8>>);

pub struct Cache {
    entries: Mutex<HashMap<String, Entry>>,
    max: usize,
}

impl Default for Cache {
    fn default() -> Self {
        Self::with_capacity(MAX_ENTRIES)
    }
}

impl Cache {
    pub fn with_capacity(max: usize) -> Self {
        Self {
            entries: Mutex::default(),
            max,
        }
    }

    /// The document kept for `url`, if it has not expired at `now`.
    pub fn get(&self, url: &str, now: UnixTime) -> Option<Arc<Vec<u8>>> {
        let map = self.entries.lock().ok()?;
        map.get(url)
            .filter(|(expires, _)| now < *expires)
            .map(|(_, body)| body.clone())
    }

    pub fn insert(&self, url: &str, body: Arc<Vec<u8>>, expires_at: UnixTime, now: UnixTime) {
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        if map.len() >= self.max && !map.contains_key(url) {
            map.retain(|_, (expires, _)| now < *expires);
        }
        while map.len() >= self.max && !map.contains_key(url) {
            let soonest = map
                .iter()
                .min_by_key(|(_, (expires, _))| *expires)
                .map(|(k, _)| k.clone());
            match soonest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(url.to_owned(), (expires_at, body));
    }

    pub fn forget(&self, url: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(url);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map_or(0, |m| m.len())
    }
}

/// The outcome of one fetch, shared by everyone who waited for it.
pub type Outcome = Result<Arc<Vec<u8>>, String>;

/// Fetches in progress, one per URL.
#[derive(Default)]
pub struct Flights {
    running: Mutex<HashMap<String, Arc<OnceCell<Outcome>>>>,
}

impl Flights {
    /// Runs `fetch` for `url`, or waits for the run already under way and shares its
    /// outcome. If the caller running it goes away, a waiter takes over
    /// (`OnceCell::get_or_init`). The map holds only fetches in progress.
    pub async fn run<F, Fut>(&self, url: &str, fetch: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let cell = match self.running.lock() {
            Ok(mut map) => map.entry(url.to_owned()).or_default().clone(),
            Err(_) => Arc::new(OnceCell::new()),
        };
        let outcome = cell.get_or_init(fetch).await.clone();
        if let Ok(mut map) = self.running.lock() {
            if map.get(url).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                map.remove(url);
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_cache_stays_bounded() {
        let c = Cache::with_capacity(3);
        let body = Arc::new(b"{}".to_vec());
        c.insert("a", body.clone(), 100, 0);
        assert!(c.get("a", 99).is_some());
        assert!(c.get("a", 100).is_none(), "gone at its expiry");
        c.insert("b", body.clone(), 50, 0);
        c.insert("c", body.clone(), 200, 0);
        c.insert("d", body.clone(), 300, 0);
        assert_eq!(c.len(), 3);
        assert!(c.get("b", 0).is_none(), "the soonest to expire made room");
        // Expired entries go before live ones.
        c.insert("e", body.clone(), 400, 150);
        assert!(c.get("a", 150).is_none());
        assert!(c.get("c", 150).is_some() && c.get("d", 150).is_some());
        for i in 0..100 {
            c.insert(&format!("x{i}"), body.clone(), 1000, 0);
        }
        assert_eq!(c.len(), 3);
    }

    #[tokio::test]
    async fn concurrent_lookups_share_one_fetch() {
        let flights = Arc::new(Flights::default());
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (release, wait) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (flights, calls, mut wait) = (flights.clone(), calls.clone(), wait.clone());
            tasks.push(tokio::spawn(async move {
                flights
                    .run("u", || async move {
                        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let _ = wait.wait_for(|go| *go).await;
                        Ok(Arc::new(b"doc".to_vec()))
                    })
                    .await
            }));
        }
        tokio::task::yield_now().await;
        let _ = release.send(true);
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().as_slice(), b"doc");
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(flights.running.lock().unwrap().is_empty());
    }
}
