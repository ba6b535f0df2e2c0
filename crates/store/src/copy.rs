//! Moving up: copies a SQLite deployment into an empty PostgreSQL database, every row of
//! every table, in one PostgreSQL transaction that commits only if every table's row count
//! matches the source. The source is read in one read transaction (a consistent snapshot;
//! WAL lets a running Valet go on meanwhile, but what it writes after the snapshot is not
//! copied: stop it first).

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use sqlx::{Postgres, QueryBuilder, Row};
use std::path::Path;
use tokio::sync::mpsc;

use crate::postgres::PostgresStore;
use crate::{Result, StoreError};

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
    Blob,
    /// INTEGER 0/1 in SQLite, BOOLEAN in PostgreSQL.
    Bool,
}

use Kind::{Blob, Bool, Int, Text};

struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    /// The SQLite query when it is not a plain select of `columns`.
    select: Option<&'static str>,
}

/// Every table, parents before children. A table missing here would not be copied; the
/// test `copy_covers_every_table` compares this list with the schema. Not copied:
/// `heartbeat`, rewritten by every readiness check (it holds nothing, and a node started
/// on the target may have written it already).
const TABLES: &[Table] = &[
    Table {
        name: "throttle",
        columns: &[
            ("key", Text),
            ("window_start", Int),
            ("count", Int),
            ("next_at", Int),
            ("expires_at", Int),
        ],
        select: None,
    },
    Table {
        name: "clients",
        columns: &[
            ("client_id", Text),
            ("registration", Text),
            ("secret_hash", Blob),
            ("previous_secret_hash", Blob),
            ("previous_secret_expires_at", Int),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        select: None,
    },
    Table {
        // Copied as it is: the index of the registrations copied just before.
        name: "client_origins",
        columns: &[("origin", Text), ("client_id", Text)],
        select: None,
    },
    Table {
        name: "registrations",
        columns: &[
            ("client_id", Text),
            ("token_hash", Blob),
            ("fingerprint", Blob),
            ("created_at", Int),
            ("dedupe_until", Int),
            ("last_used_at", Int),
            ("expires_at", Int),
        ],
        select: None,
    },
    Table {
        name: "initial_access_tokens",
        columns: &[
            ("hash", Blob),
            ("uses_left", Int),
            ("created_at", Int),
            ("expires_at", Int),
        ],
        select: None,
    },
    Table {
        name: "apis",
        columns: &[
            ("audience", Text),
            ("name", Text),
            ("created_at", Int),
            ("access_token_format", Text),
            ("introspectors", Text),
            ("token_exchange", Text),
        ],
        select: None,
    },
    Table {
        name: "api_scopes",
        columns: &[
            ("name", Text),
            ("audience", Text),
            ("description", Text),
            ("position", Int),
        ],
        // SQLite keeps the scopes' order in its rowid; PostgreSQL in `position`.
        select: Some(
            "SELECT name, audience, description, \
             ROW_NUMBER() OVER (PARTITION BY audience ORDER BY rowid) - 1 FROM api_scopes",
        ),
    },
    Table {
        name: "signing_keys",
        columns: &[
            ("kid", Text),
            ("alg", Text),
            ("sealed_private", Blob),
            ("public_jwk", Text),
            ("created_at", Int),
            ("activates_at", Int),
            ("publish_until", Int),
        ],
        select: None,
    },
    Table {
        name: "revoked_tokens",
        columns: &[("jti", Text), ("expires_at", Int)],
        select: None,
    },
    Table {
        name: "users",
        columns: &[
            ("id", Text),
            ("username", Text),
            ("claims", Text),
            ("password_hash", Text),
            ("disabled", Bool),
            ("role", Text),
            ("created_at", Int),
            ("updated_at", Int),
            ("pending_until", Int),
        ],
        select: None,
    },
    Table {
        name: "authorization_codes",
        columns: &[
            ("hash", Blob),
            ("client_id", Text),
            ("grant_id", Text),
            ("details", Text),
            ("expires_at", Int),
            ("consumed_at", Int),
        ],
        select: None,
    },
    Table {
        name: "revoked_grants",
        columns: &[("grant_id", Text), ("expires_at", Int)],
        select: None,
    },
    Table {
        name: "grants",
        columns: &[
            ("grant_id", Text),
            ("client_id", Text),
            ("user_id", Text),
            ("scope", Text),
            ("session", Blob),
            ("created_at", Int),
            ("expires_at", Int),
            ("scope_changed_at", Int),
        ],
        select: None,
    },
    Table {
        name: "consents",
        columns: &[
            ("user_id", Text),
            ("client_id", Text),
            ("scope", Text),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        select: None,
    },
    Table {
        name: "sessions",
        columns: &[
            ("id_hash", Blob),
            ("user_id", Text),
            ("auth_time", Int),
            ("created_at", Int),
            ("expires_at", Int),
            ("amr", Text),
            ("address", Text),
            ("user_agent", Text),
            ("last_used_at", Int),
        ],
        select: None,
    },
    Table {
        name: "totp_factors",
        columns: &[
            ("user_id", Text),
            ("secret", Blob),
            ("last_step", Int),
            ("created_at", Int),
        ],
        select: None,
    },
    Table {
        name: "recovery_codes",
        columns: &[("user_id", Text), ("hash", Blob), ("created_at", Int)],
        select: None,
    },
    Table {
        name: "passkeys",
        columns: &[
            ("credential_id", Text),
            ("user_id", Text),
            ("name", Text),
            ("credential", Text),
            ("created_at", Int),
            ("last_used_at", Int),
        ],
        select: None,
    },
    Table {
        name: "refresh_tokens",
        columns: &[
            ("hash", Blob),
            ("grant_id", Text),
            ("client_id", Text),
            ("user_id", Text),
            ("details", Text),
            ("issued_at", Int),
            ("expires_at", Int),
            ("rotated_at", Int),
            ("successor", Blob),
            ("chain", Text),
            ("generation", Int),
        ],
        select: None,
    },
    Table {
        name: "opaque_access_tokens",
        columns: &[
            ("hash", Blob),
            ("client_id", Text),
            ("subject", Text),
            ("grant_id", Text),
            ("claims", Text),
            ("issued_at", Int),
            ("expires_at", Int),
        ],
        select: None,
    },
    Table {
        name: "used_forms",
        columns: &[("id", Text), ("expires_at", Int)],
        select: None,
    },
    Table {
        name: "used_once",
        columns: &[("kind", Text), ("id", Text), ("expires_at", Int)],
        select: None,
    },
    Table {
        name: "pushed_requests",
        columns: &[
            ("hash", Blob),
            ("client_id", Text),
            ("params", Text),
            ("expires_at", Int),
        ],
        select: None,
    },
    Table {
        name: "device_codes",
        columns: &[
            ("device_hash", Blob),
            ("user_code_hash", Blob),
            ("client_id", Text),
            ("details", Text),
            ("status", Text),
            ("user_id", Text),
            ("auth_time", Int),
            ("grant_id", Text),
            ("poll_interval", Int),
            ("last_poll_at", Int),
            ("created_at", Int),
            ("expires_at", Int),
            ("redeemed_at", Int),
            ("amr", Text),
        ],
        select: None,
    },
    Table {
        name: "logout_deliveries",
        columns: &[
            ("id", Int),
            ("client_id", Text),
            ("user_id", Text),
            ("session", Blob),
            ("attempts", Int),
            ("next_at", Int),
            ("expires_at", Int),
        ],
        select: None,
    },
    Table {
        name: "one_time_links",
        columns: &[
            ("hash", Blob),
            ("purpose", Text),
            ("user_id", Text),
            ("data", Text),
            ("created_at", Int),
            ("expires_at", Int),
        ],
        select: None,
    },
    Table {
        name: "upstream_identities",
        columns: &[
            ("upstream", Text),
            ("subject", Text),
            ("user_id", Text),
            ("email", Text),
            ("refresh_token", Blob),
            ("created_at", Int),
            ("last_used_at", Int),
        ],
        select: None,
    },
    Table {
        name: "upstream_providers",
        columns: &[
            ("id", Text),
            ("config", Text),
            ("secret", Blob),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        select: None,
    },
    Table {
        name: "audit_events",
        columns: &[
            ("id", Int),
            ("at", Int),
            ("actor", Text),
            ("address", Text),
            ("action", Text),
            ("target", Text),
            ("changes", Text),
            ("request_id", Text),
        ],
        select: None,
    },
];

/// Rows per INSERT (PostgreSQL allows 65535 bound values per statement).
const BATCH: usize = 500;

/// What was copied: (table, rows), in copy order.
pub type Copied = Vec<(&'static str, u64)>;

/// Copies every row of the SQLite database at `source` into `target`, which must hold no
/// data yet (its schema is created by `PostgresStore::connect`). All or nothing.
pub async fn sqlite_to_postgres(source: &Path, target: &PostgresStore) -> Result<Copied> {
    let pool = target.pool();
    let mut tx = pool.begin().await?;
    for t in TABLES {
        let any = sqlx::query(&format!("SELECT 1 FROM {} LIMIT 1", t.name))
            .fetch_optional(&mut *tx)
            .await?;
        if any.is_some() {
            return Err(StoreError::Conflict(format!(
                "the target database already holds data (table {}); copy into an empty one",
                t.name
            )));
        }
    }
    // One blocking reader streams batches; this task writes them.
    let (send, mut batches) = mpsc::channel::<(usize, Vec<Vec<Value>>)>(4);
    let path = source.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || read_all(&path, &send));
    let mut copied: Copied = TABLES.iter().map(|t| (t.name, 0)).collect();
    while let Some((i, rows)) = batches.recv().await {
        insert(&mut tx, &TABLES[i], &rows).await?;
        copied[i].1 += rows.len() as u64;
    }
    let expected = reader
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))??;
    for ((name, n), want) in copied.iter().zip(&expected) {
        let have: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {name}"))
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if *n != *want || have != *want as i64 {
            return Err(StoreError::Corrupt(format!(
                "{name}: the source holds {want} rows, {have} arrived; nothing was copied"
            )));
        }
    }
    // The ids came with the rows: the next row written on PostgreSQL follows them.
    for table in ["audit_events", "logout_deliveries"] {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                           COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
        ))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(copied)
}

/// Reads every table in one read transaction, sending batches; returns each table's count.
fn read_all(path: &Path, send: &mpsc::Sender<(usize, Vec<Vec<Value>>)>) -> Result<Vec<u64>> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch("BEGIN")?;
    let mut counts = Vec::with_capacity(TABLES.len());
    for (i, t) in TABLES.iter().enumerate() {
        let sql = match t.select {
            Some(s) => s.to_owned(),
            None => {
                let cols: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
                format!("SELECT {} FROM {}", cols.join(", "), t.name)
            }
        };
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let (mut batch, mut count) = (Vec::with_capacity(BATCH), 0u64);
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(t.columns.len());
            for c in 0..t.columns.len() {
                row.push(r.get::<_, Value>(c)?);
            }
            batch.push(row);
            count += 1;
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if send.blocking_send((i, full)).is_err() {
                    return Err(StoreError::Unavailable("the copy stopped".into()));
                }
            }
        }
        if !batch.is_empty() && send.blocking_send((i, batch)).is_err() {
            return Err(StoreError::Unavailable("the copy stopped".into()));
        }
        counts.push(count);
    }
    conn.execute_batch("COMMIT")?;
    Ok(counts)
}

async fn insert(tx: &mut sqlx::PgConnection, t: &Table, rows: &[Vec<Value>]) -> Result<()> {
    let cols: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
    let mut q: QueryBuilder<'_, Postgres> =
        QueryBuilder::new(format!("INSERT INTO {} ({}) ", t.name, cols.join(", ")));
    let mut bad = None;
    q.push_values(rows, |mut b, row| {
        for ((name, kind), v) in t.columns.iter().zip(row) {
            match (kind, v) {
                (Text, Value::Text(s)) => b.push_bind(Some(s.clone())),
                (Text, Value::Null) => b.push_bind(None::<String>),
                (Int, Value::Integer(n)) => b.push_bind(Some(*n)),
                (Int, Value::Null) => b.push_bind(None::<i64>),
                (Blob, Value::Blob(x)) => b.push_bind(Some(x.clone())),
                (Blob, Value::Null) => b.push_bind(None::<Vec<u8>>),
                (Bool, Value::Integer(n)) => b.push_bind(Some(*n != 0)),
                (Bool, Value::Null) => b.push_bind(None::<bool>),
                _ => {
                    bad = Some(format!("{}.{name} holds an unexpected type", t.name));
                    b.push_bind(None::<String>)
                }
            };
        }
    });
    if let Some(m) = bad {
        return Err(StoreError::Corrupt(m));
    }
    q.build().execute(tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::TABLES;

    #[tokio::test]
    async fn copy_covers_every_table() {
        // Every table and column of the SQLite schema is copied, so nothing is lost.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        drop(crate::sqlite::SqliteStore::open(&path).await.unwrap());
        let c = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = c
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap();
        let tables: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let mut listed: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        // Holds nothing worth copying (see TABLES).
        listed.push("heartbeat");
        listed.sort_unstable();
        assert_eq!(tables, listed);
        for t in TABLES {
            let mut cols: Vec<String> = c
                .prepare(&format!("SELECT name FROM pragma_table_info('{}')", t.name))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            let mut listed: Vec<String> = t.columns.iter().map(|(c, _)| (*c).to_owned()).collect();
            if t.name == "api_scopes" {
                // `position` is SQLite's rowid order.
                cols.push("position".into());
            }
            cols.sort();
            listed.sort();
            assert_eq!(cols, listed, "{}", t.name);
        }
    }
}
