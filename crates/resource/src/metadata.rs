//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document that tells a client
//! which authorization server issues tokens for this API and how to present them.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::Validator;

/// RFC 9728 §3.1: the well-known name goes between the resource's host and its path:
/// `https://api.example/v1` → `https://api.example/.well-known/oauth-protected-resource/v1`.
pub fn metadata_url(resource: &str) -> String {
    let resource = resource.split(['?', '#']).next().unwrap_or(resource);
    let after_scheme = resource.find("://").map_or(0, |i| i + 3);
    let (origin, path) = match resource[after_scheme..].find('/') {
        Some(i) => resource.split_at(after_scheme + i),
        None => (resource, ""),
    };
    format!(
        "{origin}/.well-known/oauth-protected-resource{}",
        path.trim_end_matches('/')
    )
}

/// The path part of a metadata URL, for routing.
pub(crate) fn path_of(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..]
        .find('/')
        .map_or_else(|| "/".to_owned(), |i| url[after_scheme + i..].to_owned())
}

/// RFC 9728 §2. Only the `Authorization` header is read, so `bearer_methods_supported`
/// is `["header"]`.
pub(crate) fn document(
    resource: &str,
    issuer: &str,
    scopes: &[String],
    name: Option<&str>,
) -> String {
    let mut doc = serde_json::json!({
        "resource": resource,
        "authorization_servers": [issuer],
        "bearer_methods_supported": ["header"],
    });
    if !scopes.is_empty() {
        doc["scopes_supported"] = serde_json::json!(scopes);
    }
    if let Some(name) = name {
        doc["resource_name"] = serde_json::json!(name);
    }
    doc.to_string()
}

impl Validator {
    /// A router serving this API's metadata at its RFC 9728 path; merge it into the app
    /// outside any token-checking layer (clients read it before they have a token).
    pub fn metadata_router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let json = self.inner.metadata_json.clone();
        Router::new().route(
            &self.inner.metadata_path,
            get(move || {
                let json = json.clone();
                async move {
                    (
                        [
                            (
                                header::CONTENT_TYPE,
                                HeaderValue::from_static("application/json"),
                            ),
                            (
                                header::CACHE_CONTROL,
                                HeaderValue::from_static("public, max-age=3600"),
                            ),
                        ],
                        json,
                    )
                        .into_response()
                }
            }),
        )
    }

    /// The URL of this API's metadata, as `resource_metadata` in challenges.
    pub fn metadata_url(&self) -> &str {
        &self.inner.metadata_url
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn well_known_goes_between_host_and_path() {
        for (resource, url) in [
            (
                "http://localhost:9090",
                "http://localhost:9090/.well-known/oauth-protected-resource",
            ),
            (
                "https://api.example/",
                "https://api.example/.well-known/oauth-protected-resource",
            ),
            (
                "https://api.example/v1/contacts",
                "https://api.example/.well-known/oauth-protected-resource/v1/contacts",
            ),
        ] {
            assert_eq!(metadata_url(resource), url);
        }
        assert_eq!(
            path_of("https://api.example/.well-known/oauth-protected-resource/v1"),
            "/.well-known/oauth-protected-resource/v1"
        );
    }

    #[test]
    fn document_has_rfc_9728_members() {
        let doc: serde_json::Value = serde_json::from_str(&document(
            "https://api.example",
            "https://valet.example",
            &["a".into()],
            None,
        ))
        .unwrap();
        assert_eq!(doc["resource"], "https://api.example");
        assert_eq!(
            doc["authorization_servers"],
            serde_json::json!(["https://valet.example"])
        );
        assert_eq!(doc["scopes_supported"], serde_json::json!(["a"]));
        assert_eq!(
            doc["bearer_methods_supported"],
            serde_json::json!(["header"])
        );
    }
}
