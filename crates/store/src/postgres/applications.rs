//! Applications (PostgreSQL). Same rules as `sqlite/applications`.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use crate::model::{ClientRecord, SecretHash};
use crate::{Applications, Result, StoreError, UnixTime};
use valet_protocol::application::Application;

pub(super) const CLIENT_COLUMNS: &str = "registration, secret_hash, previous_secret_hash, \
     previous_secret_expires_at, created_at, updated_at";

/// Replaces `app`'s rows of `client_origins` with its `web_origins()`, inside the
/// transaction that writes its registration (as `sqlite/applications`: the origins are
/// computed in Rust). Two statements, not one: a DELETE and an INSERT in one statement
/// share a snapshot, so an origin kept across the change would be skipped as a conflict
/// by the INSERT and then removed by the DELETE.
pub(super) async fn index_origins(c: &mut sqlx::PgConnection, app: &Application) -> Result<()> {
    sqlx::query("DELETE FROM client_origins WHERE client_id = $1")
        .bind(&app.client_id)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO client_origins (origin, client_id) \
         SELECT o, $1 FROM unnest($2::TEXT[]) AS o ON CONFLICT DO NOTHING",
    )
    .bind(&app.client_id)
    .bind(app.web_origins())
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Fills `client_origins` for the applications stored before it existed: run by
/// `migrate` in the migration's transaction, right after `0017_client_origins.sql`. A
/// registration that does not parse fails the migration, as it fails every read of it.
pub(super) async fn backfill_origins(c: &mut sqlx::PgConnection) -> Result<()> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT client_id, registration FROM clients")
        .fetch_all(&mut *c)
        .await?;
    let (mut origins, mut ids) = (Vec::new(), Vec::new());
    for (id, reg) in rows {
        let app: Application = serde_json::from_str(&reg)
            .map_err(|e| StoreError::Corrupt(format!("application {id}: its registration: {e}")))?;
        for origin in app.web_origins() {
            origins.push(origin);
            ids.push(id.clone());
        }
    }
    sqlx::query(
        "INSERT INTO client_origins (origin, client_id) \
         SELECT * FROM unnest($1::TEXT[], $2::TEXT[]) ON CONFLICT DO NOTHING",
    )
    .bind(origins)
    .bind(ids)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub(super) fn client_record(r: &PgRow) -> Result<ClientRecord> {
    let reg: String = r.try_get(0)?;
    let prev: Option<Vec<u8>> = r.try_get(2)?;
    let prev_until: Option<i64> = r.try_get(3)?;
    Ok(ClientRecord {
        app: serde_json::from_str(&reg)?,
        secret: r.try_get::<Option<Vec<u8>>, _>(1)?.map(SecretHash),
        previous_secret: prev.zip(prev_until).map(|(h, t)| (SecretHash(h), t)),
        created_at: r.try_get(4)?,
        updated_at: r.try_get(5)?,
    })
}

#[async_trait]
impl Applications for PostgresStore {
    async fn create_client(&self, client: &ClientRecord) -> Result<()> {
        self.timed(async {
            let reg = serde_json::to_string(&client.app)?;
            let mut tx = self.pool.begin().await?;
            sqlx::query(&format!(
                "INSERT INTO clients (client_id, {CLIENT_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(&client.app.client_id)
            .bind(reg)
            .bind(client.secret.as_ref().map(|s| &s.0))
            .bind(client.previous_secret.as_ref().map(|p| &p.0.0))
            .bind(client.previous_secret.as_ref().map(|p| p.1))
            .bind(client.created_at)
            .bind(client.updated_at)
            .execute(&mut *tx)
            .await?;
            index_origins(&mut tx, &client.app).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1"
            ))
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(client_record)
            .transpose()
        })
        .await
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, client_id"
            ))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(client_record)
            .collect()
        })
        .await
    }

    async fn update_client(&self, client: &ClientRecord) -> Result<bool> {
        self.timed(async {
            let reg = serde_json::to_string(&client.app)?;
            let mut tx = self.pool.begin().await?;
            let n = sqlx::query(
                "UPDATE clients SET registration = $2, updated_at = $3 WHERE client_id = $1",
            )
            .bind(&client.app.client_id)
            .bind(reg)
            .bind(client.updated_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                index_origins(&mut tx, &client.app).await?;
            }
            tx.commit().await?;
            Ok(n == 1)
        })
        .await
    }

    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret: &SecretHash,
        previous_until: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<bool> {
        self.timed(async {
            // One statement: the old hash moves to `previous_*` as the new one lands.
            let n = sqlx::query(
                "UPDATE clients SET \
                   previous_secret_hash = \
                     CASE WHEN $3::BIGINT IS NULL THEN NULL ELSE secret_hash END, \
                   previous_secret_expires_at = $3, \
                   secret_hash = $2, updated_at = $4 \
                 WHERE client_id = $1 AND secret_hash IS NOT NULL",
            )
            .bind(client_id)
            .bind(&secret.0)
            .bind(previous_until)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
        .await
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool> {
        // Its `client_origins` rows go with it (ON DELETE CASCADE).
        self.timed(async {
            let n = sqlx::query("DELETE FROM clients WHERE client_id = $1")
                .bind(client_id)
                .execute(&self.pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
        .await
    }

    async fn is_web_origin(&self, origin: &str) -> Result<bool> {
        self.timed(async {
            Ok(
                sqlx::query("SELECT 1 FROM client_origins WHERE origin = $1 LIMIT 1")
                    .bind(origin)
                    .fetch_optional(&self.pool)
                    .await?
                    .is_some(),
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::testdb::TestDatabase;
    use super::super::{CLIENT_ORIGINS, MIGRATIONS, PostgresOptions, PostgresStore};
    use crate::Applications;
    use sqlx::Connection;

    /// A registration as stored before the origin index.
    const OLD: &str = r#"{"client_id":"old","name":"Old","profile":"web",
        "redirect_uris":["https://old.example/cb"],"grant_types":["authorization_code"],
        "scopes":[],"token_endpoint_auth_method":"client_secret_basic","trusted":false,
        "cors_origins":["https://cors.example"]}"#;

    #[tokio::test]
    #[cfg_attr(
        not(postgres_tests),
        ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
    )]
    async fn the_migration_fills_the_index_from_the_stored_applications() {
        // A database at the schema before `client_origins`, holding one application.
        let db = TestDatabase::create().await.unwrap();
        let before = MIGRATIONS
            .iter()
            .position(|m| *m == CLIENT_ORIGINS)
            .unwrap();
        {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            for sql in &MIGRATIONS[..before] {
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            }
            sqlx::raw_sql(&format!(
                "CREATE TABLE valet_schema (version INTEGER NOT NULL); \
                 INSERT INTO valet_schema (version) VALUES ({before})"
            ))
            .execute(&mut c)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO clients (client_id, registration, created_at, updated_at) \
                 VALUES ('old', $1, 1, 1)",
            )
            .bind(OLD)
            .execute(&mut c)
            .await
            .unwrap();
            c.close().await.unwrap();
        }
        let s = PostgresStore::connect(&PostgresOptions::new(&db.url))
            .await
            .unwrap();
        assert!(s.is_web_origin("https://old.example").await.unwrap());
        assert!(s.is_web_origin("https://cors.example").await.unwrap());
        assert!(!s.is_web_origin("https://other.example").await.unwrap());
        assert!(s.delete_client("old").await.unwrap());
        assert!(!s.is_web_origin("https://old.example").await.unwrap());
    }
}
