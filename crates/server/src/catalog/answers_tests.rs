#![allow(clippy::unwrap_used)]
use super::{Answers, MAX_KEY};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

/// Counts the loads it answers, each returning `value`.
#[derive(Default)]
struct Source(AtomicUsize);

impl Source {
    async fn load(&self, value: u32) -> Result<u32, ()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(value)
    }

    fn loads(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

fn always(_: &u32) -> bool {
    true
}

#[tokio::test]
async fn an_answer_lasts_ttl_seconds_of_the_clock() {
    let (a, src) = (Answers::new(5, 10), Source::default());
    assert_eq!(a.get("k", 100, always, || src.load(1)).await, Ok(1));
    for now in 100..105 {
        assert_eq!(a.get("k", now, always, || src.load(2)).await, Ok(1));
    }
    assert_eq!(src.loads(), 1);
    // Five seconds after the load began it is asked again.
    assert_eq!(a.get("k", 105, always, || src.load(2)).await, Ok(2));
    assert_eq!(src.loads(), 2);
    // A clock set back does not make an answer live longer.
    assert_eq!(a.get("k", 90, always, || src.load(3)).await, Ok(3));
    // With a ttl of 0 nothing is kept.
    let none = Answers::new(0, 10);
    for v in 0..3 {
        assert_eq!(none.get("k", 100, always, || src.load(v)).await, Ok(v));
    }
}

#[tokio::test]
async fn forgotten_unkept_failed_and_long_answers_are_asked_again() {
    let (a, src) = (Answers::new(60, 10), Source::default());
    a.get("k", 100, always, || src.load(1)).await.unwrap();
    a.forget("k");
    assert_eq!(a.get("k", 100, always, || src.load(2)).await, Ok(2));
    a.clear();
    assert_eq!(a.get("k", 100, always, || src.load(3)).await, Ok(3));
    // `keep` false (an unknown client_id): answered, not kept.
    let odd = |v: &u32| v % 2 == 1;
    assert_eq!(a.get("u", 100, odd, || src.load(4)).await, Ok(4));
    assert_eq!(a.get("u", 100, odd, || src.load(5)).await, Ok(5));
    assert_eq!(a.get("u", 100, odd, || src.load(6)).await, Ok(5));
    // An error is never kept.
    assert_eq!(a.get("e", 100, always, || async { Err(()) }).await, Err(()));
    assert_eq!(a.get("e", 100, always, || src.load(7)).await, Ok(7));
    // A key longer than MAX_KEY is looked up every time.
    let long = "o".repeat(MAX_KEY + 1);
    let before = src.loads();
    for _ in 0..3 {
        a.get(&long, 100, always, || src.load(8)).await.unwrap();
    }
    assert_eq!(src.loads(), before + 3);
}

#[tokio::test]
async fn the_least_recently_used_answer_goes_when_full() {
    let (a, src) = (Answers::new(60, 3), Source::default());
    for k in ["a", "b", "c"] {
        a.get(k, 100, always, || src.load(1)).await.unwrap();
    }
    // "a" is used again, so "b" is the one that goes for "d".
    a.get("a", 100, always, || src.load(1)).await.unwrap();
    a.get("d", 100, always, || src.load(1)).await.unwrap();
    assert_eq!(src.loads(), 4);
    for k in ["a", "c", "d"] {
        a.get(k, 100, always, || src.load(1)).await.unwrap();
    }
    assert_eq!(src.loads(), 4);
    a.get("b", 100, always, || src.load(1)).await.unwrap();
    assert_eq!(src.loads(), 5);
    assert_eq!(a.lock().len(), 3);
}

/// `n` callers of one key while its one load is held until `gate` opens.
async fn racing(
    a: &Arc<Answers<u32>>,
    src: &Arc<Source>,
    gate: &Arc<Semaphore>,
    now: i64,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Result<u32, ()>>> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (a, src, gate) = (a.clone(), src.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            a.get("k", now, always, || async {
                let _open = gate.acquire().await.unwrap();
                src.load(2).await
            })
            .await
        }));
    }
    // Let every task reach its lookup.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    tasks
}

#[tokio::test]
async fn one_caller_loads_while_the_others_wait_for_it() {
    let (a, src) = (Arc::new(Answers::new(5, 10)), Arc::new(Source::default()));
    let gate = Arc::new(Semaphore::new(0));
    let tasks = racing(&a, &src, &gate, 100, 20).await;
    assert!(
        tasks.iter().all(|t| !t.is_finished()),
        "they wait for the load"
    );
    gate.add_permits(100);
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(2));
    }
    assert_eq!(src.loads(), 1);
}

#[tokio::test]
async fn while_an_answer_in_use_is_refreshed_the_others_give_the_old_one() {
    let (a, src) = (Arc::new(Answers::new(5, 10)), Arc::new(Source::default()));
    a.get("k", 100, always, || src.load(1)).await.unwrap();
    // Expired just now: one refreshes, the others answer at once from the old value.
    let gate = Arc::new(Semaphore::new(0));
    let mut tasks = racing(&a, &src, &gate, 105, 20).await;
    let loader = tasks.remove(0);
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(1));
    }
    assert!(!loader.is_finished());
    gate.add_permits(100);
    assert_eq!(loader.await.unwrap(), Ok(2));
    assert_eq!(src.loads(), 2);
    assert_eq!(a.get("k", 106, always, || src.load(3)).await, Ok(2));

    // Expired longer ago: the old value is too old to give; they wait for the new one.
    let gate = Arc::new(Semaphore::new(0));
    let tasks = racing(&a, &src, &gate, 200, 20).await;
    assert!(tasks.iter().all(|t| !t.is_finished()));
    gate.add_permits(100);
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(2));
    }
    assert_eq!(src.loads(), 3);
}

#[tokio::test]
async fn a_failed_or_abandoned_load_leaves_its_waiters_to_load_for_themselves() {
    let a = Arc::new(Answers::new(5, 10));
    let src = Arc::new(Source::default());
    let gate = Arc::new(Semaphore::new(0));
    let loader = {
        let (a, gate) = (a.clone(), gate.clone());
        tokio::spawn(async move {
            a.get("k", 100, always, || async move {
                let _open = gate.acquire().await.unwrap();
                Err::<u32, ()>(())
            })
            .await
        })
    };
    tokio::task::yield_now().await;
    let waiters = racing(&a, &src, &Arc::new(Semaphore::new(100)), 100, 5).await;
    assert!(waiters.iter().all(|t| !t.is_finished()));
    gate.add_permits(1);
    assert_eq!(loader.await.unwrap(), Err(()));
    for t in waiters {
        assert_eq!(t.await.unwrap(), Ok(2));
    }
    assert_eq!(src.loads(), 5);

    // A load whose request went away (its future dropped) frees its waiters too.
    let b = Arc::new(Answers::new(5, 10));
    let never = Arc::new(Semaphore::new(0));
    let loader = {
        let (b, never) = (b.clone(), never.clone());
        tokio::spawn(async move {
            b.get("k", 100, always, || async move {
                let _open = never.acquire().await.unwrap();
                Ok::<u32, ()>(9)
            })
            .await
        })
    };
    tokio::task::yield_now().await;
    let waiters = racing(&b, &src, &Arc::new(Semaphore::new(100)), 100, 3).await;
    loader.abort();
    for t in waiters {
        assert_eq!(t.await.unwrap(), Ok(2));
    }
    // Nothing of the abandoned load was kept: the next caller loads.
    assert_eq!(b.get("k", 101, always, || src.load(4)).await, Ok(4));
}
