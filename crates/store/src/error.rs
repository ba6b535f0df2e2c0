//! Store errors, in the terms callers act on.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is unreachable, busy or failed: retry later (HTTP 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule refused the write (the record exists).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored record cannot be read back (schema or data damage).
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
                Self::Conflict(e.to_string())
            }
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..) => Self::Corrupt(e.to_string()),
            _ => Self::Unavailable(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        Self::Corrupt(e.to_string())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            // Class 23: integrity constraint violation (unique, foreign key, check…).
            sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("23")) => {
                Self::Conflict(d.message().to_owned())
            }
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. } => Self::Corrupt(e.to_string()),
            // Unreachable, timed out, pool closed or exhausted, statement cancelled,
            // serialization failure or deadlock (class 40): all worth a retry.
            _ => Self::Unavailable(e.to_string()),
        }
    }
}
