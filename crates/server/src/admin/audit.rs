//! The audit record of an administrative change: who (`Actor`), on what (`Target`), what
//! changed (`Changes`: field → `{from, to}`, secrets shown only as `[hidden]`), written to
//! the store and to the `valet::audit` log.

use serde::Serialize;
use serde_json::{Map, Value, json};
use valet_store::{AuditQuery, AuditRecord};

use super::{Admin, AdminError};

/// Who makes a change, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `cli:<os user>`, `user:<username>`, `client:<client_id>`.
    pub who: String,
    pub address: Option<String>,
}

impl Actor {
    /// The operator at a shell: the OS account running the command.
    pub fn cli() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Self {
            who: format!("cli:{user}"),
            address: None,
        }
    }

    /// An application holding a `valet:admin` token.
    pub fn client(client_id: &str, address: Option<String>) -> Self {
        Self {
            who: format!("client:{client_id}"),
            address,
        }
    }

    /// A person signed in to the console (or Valet itself acting for one, such as a user
    /// withdrawing a consent on /account).
    pub fn user(username: &str, address: Option<String>) -> Self {
        Self {
            who: format!("user:{username}"),
            address,
        }
    }
}

/// What a change was made to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Client(&'a str),
    Api(&'a str),
    User(&'a str),
    Key(&'a str),
    Grant(&'a str),
    Upstream(&'a str),
    /// Server-wide (an initial access token, say).
    Server,
}

impl std::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Client(id) => write!(f, "client:{id}"),
            Target::Api(a) => write!(f, "api:{a}"),
            Target::User(u) => write!(f, "user:{u}"),
            Target::Key(k) => write!(f, "key:{k}"),
            Target::Grant(g) => write!(f, "grant:{g}"),
            Target::Upstream(u) => write!(f, "upstream:{u}"),
            Target::Server => f.write_str("server"),
        }
    }
}

/// Field → `{"from": …, "to": …}`. Built only from values that are safe to show: secrets
/// go through `secret`, which never sees the value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes(Map<String, Value>);

impl Changes {
    /// The top-level fields that differ between two serializations of a record.
    pub fn diff(before: &impl Serialize, after: &impl Serialize) -> Self {
        let (b, a) = (to_object(before), to_object(after));
        let mut out = Map::new();
        for (k, to) in &a {
            let from = b.get(k).cloned().unwrap_or(Value::Null);
            if from != *to {
                out.insert(k.clone(), json!({ "from": from, "to": to }));
            }
        }
        for (k, from) in &b {
            if !a.contains_key(k) {
                out.insert(k.clone(), json!({ "from": from, "to": null }));
            }
        }
        Self(out)
    }

    /// Every field of a new record, from `null`.
    pub fn created(after: &impl Serialize) -> Self {
        Self::diff(&Value::Object(Map::new()), after)
    }

    /// Every field of a removed record, to `null`.
    pub fn removed(before: &impl Serialize) -> Self {
        Self::diff(before, &Value::Object(Map::new()))
    }

    pub fn set(mut self, field: &str, from: impl Serialize, to: impl Serialize) -> Self {
        self.0.insert(
            field.to_owned(),
            json!({ "from": to_value(from), "to": to_value(to) }),
        );
        self
    }

    /// A secret changed; its values are never recorded.
    pub fn secret(mut self, field: &str) -> Self {
        self.0.insert(
            field.to_owned(),
            json!({ "from": "[hidden]", "to": "[hidden]" }),
        );
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

fn to_value(v: impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn to_object(v: &impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The longest page of the trail one call reads.
pub const MAX_PAGE: u32 = 1000;

impl Admin {
    /// Writes the audit record of a change that has just been made, and logs it.
    pub(super) async fn record(
        &self,
        action: &str,
        target: Target<'_>,
        changes: Changes,
        now: i64,
    ) -> Result<(), AdminError> {
        let changes = changes.into_value().to_string();
        // The request that made the change (the admin API, the console), so one id
        // follows it through the response, the log and the trail.
        let request_id = crate::request_id::current();
        let target = target.to_string();
        tracing::info!(target: "valet::audit", actor = %self.actor.who,
            address = self.actor.address.as_deref().unwrap_or("-"), action, %target,
            %changes, "administrative change");
        let rec = AuditRecord {
            id: 0,
            at: now,
            actor: self.actor.who.clone(),
            address: self.actor.address.clone(),
            action: action.to_owned(),
            target,
            changes,
            request_id,
        };
        if let Err(e) = self.store.record_audit(&[rec]).await {
            // The change stands (it was made first); the log line above keeps the record.
            tracing::error!(error = %e, action, "the audit record could not be stored");
            return Err(e.into());
        }
        Ok(())
    }

    /// The trail, newest first (`query.limit` capped at `MAX_PAGE`).
    pub async fn audit(&self, mut query: AuditQuery) -> Result<Vec<AuditRecord>, AdminError> {
        query.limit = query.limit.clamp(1, MAX_PAGE);
        Ok(self.store.audit_events(&query).await?)
    }
}

/// An audit record as every face shows it: `changes` as JSON, not a string.
pub fn audit_json(r: &AuditRecord) -> Value {
    json!({
        "id": r.id,
        "at": r.at,
        "actor": r.actor,
        "address": r.address,
        "action": r.action,
        "target": r.target,
        "request_id": r.request_id,
        "changes": serde_json::from_str::<Value>(&r.changes).unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn diff_names_only_what_changed() {
        let c = Changes::diff(
            &json!({ "name": "A", "uris": ["x"], "same": 1, "gone": true }),
            &json!({ "name": "B", "uris": ["x", "y"], "same": 1, "new": 2 }),
        );
        assert_eq!(
            c.into_value(),
            json!({
                "name": { "from": "A", "to": "B" },
                "uris": { "from": ["x"], "to": ["x", "y"] },
                "gone": { "from": true, "to": null },
                "new": { "from": null, "to": 2 },
            })
        );
    }

    #[test]
    fn secrets_are_hidden() {
        let v = Changes::default().secret("client_secret").into_value();
        assert_eq!(
            v["client_secret"],
            json!({ "from": "[hidden]", "to": "[hidden]" })
        );
    }
}
