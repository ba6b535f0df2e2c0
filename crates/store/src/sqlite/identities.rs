//! Accounts at upstream identity providers.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, immediate};
use crate::{Identities, IdentityRecord, Result, UnixTime, UserRecord};

const COLUMNS: &str = "upstream, subject, user_id, email, refresh_token, created_at, last_used_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IdentityRecord> {
    Ok(IdentityRecord {
        upstream: r.get(0)?,
        subject: r.get(1)?,
        user_id: r.get(2)?,
        email: r.get(3)?,
        refresh_token: r.get(4)?,
        created_at: r.get(5)?,
        last_used_at: r.get(6)?,
    })
}

fn insert(c: &rusqlite::Connection, i: &IdentityRecord) -> Result<bool> {
    Ok(c.prepare_cached(&format!(
        "INSERT INTO upstream_identities ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT DO NOTHING"
    ))?
    .execute(params![
        i.upstream,
        i.subject,
        i.user_id,
        i.email,
        i.refresh_token,
        i.created_at,
        i.last_used_at
    ])? == 1)
}

#[async_trait]
impl Identities for SqliteStore {
    async fn identity(&self, upstream: &str, subject: &str) -> Result<Option<IdentityRecord>> {
        let (u, s) = (upstream.to_owned(), subject.to_owned());
        self.point_read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM upstream_identities WHERE upstream = ?1 AND subject = ?2"
            ))?
            .query_row(params![u, s], row)
            .optional()?)
        })
        .await
    }

    async fn identities_of_user(&self, user_id: &str) -> Result<Vec<IdentityRecord>> {
        let id = user_id.to_owned();
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM upstream_identities WHERE user_id = ?1 \
                 ORDER BY upstream, subject"
            ))?;
            let rows = st.query_map([id], row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn link_identity(&self, identity: &IdentityRecord) -> Result<bool> {
        let i = identity.clone();
        self.write(move |c| insert(c, &i)).await
    }

    async fn create_user_with_identity(
        &self,
        user: &UserRecord,
        identity: &IdentityRecord,
    ) -> Result<bool> {
        let (user, i) = (user.clone(), identity.clone());
        self.write(move |c| {
            let tx = immediate(c)?;
            if !insert(&tx, &i)? {
                return Ok(false);
            }
            super::users::insert_user(&tx, &user)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn identity_used(
        &self,
        upstream: &str,
        subject: &str,
        email: Option<&str>,
        refresh_token: Option<&[u8]>,
        now: UnixTime,
    ) -> Result<bool> {
        let (u, s) = (upstream.to_owned(), subject.to_owned());
        let (email, token) = (email.map(str::to_owned), refresh_token.map(<[u8]>::to_vec));
        self.write(move |c| {
            Ok(c.prepare_cached(
                "UPDATE upstream_identities SET last_used_at = ?3, email = ?4, \
                 refresh_token = COALESCE(?5, refresh_token) WHERE upstream = ?1 AND subject = ?2",
            )?
            .execute(params![u, s, now, email, token])?
                == 1)
        })
        .await
    }

    async fn unlink_identity(&self, user_id: &str, upstream: &str, subject: &str) -> Result<bool> {
        let (id, u, s) = (user_id.to_owned(), upstream.to_owned(), subject.to_owned());
        self.write(move |c| {
            Ok(c.prepare_cached(
                "DELETE FROM upstream_identities \
                 WHERE user_id = ?1 AND upstream = ?2 AND subject = ?3",
            )?
            .execute(params![id, u, s])?
                == 1)
        })
        .await
    }
}
