//! `valet apply` (issue 21): makes a plan's changes through the same `Admin` calls as
//! every other face, so each is validated and audited as if an operator had made it.
//!
//! APIs and applications refer to each other (an application's scopes are an API's; an
//! API names applications as introspectors and exchangers), so the changes run in this
//! order: APIs and their new scopes (without the references), then applications, then
//! the APIs' references, then removals (scopes, applications, APIs). Identity providers
//! go with the applications; a new one's secret comes from the environment variable its
//! `client_secret_env` names. Each change is its
//! own transaction: if one is refused, the ones before it stand and the error names it;
//! `plan` then shows what is left.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use super::desired::{Change, Desired, Plan};
use super::plan::id_names;
use super::{
    Admin, AdminError, ApiChanges, ClientChanges, NewApi, NewClient, NewUpstream, UpstreamChanges,
};
use crate::crypto::Secret;

/// What `apply` did: how many changes, and each new confidential application's secret
/// (shown once, never stored in the file).
pub struct Applied {
    pub changes: usize,
    pub secrets: Vec<(String, String, Secret)>,
}

/// Never prints a secret: how many changes, and whose secrets were made.
impl std::fmt::Debug for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.secrets.iter().map(|(n, ..)| n.as_str()).collect();
        f.debug_struct("Applied")
            .field("changes", &self.changes)
            .field("secrets_for", &names)
            .finish()
    }
}

const REFERENCES: [&str; 2] = ["introspectors", "token_exchange"];

fn from_spec<T: serde::de::DeserializeOwned>(
    what: &str,
    m: Map<String, Value>,
) -> Result<T, AdminError> {
    serde_json::from_value(Value::Object(m))
        .map_err(|e| AdminError::Invalid(format!("{what}: {e}")))
}

impl Admin {
    /// `env` reads the variable a new upstream's `client_secret_env` names (the CLI:
    /// the process environment).
    pub async fn apply(
        &self,
        file: &Desired,
        prune: bool,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
        now: i64,
    ) -> Result<Applied, AdminError> {
        let plan = self.plan(file, prune).await?;
        self.apply_plan(&plan, env, now).await
    }

    /// Makes the changes of `plan` (as `plan` made it, just before): the CLI shows a plan
    /// and applies that one, not a second.
    pub async fn apply_plan(
        &self,
        plan: &Plan,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
        now: i64,
    ) -> Result<Applied, AdminError> {
        if !plan.refused.is_empty() {
            return Err(AdminError::Invalid(format!(
                "nothing applied: {}",
                plan.refused.join("; ")
            )));
        }
        // Every new provider's secret first: a missing one stops the run before any change.
        let mut secrets = BTreeMap::new();
        for c in &plan.changes {
            if let Change::CreateUpstream { id, spec } = c {
                let var = spec
                    .get("client_secret_env")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        AdminError::Invalid(format!(
                            "upstream {id}: client_secret_env must name the environment variable holding its secret"
                        ))
                    })?;
                let secret = env(var).ok_or_else(|| {
                    AdminError::Invalid(format!(
                        "nothing applied: upstream {id}: the environment variable {var} (client_secret_env) is not set"
                    ))
                })?;
                secrets.insert(id.clone(), secret);
            }
        }
        let mut done = Applied {
            changes: 0,
            secrets: Vec::new(),
        };
        // 1. APIs and new scopes, references left for step 3.
        let mut references: Vec<(String, Map<String, Value>)> = Vec::new();
        for c in &plan.changes {
            match c {
                Change::CreateApi { audience, spec } => {
                    let mut spec = spec.clone();
                    let refs: Map<String, Value> = REFERENCES
                        .iter()
                        .filter_map(|k| spec.remove(*k).map(|v| ((*k).to_owned(), v)))
                        .collect();
                    if !refs.is_empty() {
                        references.push((audience.clone(), refs));
                    }
                    let new: NewApi = from_spec(&format!("api {audience}"), spec)?;
                    self.create_api(new, now).await?;
                }
                Change::UpdateApi { audience, fields } => {
                    let (refs, own): (Vec<_>, Vec<_>) = fields
                        .iter()
                        .partition(|(k, ..)| REFERENCES.contains(&k.as_str()));
                    if !refs.is_empty() {
                        references.push((
                            audience.clone(),
                            refs.into_iter()
                                .map(|(k, _, to)| (k.clone(), to.clone()))
                                .collect(),
                        ));
                    }
                    if own.is_empty() {
                        continue;
                    }
                    let ch: Map<String, Value> = own
                        .into_iter()
                        .map(|(k, _, to)| (k.clone(), to.clone()))
                        .collect();
                    let ch: ApiChanges = from_spec(&format!("api {audience}"), ch)?;
                    self.update_api(audience, ch, None, now).await?;
                }
                Change::AddScope { audience, scope } => {
                    self.add_api_scope(audience, scope.clone(), now).await?;
                }
                _ => continue,
            }
            done.changes += 1;
        }
        // 2. Applications.
        for c in &plan.changes {
            match c {
                Change::CreateApplication { name, spec } => {
                    let new: NewClient =
                        from_spec(&format!("application \"{name}\""), spec.clone())?;
                    let created = self.create_client(new, now).await?;
                    if let Some(secret) = created.client_secret {
                        done.secrets
                            .push((name.clone(), created.app.client_id.clone(), secret));
                    }
                }
                Change::CreateUpstream { id, spec } => {
                    let mut spec = spec.clone();
                    spec.remove("client_secret_env");
                    let secret = secrets.remove(id).unwrap_or_default();
                    spec.insert("client_secret".into(), Value::String(secret));
                    let new: NewUpstream = from_spec(&format!("upstream {id}"), spec)?;
                    self.create_upstream(new, now).await?;
                }
                Change::UpdateUpstream { id, fields } => {
                    let ch: Map<String, Value> = fields
                        .iter()
                        .map(|(k, _, to)| (k.clone(), to.clone()))
                        .collect();
                    let ch: UpstreamChanges = from_spec(&format!("upstream {id}"), ch)?;
                    self.update_upstream(id, ch, now).await?;
                }
                Change::UpdateApplication {
                    name,
                    client_id,
                    fields,
                } => {
                    let ch: Map<String, Value> = fields
                        .iter()
                        .map(|(k, _, to)| (k.clone(), to.clone()))
                        .collect();
                    let ch: ClientChanges = from_spec(&format!("application \"{name}\""), ch)?;
                    self.update_client(client_id, ch, None, now).await?;
                }
                _ => continue,
            }
            done.changes += 1;
        }
        // 3. The APIs' references, by the names the applications now have.
        let ids: BTreeMap<String, String> = id_names(&self.list().await?)
            .into_iter()
            .map(|(id, name)| (name, id))
            .collect();
        let id_of = |v: &Value| -> Value {
            let s = v.as_str().unwrap_or_default();
            json!(ids.get(s).cloned().unwrap_or_else(|| s.to_owned()))
        };
        for (audience, refs) in references {
            let mut ch = Map::new();
            if let Some(Value::Array(list)) = refs.get("introspectors") {
                ch.insert(
                    "introspectors".into(),
                    Value::Array(list.iter().map(id_of).collect()),
                );
            }
            if let Some(Value::Array(rules)) = refs.get("token_exchange") {
                let rules = rules
                    .iter()
                    .map(|r| {
                        let app = r.get("application").or_else(|| r.get("client_id"));
                        json!({
                            "client_id": app.map(id_of).unwrap_or(Value::Null),
                            "scopes": r.get("scopes").cloned().unwrap_or(json!([])),
                        })
                    })
                    .collect();
                ch.insert("token_exchange".into(), Value::Array(rules));
            }
            let ch: ApiChanges = from_spec(&format!("api {audience}"), ch)?;
            self.update_api(&audience, ch, None, now).await?;
        }
        // 4. Removals.
        for c in &plan.changes {
            match c {
                Change::RemoveScope { audience, name } => {
                    self.remove_api_scope(audience, name, false, now).await?;
                }
                Change::DeleteApplication { client_id, .. } => {
                    self.delete_client(client_id, now).await?;
                }
                Change::DeleteUpstream { id } => self.delete_upstream(id, now).await?,
                _ => continue,
            }
            done.changes += 1;
        }
        for c in &plan.changes {
            if let Change::DeleteApi { audience } = c {
                self.delete_api(audience, now).await?;
                done.changes += 1;
            }
        }
        Ok(done)
    }
}
