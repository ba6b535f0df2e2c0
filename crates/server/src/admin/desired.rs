//! Configuration as code (issue 21): the applications, APIs and identity providers (those
//! kept in the database) a TOML file describes,
//! what `valet export` writes, and the plan — the changes that would make the database
//! say what the file says — that `valet plan` prints and `valet apply` makes.
//!
//! Applications are matched by name (unique among the administrator's applications;
//! self-registered ones are not configuration and are never touched), APIs by audience.
//! A key absent from an application's table is not managed: it stays as it is. An
//! API's `scopes` list is the API's whole set. References to applications (an API's
//! `introspectors`, its `token_exchange` rules) are by name in the file, so one file
//! describes any database; a value that names no application is taken as a client_id.
//! Secrets are never in the file: a new confidential application's secret is generated
//! and shown once by `apply`.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use valet_protocol::application::Application;
use valet_store::ApiRecord;

use super::AdminError;
pub use super::plan::{Change, Plan};

/// The file: `[[applications]]`, `[[apis]]` and `[[upstreams]]` (identity providers
/// kept in the database; their secret named by `client_secret_env`, the environment
/// variable `apply` reads it from).
#[derive(Debug, Default, Clone)]
pub struct Desired {
    pub applications: Vec<Map<String, Value>>,
    pub apis: Vec<Map<String, Value>>,
    pub upstreams: Vec<Map<String, Value>>,
}

impl Desired {
    pub fn parse(text: &str) -> Result<Self, AdminError> {
        let doc: toml::Table =
            toml::from_str(text).map_err(|e| AdminError::Invalid(format!("the file: {e}")))?;
        let mut out = Desired::default();
        for (key, v) in doc {
            let list = match (key.as_str(), v) {
                ("applications" | "apis" | "upstreams", toml::Value::Array(a)) => a,
                (k @ ("applications" | "apis" | "upstreams"), _) => {
                    return Err(AdminError::Invalid(format!(
                        "`{k}` must be an array of tables ([[{k}]])"
                    )));
                }
                (other, _) => {
                    return Err(AdminError::Invalid(format!(
                        "unknown key `{other}`: the file holds [[applications]], [[apis]] and [[upstreams]]"
                    )));
                }
            };
            for item in list {
                let Ok(Value::Object(m)) = serde_json::to_value(item) else {
                    return Err(AdminError::Invalid(format!("each of `{key}` is a table")));
                };
                match key.as_str() {
                    "applications" => out.applications.push(m),
                    "apis" => out.apis.push(m),
                    _ => out.upstreams.push(m),
                }
            }
        }
        let mut seen = BTreeSet::new();
        for a in &out.applications {
            let name = str_of(a, "name")
                .ok_or_else(|| AdminError::Invalid("an application without a name".into()))?;
            if a.contains_key("client_id") || a.contains_key("client_secret") {
                return Err(AdminError::Invalid(format!(
                    "application {name}: client_id and client_secret are never in the file (they are the database's)"
                )));
            }
            if !seen.insert(name.to_owned()) {
                return Err(AdminError::Invalid(format!(
                    "application {name} is in the file twice: names must be unique"
                )));
            }
        }
        let mut seen = BTreeSet::new();
        for u in &out.upstreams {
            let id = str_of(u, "id")
                .ok_or_else(|| AdminError::Invalid("an upstream without an id".into()))?;
            if u.contains_key("client_secret") {
                return Err(AdminError::Invalid(format!(
                    "upstream {id}: a secret is never in the file; name the environment variable that holds it with client_secret_env"
                )));
            }
            if !seen.insert(id.to_owned()) {
                return Err(AdminError::Invalid(format!(
                    "upstream {id} is in the file twice"
                )));
            }
        }
        let mut seen = BTreeSet::new();
        for a in &out.apis {
            let aud = str_of(a, "audience")
                .ok_or_else(|| AdminError::Invalid("an API without an audience".into()))?;
            if !seen.insert(aud.to_owned()) {
                return Err(AdminError::Invalid(format!(
                    "API {aud} is in the file twice"
                )));
            }
        }
        Ok(out)
    }

    /// The file's TOML: one table per application and API, the identifying keys first,
    /// then the rest in alphabetical order, every value inline.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# Valet's applications and APIs (`valet export`). Review changes with `valet plan -f FILE`,\n\
             # make them with `valet apply -f FILE`. Secrets are never here: apply generates a new\n\
             # application's secret and shows it once.\n",
        );
        let mut section = |header: &str, items: &[Map<String, Value>], first: &[&str]| {
            for m in items {
                out.push_str(&format!("\n[[{header}]]\n"));
                let keys = first
                    .iter()
                    .copied()
                    .filter(|k| m.contains_key(*k))
                    .chain(m.keys().map(String::as_str).filter(|k| !first.contains(k)));
                for k in keys {
                    if let Some(v) = m.get(k).and_then(toml_value) {
                        out.push_str(&format!("{} = {}\n", key(k), inline(&v)));
                    }
                }
            }
        };
        section("applications", &self.applications, &["name", "profile"]);
        section("apis", &self.apis, &["audience", "name"]);
        section(
            "upstreams",
            &self.upstreams,
            &["id", "name", "client_secret_env"],
        );
        out
    }
}

/// A bare key, or a quoted one when it needs quotes (TOML 1.0 §Keys).
fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_owned()
    } else {
        toml::Value::String(k.to_owned()).to_string()
    }
}

/// A value on one line: arrays and inline tables spelled out.
fn inline(v: &toml::Value) -> String {
    match v {
        toml::Value::Array(a) => {
            let items: Vec<String> = a.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        toml::Value::Table(t) => {
            let items: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), inline(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
        other => other.to_string(),
    }
}

pub(super) fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

/// JSON to TOML, nulls dropped (TOML has none).
fn toml_value(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(a) => toml::Value::Array(a.iter().filter_map(toml_value).collect()),
        Value::Object(m) => toml::Value::Table(
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), toml_value(v)?)))
                .collect(),
        ),
    })
}

/// An application as the file says it: every field a registration sets, by the names
/// `NewClient` and `ClientChanges` use.
pub fn application_spec(a: &Application) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            m.insert(k.to_owned(), v);
        }
    };
    put("name", json!(a.name));
    put("profile", j(&a.profile));
    put("redirect_uris", json!(a.redirect_uris));
    put("grant_types", j(&a.grant_types));
    put("scopes", json!(a.scopes));
    if a.token_endpoint_auth_method_chosen {
        put(
            "token_endpoint_auth_method",
            j(&a.token_endpoint_auth_method),
        );
    }
    put("trusted", json!(a.trusted));
    put("description", json!(a.description));
    put("website", json!(a.website));
    put("logo_uri", json!(a.logo_uri));
    put("policy_uri", json!(a.policy_uri));
    put("service_subject", json!(a.service_subject));
    put(
        "post_logout_redirect_uris",
        json!(a.post_logout_redirect_uris),
    );
    put("allow_plain_pkce", json!(a.allow_plain_pkce));
    put("require_pkce", json!(a.require_pkce));
    put("require_mfa", json!(a.require_mfa));
    put("id_token_on_refresh", json!(a.id_token_on_refresh));
    put("cors_origins", json!(a.cors_origins));
    put("access_token_format", j(&a.access_token_format));
    put("access_token_ttl", json!(a.access_token_ttl));
    put("refresh_token_ttl", json!(a.refresh_token_ttl));
    put("backchannel_logout_uri", json!(a.backchannel_logout_uri));
    put(
        "backchannel_logout_session_required",
        json!(a.backchannel_logout_session_required),
    );
    put("jwks", a.assurance.jwks.clone().unwrap_or(Value::Null));
    put("jwks_uri", json!(a.assurance.jwks_uri));
    put("require_par", json!(a.assurance.require_par));
    put("require_dpop", json!(a.assurance.require_dpop));
    put("id_token_alg", j(&a.assurance.id_token_alg));
    put("subject_type", j(&a.assurance.subject_type));
    m
}

/// An identity provider kept in the database, as the file says it: its view's fields
/// (`NewUpstream`'s names) and, for its secret, the variable `apply` reads.
pub fn upstream_spec(v: &super::UpstreamView) -> Map<String, Value> {
    let mut m = match j(v) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    m.remove("source");
    m.retain(|_, v| !v.is_null());
    m.insert("client_secret_env".into(), json!(secret_env(&v.id)));
    m
}

/// `UPSTREAM_CORP_CLIENT_SECRET` for `corp`: not `VALET_…`, which Valet keeps for its
/// settings.
pub fn secret_env(id: &str) -> String {
    let id: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("UPSTREAM_{id}_CLIENT_SECRET")
}

fn j<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The API as the file says it, its application references by name.
pub(super) fn api_spec(r: &ApiRecord, names: &BTreeMap<String, String>) -> Map<String, Value> {
    let name_of = |id: &String| names.get(id).cloned().unwrap_or_else(|| id.clone());
    let mut m = Map::new();
    m.insert("audience".into(), json!(r.api.audience));
    m.insert("name".into(), json!(r.name));
    m.insert(
        "access_token_format".into(),
        serde_json::to_value(r.api.access_token_format).unwrap_or(Value::Null),
    );
    let introspectors: Vec<String> = r.api.introspectors.iter().map(name_of).collect();
    m.insert("introspectors".into(), json!(introspectors));
    let rules: Vec<Value> = r
        .api
        .token_exchange
        .iter()
        .map(|x| json!({ "application": name_of(&x.client_id), "scopes": x.scopes }))
        .collect();
    m.insert("token_exchange".into(), Value::Array(rules));
    let scopes: Vec<Value> = r
        .api
        .scopes
        .iter()
        .map(|s| json!({ "name": s.name, "description": s.description }))
        .collect();
    m.insert("scopes".into(), Value::Array(scopes));
    m
}
