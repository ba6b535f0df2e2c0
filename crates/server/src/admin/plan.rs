//! The plan (issue 21): what would make the database say what a file says —
//! applications matched by name, APIs by audience, each difference field by field — and
//! `export`, the database as a file (`desired.rs`).

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use valet_protocol::application::Application;
use valet_protocol::audience::ApiScope;

use super::desired::{Desired, api_spec, application_spec, str_of, upstream_spec};
use super::{Admin, AdminError};

/// One change of a plan.
#[derive(Debug, Clone)]
pub enum Change {
    CreateApplication {
        name: String,
        spec: Map<String, Value>,
    },
    UpdateApplication {
        name: String,
        client_id: String,
        fields: Vec<(String, Value, Value)>,
    },
    DeleteApplication {
        name: String,
        client_id: String,
    },
    CreateApi {
        audience: String,
        spec: Map<String, Value>,
    },
    UpdateApi {
        audience: String,
        fields: Vec<(String, Value, Value)>,
    },
    AddScope {
        audience: String,
        scope: ApiScope,
    },
    RemoveScope {
        audience: String,
        name: String,
    },
    DeleteApi {
        audience: String,
    },
    CreateUpstream {
        id: String,
        spec: Map<String, Value>,
    },
    UpdateUpstream {
        id: String,
        fields: Vec<(String, Value, Value)>,
    },
    DeleteUpstream {
        id: String,
    },
}

/// What `plan` found: the changes, what it cannot do (refused: apply stops), and what
/// it leaves alone.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub refused: Vec<String>,
    pub unmanaged: Vec<String>,
}

impl Plan {
    /// A reviewable diff: `+` created, `~` changed (`from → to`), `-` deleted.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.changes {
            match c {
                Change::CreateApplication { name, spec } => {
                    created(&mut out, &format!("application \"{name}\""), spec, "name");
                }
                Change::UpdateApplication { name, fields, .. } => {
                    changed(&mut out, &format!("application \"{name}\""), fields);
                }
                Change::DeleteApplication { name, client_id } => {
                    out.push_str(&format!("- application \"{name}\" ({client_id})\n"));
                }
                Change::CreateApi { audience, spec } => {
                    created(&mut out, &format!("api {audience}"), spec, "audience");
                }
                Change::UpdateApi { audience, fields } => {
                    changed(&mut out, &format!("api {audience}"), fields);
                }
                Change::AddScope { audience, scope } => out.push_str(&format!(
                    "+ api {audience} scope {} (\"{}\")\n",
                    scope.name, scope.description
                )),
                Change::RemoveScope { audience, name } => {
                    out.push_str(&format!("- api {audience} scope {name}\n"));
                }
                Change::DeleteApi { audience } => out.push_str(&format!("- api {audience}\n")),
                Change::CreateUpstream { id, spec } => {
                    created(&mut out, &format!("upstream {id}"), spec, "id");
                }
                Change::UpdateUpstream { id, fields } => {
                    changed(&mut out, &format!("upstream {id}"), fields);
                }
                Change::DeleteUpstream { id } => out.push_str(&format!("- upstream {id}\n")),
            }
        }
        for r in &self.refused {
            out.push_str(&format!("! {r}\n"));
        }
        for u in &self.unmanaged {
            out.push_str(&format!(
                "  (not in the file, left alone: {u}; --prune deletes it)\n"
            ));
        }
        out
    }
}

/// A value in a diff: its JSON, cut at 120 characters.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}

/// `+ what` and each of its fields but the identifying one.
fn created(out: &mut String, what: &str, spec: &Map<String, Value>, id_key: &str) {
    out.push_str(&format!("+ {what}\n"));
    for (k, v) in spec.iter().filter(|(k, _)| *k != id_key) {
        out.push_str(&format!("    {k} = {}\n", short(v)));
    }
}

/// `~ what` and each changed field, from → to.
fn changed(out: &mut String, what: &str, fields: &[(String, Value, Value)]) {
    out.push_str(&format!("~ {what}\n"));
    for (k, from, to) in fields {
        out.push_str(&format!("    {k}: {} → {}\n", short(from), short(to)));
    }
}

/// The administrator's applications by name; a name held twice is refused by `plan`.
pub(super) fn by_name(apps: &[Application]) -> BTreeMap<&str, Vec<&Application>> {
    let mut m: BTreeMap<&str, Vec<&Application>> = BTreeMap::new();
    for a in apps.iter().filter(|a| a.registration.is_admin()) {
        m.entry(a.name.as_str()).or_default().push(a);
    }
    m
}

impl Admin {
    /// The database's applications (the administrator's) and APIs, as a file.
    pub async fn export(&self) -> Result<Desired, AdminError> {
        let apps = self.list().await?;
        let names = id_names(&apps);
        let mut applications: Vec<_> = apps
            .iter()
            .filter(|a| a.registration.is_admin())
            .map(application_spec)
            .collect();
        applications.sort_by(|a, b| str_of(a, "name").cmp(&str_of(b, "name")));
        let apis = self
            .apis()
            .await?
            .iter()
            .map(|r| api_spec(r, &names))
            .collect();
        let upstreams = self
            .upstreams()
            .await?
            .iter()
            .filter(|v| v.source == "database")
            .map(upstream_spec)
            .collect();
        Ok(Desired {
            applications,
            apis,
            upstreams,
        })
    }

    /// What would make the database say what `file` says.
    pub async fn plan(&self, file: &Desired, prune: bool) -> Result<Plan, AdminError> {
        let apps = self.list().await?;
        let names = by_name(&apps);
        let mut plan = Plan::default();
        for want in &file.applications {
            let name = str_of(want, "name").unwrap_or_default();
            match names.get(name).map(Vec::as_slice) {
                None | Some([]) => plan.changes.push(Change::CreateApplication {
                    name: name.to_owned(),
                    spec: want.clone(),
                }),
                Some([one]) => {
                    let fields = differences(want, &application_spec(one), &[]);
                    if let Some((_, from, to)) = fields.iter().find(|(k, ..)| k == "profile") {
                        plan.refused.push(format!(
                            "application \"{name}\": its profile cannot change ({from} → {to}); delete it and create it anew"
                        ));
                    } else if !fields.is_empty() {
                        plan.changes.push(Change::UpdateApplication {
                            name: name.to_owned(),
                            client_id: one.client_id.clone(),
                            fields,
                        });
                    }
                }
                Some(many) => plan.refused.push(format!(
                    "application \"{name}\" names {} applications ({}): rename all but one",
                    many.len(),
                    many.iter()
                        .map(|a| a.client_id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        let in_file: BTreeSet<&str> = file
            .applications
            .iter()
            .filter_map(|a| str_of(a, "name"))
            .collect();
        for (name, list) in &names {
            if in_file.contains(name) {
                continue;
            }
            for a in list {
                if prune {
                    plan.changes.push(Change::DeleteApplication {
                        name: (*name).to_owned(),
                        client_id: a.client_id.clone(),
                    });
                } else {
                    plan.unmanaged.push(format!("application \"{name}\""));
                }
            }
        }
        self.plan_apis(file, prune, &apps, &mut plan).await?;
        self.plan_upstreams(file, prune, &mut plan).await?;
        Ok(plan)
    }

    /// Identity providers by id: those of the settings file are not the database's to
    /// change; a secret is never compared (it is sealed), only named.
    async fn plan_upstreams(
        &self,
        file: &Desired,
        prune: bool,
        plan: &mut Plan,
    ) -> Result<(), AdminError> {
        let current = self.upstreams().await?;
        for want in &file.upstreams {
            let id = str_of(want, "id").unwrap_or_default();
            match current.iter().find(|v| v.id == id) {
                Some(v) if v.source != "database" => plan.refused.push(format!(
                    "upstream {id} is in the settings file ([[upstreams]]): change it there"
                )),
                None => plan.changes.push(Change::CreateUpstream {
                    id: id.to_owned(),
                    spec: want.clone(),
                }),
                Some(v) => {
                    let fields = differences(want, &upstream_spec(v), &["client_secret_env"]);
                    if !fields.is_empty() {
                        plan.changes.push(Change::UpdateUpstream {
                            id: id.to_owned(),
                            fields,
                        });
                    }
                }
            }
        }
        let in_file: BTreeSet<&str> = file
            .upstreams
            .iter()
            .filter_map(|u| str_of(u, "id"))
            .collect();
        for v in current.iter().filter(|v| v.source == "database") {
            if in_file.contains(v.id.as_str()) {
                continue;
            }
            if prune {
                plan.changes
                    .push(Change::DeleteUpstream { id: v.id.clone() });
            } else {
                plan.unmanaged.push(format!("upstream {}", v.id));
            }
        }
        Ok(())
    }

    async fn plan_apis(
        &self,
        file: &Desired,
        prune: bool,
        apps: &[Application],
        plan: &mut Plan,
    ) -> Result<(), AdminError> {
        let names = id_names(apps);
        let current = self.apis().await?;
        for want in &file.apis {
            let audience = str_of(want, "audience").unwrap_or_default();
            let Some(have) = current.iter().find(|r| r.api.audience == audience) else {
                plan.changes.push(Change::CreateApi {
                    audience: audience.to_owned(),
                    spec: want.clone(),
                });
                continue;
            };
            let have = api_spec(have, &names);
            let fields = differences(want, &have, &["scopes", "audience"]);
            if !fields.is_empty() {
                plan.changes.push(Change::UpdateApi {
                    audience: audience.to_owned(),
                    fields,
                });
            }
            if let Some(Value::Array(wanted)) = want.get("scopes") {
                let have_scopes = scope_map(have.get("scopes"));
                let want_scopes = scope_map(Some(&Value::Array(wanted.clone())));
                let mut described = Map::new();
                for (n, d) in &want_scopes {
                    match have_scopes.get(n) {
                        None => plan.changes.push(Change::AddScope {
                            audience: audience.to_owned(),
                            scope: ApiScope {
                                name: n.clone(),
                                description: d.clone(),
                            },
                        }),
                        Some(old) if old != d => {
                            described.insert(n.clone(), json!(d));
                        }
                        Some(_) => {}
                    }
                }
                if !described.is_empty() {
                    plan.changes.push(Change::UpdateApi {
                        audience: audience.to_owned(),
                        fields: vec![(
                            "scope_descriptions".into(),
                            Value::Null,
                            Value::Object(described),
                        )],
                    });
                }
                for n in have_scopes.keys().filter(|n| !want_scopes.contains_key(*n)) {
                    plan.changes.push(Change::RemoveScope {
                        audience: audience.to_owned(),
                        name: n.clone(),
                    });
                }
            }
        }
        let in_file: BTreeSet<&str> = file
            .apis
            .iter()
            .filter_map(|a| str_of(a, "audience"))
            .collect();
        for r in &current {
            if in_file.contains(r.api.audience.as_str()) {
                continue;
            }
            if prune {
                plan.changes.push(Change::DeleteApi {
                    audience: r.api.audience.clone(),
                });
            } else {
                plan.unmanaged.push(format!("api {}", r.api.audience));
            }
        }
        Ok(())
    }
}

/// The keys of `want` (but `skip`) whose value `have` does not already have: (key,
/// from, to). A key the file leaves out is not managed, so it is no difference.
fn differences(
    want: &Map<String, Value>,
    have: &Map<String, Value>,
    skip: &[&str],
) -> Vec<(String, Value, Value)> {
    want.iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .filter_map(|(k, w)| {
            let cur = have.get(k).cloned().unwrap_or(Value::Null);
            (!same(&cur, w)).then(|| (k.clone(), cur, w.clone()))
        })
        .collect()
}

/// client_id → name, for the administrator's applications whose names are unique.
pub(super) fn id_names(apps: &[Application]) -> BTreeMap<String, String> {
    by_name(apps)
        .into_iter()
        .filter(|(_, v)| v.len() == 1)
        .map(|(n, v)| (v[0].client_id.clone(), n.to_owned()))
        .collect()
}

fn scope_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    Some((
                        s.get("name")?.as_str()?.to_owned(),
                        s.get("description")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the database's value is the file's: lists compared as sets where order means
/// nothing to Valet (grants, scopes, origins, URIs are matched, not ranked), a
/// `token_exchange` rule with no scopes the same as one with `scopes = []`.
fn same(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Array(a), Value::Array(b)) => {
            let key = |v: &Value| v.to_string();
            let (mut a, mut b): (Vec<_>, Vec<_>) = (
                a.iter().map(strip_empty).map(|v| key(&v)).collect(),
                b.iter().map(strip_empty).map(|v| key(&v)).collect(),
            );
            a.sort();
            b.sort();
            a == b
        }
        (Value::Null, Value::Array(b)) => b.is_empty(),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => strip_empty(have) == strip_empty(want),
    }
}

/// An object without its empty-list members (`scopes = []` is no scopes).
fn strip_empty(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !matches!(v, Value::Array(a) if a.is_empty()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}
