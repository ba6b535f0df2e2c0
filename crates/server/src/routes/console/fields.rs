//! A console form's body, read whole (every pair, in order), and what a broken rule
//! becomes on the form shown again.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::admin::AdminError;

/// A console form's body: `application/x-www-form-urlencoded` (bounded by the router's
/// body limit), every pair kept, in order, so a field may repeat (checkboxes).
pub struct Fields(Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a form body is expected",
            )
                .into_response());
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self(
            form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The field trimmed, `""` when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_owned()
    }

    /// The field trimmed, `None` when absent or empty.
    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.text(name)).filter(|v| !v.is_empty())
    }

    /// A checkbox: present (with any value) is on.
    pub fn on(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every value of a repeated field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A textarea, one value per line (blank lines skipped).
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.get(name)
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// A list given as words (scopes), separated by spaces or commas.
    pub fn words(&self, name: &str) -> Vec<String> {
        self.get(name)
            .unwrap_or("")
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The entered values, for a form shown again (never a password or the CSRF token).
    pub fn entered(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in &self.0 {
            if k == "csrf" || k.contains("password") {
                continue;
            }
            match m.get_mut(k) {
                Some(Value::Array(a)) => a.push(Value::String(v.clone())),
                Some(other) => {
                    let first = other.take();
                    *other = Value::Array(vec![first, Value::String(v.clone())]);
                }
                None => {
                    m.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
        Value::Object(m)
    }
}

/// A rule broken by a form's values, to show on the form again: `errors` (field →
/// message; a message of no particular field under `form`). Other errors are pages.
pub fn form_errors(e: AdminError) -> Result<Value, AdminError> {
    match e {
        AdminError::Field { field, message } => Ok(json!({ field: message })),
        AdminError::Invalid(m) | AdminError::Conflict(m) => Ok(json!({ "form": m })),
        AdminError::Stale(what) => Ok(json!({
            "form": format!("The {what} changed since this page was shown; reload it and make the change again.")
        })),
        other => Err(other),
    }
}
