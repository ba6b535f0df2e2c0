//! APIs and their scopes.

use async_trait::async_trait;
use rusqlite::params;
use valet_protocol::audience::{Api, ApiScope};

use super::{SqliteStore, immediate};
use crate::model::ApiRecord;
use crate::{Apis, Result, StoreError};

#[async_trait]
impl Apis for SqliteStore {
    async fn create_api(&self, api: &ApiRecord) -> Result<()> {
        let a = api.clone();
        self.write(move |c| {
            let tx = immediate(c)?;
            tx.execute(
                "INSERT INTO apis (audience, name, created_at, access_token_format, introspectors, \
                                   token_exchange) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    a.api.audience,
                    a.name,
                    a.created_at,
                    a.api.access_token_format.as_str(),
                    serde_json::to_string(&a.api.introspectors)?,
                    serde_json::to_string(&a.api.token_exchange)?
                ],
            )?;
            for s in &a.api.scopes {
                tx.execute(
                    "INSERT INTO api_scopes (name, audience, description) VALUES (?1, ?2, ?3)",
                    params![s.name, a.api.audience, s.description],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn update_api(&self, api: &ApiRecord) -> Result<bool> {
        let a = api.clone();
        self.write(move |c| {
            let tx = immediate(c)?;
            let n = tx.execute(
                "UPDATE apis SET name = ?2, access_token_format = ?3, introspectors = ?4, \
                        token_exchange = ?5 \
                 WHERE audience = ?1",
                params![
                    a.api.audience,
                    a.name,
                    a.api.access_token_format.as_str(),
                    serde_json::to_string(&a.api.introspectors)?,
                    serde_json::to_string(&a.api.token_exchange)?
                ],
            )?;
            if n == 0 {
                return Ok(false);
            }
            tx.execute(
                "DELETE FROM api_scopes WHERE audience = ?1",
                [&a.api.audience],
            )?;
            for s in &a.api.scopes {
                tx.execute(
                    "INSERT INTO api_scopes (name, audience, description) VALUES (?1, ?2, ?3)",
                    params![s.name, a.api.audience, s.description],
                )?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn apis(&self) -> Result<Vec<ApiRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.audience, a.name, a.created_at, s.name, s.description, \
                        a.access_token_format, a.introspectors, a.token_exchange \
                 FROM apis a LEFT JOIN api_scopes s ON s.audience = a.audience \
                 ORDER BY a.created_at, a.audience, s.rowid",
            )?;
            let mut out: Vec<ApiRecord> = Vec::new();
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let audience: String = r.get(0)?;
                if out.last().is_none_or(|l| l.api.audience != audience) {
                    out.push(ApiRecord {
                        name: r.get(1)?,
                        api: Api {
                            audience,
                            scopes: vec![],
                            access_token_format: r
                                .get::<_, String>(5)?
                                .parse()
                                .map_err(StoreError::Corrupt)?,
                            introspectors: serde_json::from_str(&r.get::<_, String>(6)?)?,
                            token_exchange: serde_json::from_str(&r.get::<_, String>(7)?)?,
                        },
                        created_at: r.get(2)?,
                    });
                }
                if let (Some(name), Some(description)) = (
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ) {
                    if let Some(last) = out.last_mut() {
                        last.api.scopes.push(ApiScope { name, description });
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn delete_api(&self, audience: &str) -> Result<bool> {
        let aud = audience.to_owned();
        self.write(move |c| Ok(c.execute("DELETE FROM apis WHERE audience = ?1", [aud])? == 1))
            .await
    }
}
