//! Authorization-server metadata (RFC 8414 §2; OpenID Connect Discovery §3). It lists only
//! what Valet implements: a client that trusts it must never meet a surprise.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Metadata {
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    /// RFC 8414 §2: REQUIRED; no response type is served until the authorization endpoint is.
    pub response_types_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub scopes_supported: Vec<String>,
}

/// Builds the metadata for `issuer` (no trailing slash) and the scopes the registered APIs
/// define.
pub fn metadata(issuer: &str, scopes: Vec<String>) -> Metadata {
    let url = |path: &str| format!("{issuer}{path}");
    let auth = vec!["client_secret_basic", "client_secret_post"];
    Metadata {
        issuer: issuer.to_owned(),
        token_endpoint: url("/oauth2/token"),
        jwks_uri: url("/oauth2/jwks"),
        introspection_endpoint: url("/oauth2/introspect"),
        revocation_endpoint: url("/oauth2/revoke"),
        response_types_supported: vec![],
        grant_types_supported: vec!["client_credentials"],
        token_endpoint_auth_methods_supported: auth.clone(),
        introspection_endpoint_auth_methods_supported: auth.clone(),
        revocation_endpoint_auth_methods_supported: auth,
        scopes_supported: scopes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_hang_off_the_issuer() {
        let m = serde_json::to_value(metadata("https://id.example", vec!["a".into()])).unwrap();
        assert_eq!(m["issuer"], "https://id.example");
        assert_eq!(m["token_endpoint"], "https://id.example/oauth2/token");
        assert_eq!(
            m["grant_types_supported"],
            serde_json::json!(["client_credentials"])
        );
        assert!(m.get("authorization_endpoint").is_none());
    }
}
