//! `valet migrate --to postgres://…`: moving a SQLite deployment to PostgreSQL.

use valet_server::config::{Database, Settings};
use valet_store::copy;
use valet_store::postgres::{PostgresOptions, PostgresStore};
use valet_store::sqlite::SqliteStore;

pub async fn to_postgres(settings: &Settings, to: &str) -> Result<(), String> {
    let Database::Sqlite(source) = &settings.database else {
        return Err("migrate copies from SQLite: point --database at the sqlite:// file".into());
    };
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        return Err("--to must be a postgres:// URL".into());
    }
    if !source.exists() {
        return Err(format!("{} does not exist", source.display()));
    }
    // Opening applies the source's pending migrations, so both schemas are current. It
    // is opened as the only process using the file, until the copy is done: refused
    // while a server runs on it (whose writes after the copy would be lost), and no
    // server starts on it meanwhile.
    let source_store = SqliteStore::open_exclusive(source)
        .await
        .map_err(|e| format!("nothing was copied: {e}"))?;
    let mut opts = PostgresOptions::new(to);
    opts.max_connections = 2;
    opts.timeout = std::time::Duration::from_secs(settings.database_timeout as u64);
    let target = PostgresStore::connect(&opts)
        .await
        .map_err(|e| format!("cannot open the PostgreSQL database: {e}"))?;
    // The copy itself may take longer than one call's timeout: it is one transaction
    // whose statements are each bounded by the server's statement_timeout.
    let copied = copy::sqlite_to_postgres(source, &target)
        .await
        .map_err(|e| format!("nothing was copied: {e}"))?;
    drop(source_store);
    let total: u64 = copied.iter().map(|(_, n)| n).sum();
    for (table, n) in &copied {
        out!("{table:<22} {n:>10}");
    }
    out!(
        "copied {total} rows from {} to PostgreSQL; start every node with \
         --database <that URL> and the same master key as before",
        source.display()
    );
    Ok(())
}
