//! Upstream identity providers added through the administration.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::{Result, UpstreamProviderRecord, UpstreamProviders};

const COLUMNS: &str = "id, config, secret, created_at, updated_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UpstreamProviderRecord> {
    Ok(UpstreamProviderRecord {
        id: r.get(0)?,
        config: r.get(1)?,
        secret: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

#[async_trait]
impl UpstreamProviders for SqliteStore {
    async fn upstream_providers(&self) -> Result<Vec<UpstreamProviderRecord>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM upstream_providers ORDER BY id"
            ))?;
            let rows = st.query_map([], row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn upstream_provider(&self, id: &str) -> Result<Option<UpstreamProviderRecord>> {
        let id = id.to_owned();
        self.point_read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM upstream_providers WHERE id = ?1"
            ))?
            .query_row([id], row)
            .optional()?)
        })
        .await
    }

    async fn create_upstream_provider(&self, p: &UpstreamProviderRecord) -> Result<()> {
        let p = p.clone();
        self.write(move |c| {
            c.prepare_cached(&format!(
                "INSERT INTO upstream_providers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"
            ))?
            .execute(params![
                p.id,
                p.config,
                p.secret,
                p.created_at,
                p.updated_at
            ])?;
            Ok(())
        })
        .await
    }

    async fn update_upstream_provider(&self, p: &UpstreamProviderRecord) -> Result<bool> {
        let p = p.clone();
        self.write(move |c| {
            Ok(c.prepare_cached(
                "UPDATE upstream_providers SET config = ?2, secret = ?3, updated_at = ?4 \
                 WHERE id = ?1",
            )?
            .execute(params![p.id, p.config, p.secret, p.updated_at])?
                == 1)
        })
        .await
    }

    async fn delete_upstream_provider(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |c| {
            Ok(
                c.prepare_cached("DELETE FROM upstream_providers WHERE id = ?1")?
                    .execute([id])?
                    == 1,
            )
        })
        .await
    }
}
