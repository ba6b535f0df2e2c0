//! Authorization-server metadata (RFC 8414 §2; OpenID Connect Discovery §3). It lists only
//! what Valet implements: a client that trusts it must never meet a surprise.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub end_session_endpoint: String,
    /// RFC 8628 §4.
    pub device_authorization_endpoint: String,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// RFC 7636 §4.3, RFC 8414 §2: a JSON array (checklist E10).
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub scopes_supported: Vec<String>,
    pub claims_supported: Vec<&'static str>,
    pub prompt_values_supported: Vec<&'static str>,
    /// OIDC Discovery §3: the `acr` values Valet puts in ID tokens (a password sign-in, and one
    /// with a second factor).
    pub acr_values_supported: Vec<&'static str>,
    /// RFC 9207 §3 (checklist A12).
    pub authorization_response_iss_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
    pub claims_parameter_supported: bool,
    /// draft-ietf-oauth-client-id-metadata-document, "Authorization Server Metadata": an
    /// `https` URL may be a client_id (`cimd.rs`).
    pub client_id_metadata_document_supported: bool,
    /// OIDC Back-Channel Logout 1.0 §2.1: logout tokens are sent, with `sid` (which ID
    /// tokens of a session carry too).
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
    /// RFC 9126 §5.
    pub pushed_authorization_request_endpoint: String,
    pub require_pushed_authorization_requests: bool,
    /// RFC 9101 §10.5 / OIDC Discovery: request objects are verified with these.
    pub request_object_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 8414 §2: algorithms of `private_key_jwt` assertions.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 9449 §5.1.
    pub dpop_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 8414 §2, RFC 7591 §3: set by the server unless registration is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
}

/// Builds the metadata for `issuer` (no trailing slash) and the scopes the registered APIs
/// define (the OpenID Connect scopes are added here).
pub fn metadata(issuer: &str, api_scopes: Vec<String>) -> Metadata {
    let url = |path: &str| format!("{issuer}{path}");
    let auth = vec![
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ];
    // The algorithms Valet verifies (valet-jose), strongest-preferred first.
    let algs = vec!["PS256", "ES256", "EdDSA", "RS256"];
    let mut scopes: Vec<String> = crate::scope::OIDC_SCOPES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    scopes.extend(api_scopes);
    Metadata {
        issuer: issuer.to_owned(),
        authorization_endpoint: url("/oauth2/authorize"),
        token_endpoint: url("/oauth2/token"),
        userinfo_endpoint: url("/userinfo"),
        jwks_uri: url("/oauth2/jwks"),
        introspection_endpoint: url("/oauth2/introspect"),
        revocation_endpoint: url("/oauth2/revoke"),
        end_session_endpoint: url("/oauth2/logout"),
        device_authorization_endpoint: url("/oauth2/device_authorization"),
        // `token` and `id_token token` exist only for applications an admin enabled them
        // for; discovery lists what the server supports.
        response_types_supported: vec!["code", "token", "id_token token", "id_token"],
        response_modes_supported: vec!["query", "fragment", "form_post"],
        grant_types_supported: vec![
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password",
            "implicit",
            crate::device::GRANT_TYPE,
            crate::token_exchange::GRANT_TYPE,
            crate::jwt_bearer::GRANT_TYPE,
        ],
        subject_types_supported: vec!["public", "pairwise"],
        // OIDC Core §15.1: RS256 first, the default of every application.
        id_token_signing_alg_values_supported: vec!["RS256", "PS256", "ES256", "EdDSA"],
        token_endpoint_auth_methods_supported: auth.clone(),
        introspection_endpoint_auth_methods_supported: auth.clone(),
        revocation_endpoint_auth_methods_supported: auth,
        code_challenge_methods_supported: vec!["S256"],
        scopes_supported: scopes,
        claims_supported: vec![
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "azp",
            "name",
            "given_name",
            "family_name",
            "preferred_username",
            "locale",
            "email",
            "email_verified",
            "phone_number",
            "phone_number_verified",
            "groups",
        ],
        prompt_values_supported: vec!["none", "login", "consent", "select_account"],
        acr_values_supported: vec![crate::id_token::ACR_PASSWORD, crate::id_token::ACR_MFA],
        authorization_response_iss_parameter_supported: true,
        request_parameter_supported: true,
        request_uri_parameter_supported: false,
        claims_parameter_supported: false,
        client_id_metadata_document_supported: true,
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
        registration_endpoint: None,
        pushed_authorization_request_endpoint: url("/oauth2/par"),
        require_pushed_authorization_requests: false,
        request_object_signing_alg_values_supported: algs.clone(),
        token_endpoint_auth_signing_alg_values_supported: algs.clone(),
        introspection_endpoint_auth_signing_alg_values_supported: algs.clone(),
        revocation_endpoint_auth_signing_alg_values_supported: algs.clone(),
        dpop_signing_alg_values_supported: algs,
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
            m["authorization_endpoint"],
            "https://id.example/oauth2/authorize"
        );
        assert_eq!(
            m["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(m["authorization_response_iss_parameter_supported"], true);
        assert_eq!(
            m["device_authorization_endpoint"],
            "https://id.example/oauth2/device_authorization"
        );
        assert!(
            m["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&crate::device::GRANT_TYPE.into())
        );
        assert!(
            m["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&"openid".into())
        );
        assert!(
            m["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&"a".into())
        );
    }
}
