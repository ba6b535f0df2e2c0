//! The calls Valet makes to an upstream provider: a GET of JSON (discovery, JWKS, UserInfo
//! or a user API) and a POST of a form (the token endpoint). Each is bounded: a connect
//! and a total timeout (the provider's `timeout`), no redirect followed, an answer of at
//! most `MAX_BODY` bytes read. A provider that cannot be reached, times out or answers 5xx
//! is `Unavailable` (the caller's 503); one that answers 4xx or nonsense is `Refused`.

use std::time::Duration;

use reqwest::header;
use serde_json::{Map, Value};

/// The most of one answer Valet reads.
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("not answering: {0}")]
    Unavailable(String),
    #[error("refused: {0}")]
    Refused(String),
}

pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .user_agent(concat!("Valet/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("the HTTP client for upstream providers: {e}"))
}

/// GET `url` for a JSON object, with `bearer` as the access token if given.
pub async fn get_json(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
) -> Result<Map<String, Value>, CallError> {
    let mut req = http.get(url).header(header::ACCEPT, "application/json");
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    answer(req.send().await).await
}

/// POST the form `fields` to `url`, with HTTP Basic `basic` (already form-encoded, RFC
/// 6749 §2.3.1) if given.
pub async fn post_form(
    http: &reqwest::Client,
    url: &str,
    fields: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Result<Map<String, Value>, CallError> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut req = http
        .post(url)
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(form_encode(id), Some(form_encode(secret)));
    }
    answer(req.send().await).await
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before Basic's base64.
fn form_encode(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

async fn answer(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<Map<String, Value>, CallError> {
    let mut resp = sent.map_err(|e| CallError::Unavailable(without_url(&e)))?;
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| CallError::Unavailable(without_url(&e)))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(CallError::Refused(format!(
                "an answer larger than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if status.is_server_error() {
        return Err(CallError::Unavailable(format!("HTTP {status}")));
    }
    let json: Result<Map<String, Value>, _> = serde_json::from_slice(&body);
    match (status.is_success(), json) {
        (true, Ok(map)) => Ok(map),
        (true, Err(_)) => Err(CallError::Refused(format!(
            "HTTP {status} without a JSON object"
        ))),
        (false, Ok(map)) => Err(CallError::Refused(format!(
            "HTTP {status}: {}",
            describe_error(&map)
        ))),
        (false, Err(_)) => Err(CallError::Refused(format!("HTTP {status}"))),
    }
}

/// An OAuth error answer (`error`, `error_description`), for the log.
pub fn describe_error(map: &Map<String, Value>) -> String {
    let code = map
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("no error code");
    let text: String = code.chars().filter(|c| !c.is_control()).take(100).collect();
    match map.get("error_description").and_then(Value::as_str) {
        Some(d) => format!(
            "{text} ({})",
            d.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        ),
        None => text,
    }
}

/// The kind of failure, for the log (reqwest's own text names the URL and more).
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else if e.is_body() || e.is_decode() {
        "the answer broke off".into()
    } else {
        "the request failed".into()
    }
}
