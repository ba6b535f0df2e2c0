//! The `valet` binary: `serve`, and the admin commands that act on the same database
//! whether a server is running or not.

/// `println!` that never panics: an admin command whose standard output was closed (`valet
/// client list | head -1`) stops writing instead of panicking with "failed printing to
/// stdout".
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod cli;
mod commands;
mod logs;
mod migrate;
mod telemetry;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let code = run();
    telemetry::shutdown();
    // The last lines ("Valet stopped", an error) are written, or given up on in bounded
    // time: a standard error nobody reads never holds the exit.
    logs::flush(logs::FLUSH_WAIT);
    code
}

/// Standard error is written only through `logs`, which never panics nor blocks (issue
/// 12, item 7): no `eprintln!` here.
fn run() -> ExitCode {
    let cli = cli::Cli::parse();
    let service_links = match cli::check_environment() {
        Ok(links) => links,
        Err(e) => {
            logs::print(&format!("error: {e}"));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            logs::print(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli, service_links)) {
        // `valet plan` found changes to make (for CI: the database drifted from the file).
        Ok(()) if commands::DRIFT.load(std::sync::atomic::Ordering::Relaxed) => ExitCode::from(2),
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            logs::print(&format!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}
