//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; the MCP
//! authorization spec, revision 2025-11-25, makes them the preferred registration): a
//! `client_id` that is an `https` URL names a JSON document of RFC 7591 client metadata.
//! This file is the pure half: which URLs may be client ids, what a fetched document must
//! say, the `Application` it becomes (public, never trusted, `origin: Cimd`), and how long
//! it may be cached. Fetching (SSRF rules, size, timeouts) is the server's
//! (`server/src/cimd/`). Section names below are the draft's, whose numbers move between
//! revisions.

use serde_json::{Map, Value};

use crate::application::{Application, AuthMethod, GrantType, Origin, Profile, Registration};
use crate::scope::{ADMIN_SCOPE, Scope};
use crate::text::{check_printable, check_uri_chars};

/// "Maximum Response Size": the draft recommends at most 5 kilobytes.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// A client id URL longer than this is refused before anything is fetched.
pub const MAX_URL_LEN: usize = 2000;
/// Redirect URIs a document may list.
pub const MAX_REDIRECT_URIS: usize = 20;
/// "Metadata Caching": HTTP caching headers are honoured within these bounds (seconds);
/// a document without any is kept for `DEFAULT_TTL`.
pub const MIN_TTL: i64 = 60;
pub const MAX_TTL: i64 = 86_400;
pub const DEFAULT_TTL: i64 = 300;

/// Whether `client_id` is meant as a metadata document URL: it starts with `https://`.
/// Such an id is then resolved only through its document (or refused), never looked up
/// as an opaque id.
pub fn is_metadata_url(client_id: &str) -> bool {
    client_id
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// A client id URL that passed `parse_client_id`: where to fetch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdUrl {
    /// The host as written: a DNS name, an IPv4 literal, or an IPv6 literal without its
    /// brackets.
    pub host: String,
    pub port: u16,
    /// The path (there is no query): what the GET asks for.
    pub path: String,
    /// `host[:port]` as written: the `Host` header.
    pub authority: String,
}

/// "Client Identifier": the URL MUST use `https`, MUST contain a path, MUST NOT contain
/// single- or double-dot path segments, a fragment, or a username or password; it SHOULD
/// NOT contain a query, and Valet refuses one (one document, one URL: a query would let
/// one document name endless client ids). Ports are allowed.
pub fn parse_client_id(url: &str) -> Result<ClientIdUrl, String> {
    check_uri_chars("client_id", url)?;
    if url.len() > MAX_URL_LEN {
        return Err(format!(
            "a client_id URL is at most {MAX_URL_LEN} characters"
        ));
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return Err("a client_id URL must start with https:// (lower case)".into());
    };
    if url.contains('#') {
        return Err("a client_id URL must not contain a fragment".into());
    }
    if url.contains('?') {
        return Err("a client_id URL must not contain a query".into());
    }
    if url.contains('\\') {
        return Err("a client_id URL must not contain a backslash".into());
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => return Err("a client_id URL must contain a path".into()),
    };
    if authority.contains('@') {
        return Err("a client_id URL must not contain a username or password".into());
    }
    let (host, port) = split_authority(authority)
        .ok_or_else(|| format!("the client_id URL's host `{authority}` is not valid"))?;
    for segment in path.split('/') {
        let s = segment.to_ascii_lowercase();
        if matches!(s.as_str(), "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e.") {
            return Err("a client_id URL must not contain `.` or `..` path segments".into());
        }
    }
    Ok(ClientIdUrl {
        host: host.to_owned(),
        port,
        path: path.to_owned(),
        authority: authority.to_owned(),
    })
}

/// `host[:port]` → host (IPv6 without brackets) and port (443 by default).
fn split_authority(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        h.parse::<std::net::Ipv6Addr>().ok()?;
        match after {
            "" => (h, None),
            a => (h, Some(a.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => 443,
        Some(p)
            if !p.is_empty() && !p.starts_with('0') && p.bytes().all(|b| b.is_ascii_digit()) =>
        {
            p.parse::<u16>().ok()?
        }
        Some(_) => return None,
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'));
    host_ok.then_some((host, port))
}

/// The host a person is shown for a redirect URI ("Security Considerations": the consent
/// page shows the redirect URI's host, because a document can name any client). `None`
/// for a private-use scheme (`com.example.app:/cb`), which has no host.
pub fn redirect_host(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Checks a fetched document (its bytes, at most `MAX_DOCUMENT_BYTES`) against the draft's
/// "Client ID Metadata Document" rules and RFC 7591 §2, and returns the application it
/// describes. `api_scopes` are the scopes of the registered APIs (RFC 8707): a document
/// need not list scopes, and its client may ask for any API scope (always with the user's
/// consent), never `valet:admin`; when the document lists `scope`, it gets those of them
/// that are API scopes. OpenID Connect scopes come with every non-service application
/// (`Application::allowed_scopes`).
pub fn application(url: &str, body: &[u8], api_scopes: &[String]) -> Result<Application, String> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "the metadata document is larger than {MAX_DOCUMENT_BYTES} bytes"
        ));
    }
    let doc: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err("the metadata document is not a JSON object".into()),
        Err(e) => return Err(format!("the metadata document is not valid JSON: {e}")),
    };
    // "Client ID Metadata Document": `client_id` MUST equal the URL, compared as strings.
    match doc.get("client_id") {
        Some(Value::String(id)) if id == url => {}
        Some(Value::String(_)) => {
            return Err(
                "the metadata document's client_id is not exactly the URL it was fetched from"
                    .into(),
            );
        }
        _ => return Err("the metadata document has no client_id".into()),
    }
    // No shared secret: the document is public, so a secret in it is no secret; the draft
    // forbids `client_secret`, `client_secret_expires_at` and the symmetric methods.
    for member in ["client_secret", "client_secret_expires_at"] {
        if doc.contains_key(member) {
            return Err(format!(
                "a metadata document must not contain {member}: its client cannot hold a \
                 shared secret"
            ));
        }
    }
    match text(&doc, "token_endpoint_auth_method")?.as_deref() {
        None | Some("none") => {}
        Some("private_key_jwt") => {
            return Err(
                "token_endpoint_auth_method private_key_jwt is not supported yet: \
                 use none (a public client with PKCE)"
                    .into(),
            );
        }
        Some(m) if m.starts_with("client_secret") => {
            return Err(format!(
                "token_endpoint_auth_method {m} needs a shared secret, which a metadata \
                 document client cannot hold: use none"
            ));
        }
        Some(m) => return Err(format!("token_endpoint_auth_method {m} is not supported")),
    }
    let grant_types = grant_types(&doc)?;
    if let Some(types) = strings(&doc, "response_types")? {
        if types.iter().any(|t| t != "code") {
            return Err("only the response type `code` is available to this client".into());
        }
    }
    let redirect_uris = strings(&doc, "redirect_uris")?.unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err("the metadata document lists no redirect_uris".into());
    }
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(format!(
            "the metadata document lists more than {MAX_REDIRECT_URIS} redirect_uris"
        ));
    }
    let profile = match text(&doc, "application_type")?.as_deref() {
        Some("native") => Profile::Native,
        Some("web") => Profile::Spa,
        Some(other) => return Err(format!("application_type {other} is not web or native")),
        // Without one, a client whose redirects are all https is a browser app; one with
        // a loopback or private-use redirect is native (RFC 8252).
        None if redirect_uris.iter().all(|u| u.starts_with("https://")) => Profile::Spa,
        None => Profile::Native,
    };
    let scopes = match text(&doc, "scope")? {
        None => api_scopes.to_vec(),
        Some(s) => {
            let listed = Scope::parse(&s).map_err(|e| e.description().to_owned())?;
            api_scopes
                .iter()
                .filter(|a| listed.contains(a))
                .cloned()
                .collect()
        }
    };
    let name = match text(&doc, "client_name")? {
        Some(n) => n,
        None => parse_client_id(url)?.host,
    };
    check_printable("client_name", &name)?;
    let app = Application {
        client_id: url.to_owned(),
        name,
        description: None,
        website: text(&doc, "client_uri")?,
        logo_uri: text(&doc, "logo_uri")?,
        policy_uri: text(&doc, "policy_uri")?,
        profile,
        redirect_uris,
        grant_types,
        scopes: scopes.into_iter().filter(|s| s != ADMIN_SCOPE).collect(),
        token_endpoint_auth_method: AuthMethod::None,
        token_endpoint_auth_method_chosen: true,
        // The registration firewall: a client that describes itself is never trusted.
        trusted: false,
        service_subject: None,
        post_logout_redirect_uris: strings(&doc, "post_logout_redirect_uris")?.unwrap_or_default(),
        allow_plain_pkce: false,
        require_pkce: true,
        require_mfa: false,
        id_token_on_refresh: true,
        cors_origins: vec![],
        access_token_format: Default::default(),
        access_token_ttl: None,
        refresh_token_ttl: None,
        backchannel_logout_uri: None,
        assurance: Default::default(),
        backchannel_logout_session_required: false,
        registration: Registration {
            origin: Origin::Cimd,
            software_id: text(&doc, "software_id")?,
            software_version: text(&doc, "software_version")?,
            ..Default::default()
        },
    };
    // The rules an admin's registration passes: redirect URIs (https, or loopback http),
    // https display URLs, printable text. The scopes come from Valet's own APIs, checked
    // when they were registered.
    let mut app = app;
    let scopes = std::mem::take(&mut app.scopes);
    app.validate()?;
    app.scopes = scopes;
    Ok(app)
}

/// RFC 7591 §2: `grant_types` defaults to `authorization_code`; this client may use it and
/// `refresh_token`, nothing else (no secret, so no client_credentials or password).
fn grant_types(doc: &Map<String, Value>) -> Result<Vec<GrantType>, String> {
    let Some(listed) = strings(doc, "grant_types")? else {
        return Ok(vec![GrantType::AuthorizationCode]);
    };
    let mut out = Vec::new();
    for g in listed {
        let grant = match g.as_str() {
            "authorization_code" => GrantType::AuthorizationCode,
            "refresh_token" => GrantType::RefreshToken,
            other => {
                return Err(format!(
                    "grant type {other} is not available to a metadata document client \
                     (authorization_code and refresh_token are)"
                ));
            }
        };
        if !out.contains(&grant) {
            out.push(grant);
        }
    }
    if !out.contains(&GrantType::AuthorizationCode) {
        return Err("grant_types must include authorization_code".into());
    }
    Ok(out)
}

/// A string member, if present; a member of another type is an error.
fn text(doc: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= 2000 => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(format!("{name} is too long")),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

/// An array-of-strings member, if present.
fn strings(doc: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, String> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(format!("{name} must be an array of strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("{name} must be an array of strings")),
    }
}

/// How long a fetched document may be reused ("Metadata Caching": respect the HTTP
/// caching headers, within bounds of the server's choosing): `None` for `no-store` or
/// `no-cache` (refetched on every use), else `max-age` clamped to [`MIN_TTL`, `MAX_TTL`],
/// `DEFAULT_TTL` without one. `Expires` is not read: `max-age` wins over it (RFC 9111
/// §5.3) and every server that sets one can set the other.
pub fn cache_ttl(cache_control: Option<&str>) -> Option<i64> {
    let Some(cc) = cache_control else {
        return Some(DEFAULT_TTL);
    };
    let mut ttl = DEFAULT_TTL;
    for directive in cc.split(',') {
        let d = directive.trim().to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" || d.starts_with("no-cache=") {
            return None;
        }
        if let Some(v) = d.strip_prefix("max-age=") {
            let v = v.trim_matches('"');
            ttl = v.parse::<i64>().unwrap_or(0);
        }
    }
    Some(ttl.clamp(MIN_TTL, MAX_TTL))
}

#[cfg(test)]
#[path = "cimd_tests.rs"]
mod tests;
