//! Where the binary's logs go: standard error, through a bounded queue drained by a
//! thread of its own (issue 12, item 7). A log that cannot be written never costs a
//! response, a 503 or a shutdown (ARCHITECTURE invariant 6):
//!
//! - nothing here panics: a failed write (a closed pipe, a full disk, `/dev/full`) is
//!   ignored, where `eprintln!` and tracing-subscriber's own error report would panic;
//! - nothing here blocks the caller: a request's log line goes into the queue, and when a
//!   reader stops reading (a pipe nobody drains) only the log thread waits; once the queue
//!   is full, lines are dropped and counted, and the count is written when writing works
//!   again;
//! - the last lines are flushed at exit, waiting for the log thread a bounded time.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Lines held for a slow standard error before new ones are dropped.
const QUEUE_LINES: usize = 4096;

/// How long the exit waits for queued lines to be written.
pub const FLUSH_WAIT: Duration = Duration::from_secs(1);

enum Msg {
    Bytes(Vec<u8>),
    Flush(SyncSender<()>),
}

struct Queue {
    send: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
}

static QUEUE: OnceLock<Queue> = OnceLock::new();

fn queue() -> &'static Queue {
    QUEUE.get_or_init(|| {
        let (send, recv) = mpsc::sync_channel(QUEUE_LINES);
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        // If the thread cannot start, `send` finds no receiver and every line is dropped:
        // still no panic and no wait.
        let _ = std::thread::Builder::new()
            .name("valet-log".into())
            .spawn(move || drain(&recv, &counter));
        Queue { send, dropped }
    })
}

/// The log thread: writes what arrives, ignoring every error.
fn drain(recv: &Receiver<Msg>, dropped: &AtomicU64) {
    let mut err = std::io::stderr();
    while let Ok(msg) = recv.recv() {
        match msg {
            Msg::Bytes(bytes) => {
                let lost = dropped.swap(0, Ordering::Relaxed);
                if lost > 0 {
                    let _ = writeln!(
                        err,
                        "valet: {lost} log line(s) were dropped: standard error was not keeping up"
                    );
                }
                let _ = err.write_all(&bytes);
            }
            Msg::Flush(done) => {
                let _ = err.flush();
                let _ = done.send(());
            }
        }
    }
}

/// Queues `bytes` for standard error; never blocks, never fails.
pub fn write(bytes: &[u8]) {
    let q = queue();
    match q.send.try_send(Msg::Bytes(bytes.to_vec())) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            q.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Err(TrySendError::Disconnected(_)) => {}
    }
}

/// A line of text for a person (an error at exit, the master-key note), through the same
/// queue as the logs.
pub fn print(text: &str) {
    let mut line = text.to_owned();
    if !line.ends_with('\n') {
        line.push('\n');
    }
    write(line.as_bytes());
}

/// Waits at most `wait` for what is queued to be written (at exit).
pub fn flush(wait: Duration) {
    let (done, finished) = mpsc::sync_channel(1);
    if queue().send.try_send(Msg::Flush(done)).is_ok() {
        let _ = finished.recv_timeout(wait);
    }
}

/// The `MakeWriter` for tracing-subscriber: each event, formatted, is one queued write.
#[derive(Clone, Copy, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Self::Writer {
        Stderr
    }
}
