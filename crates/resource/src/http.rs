//! The HTTP side: reading the bearer token from the `Authorization` header (RFC 6750
//! §2.1), a tower layer and axum extractors that require a valid token and scopes, and
//! the 401 / 403 answers with their `WWW-Authenticate` challenges (RFC 6750 §3, with
//! `resource_metadata` from RFC 9728 §5.1).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRef, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::{Claims, Error, Validator};

/// Why a request was turned away; answers itself as RFC 6750 says.
#[derive(Debug)]
pub struct Rejection {
    kind: Kind,
    resource_metadata: Arc<str>,
    /// The request used the `DPoP` scheme (or its token is DPoP-bound): the challenge is
    /// `DPoP` with the accepted algorithms (RFC 9449 §7.1).
    dpop: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// No bearer token at all: 401 with a challenge but no error code (RFC 6750 §3.1).
    Missing,
    InvalidRequest(&'static str),
    InvalidToken,
    /// RFC 9449 §7.1 `invalid_dpop_proof`.
    InvalidDpopProof(&'static str),
    /// The scopes the route needs, all of them, for the challenge's `scope`.
    InsufficientScope(String),
    /// The issuer could not be asked: 503, so clients retry instead of dropping a token.
    Unavailable,
}

impl Rejection {
    /// The HTTP status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            Kind::Missing | Kind::InvalidToken | Kind::InvalidDpopProof(_) => {
                StatusCode::UNAUTHORIZED
            }
            Kind::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Kind::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn challenge(&self) -> Option<String> {
        let mut params: Vec<(&str, &str)> = Vec::new();
        match &self.kind {
            Kind::Missing => {}
            Kind::InvalidRequest(why) => {
                params.push(("error", "invalid_request"));
                params.push(("error_description", why));
            }
            Kind::InvalidToken => {
                params.push(("error", "invalid_token"));
                params.push((
                    "error_description",
                    "The access token is invalid, expired or revoked",
                ));
            }
            Kind::InvalidDpopProof(why) => {
                params.push(("error", "invalid_dpop_proof"));
                params.push(("error_description", why));
            }
            Kind::InsufficientScope(scope) => {
                params.push(("error", "insufficient_scope"));
                params.push(("scope", scope));
            }
            Kind::Unavailable => return None,
        }
        if self.dpop {
            params.push(("algs", crate::dpop::ALGS));
        }
        params.push(("resource_metadata", &self.resource_metadata));
        let mut out = String::from(if self.dpop { "DPoP " } else { "Bearer " });
        for (i, (name, value)) in params.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(name);
            out.push_str("=\"");
            // RFC 9110 §5.6.4 quoted-string.
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        Some(out)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut r = self.status().into_response();
        if let Some(challenge) = self.challenge() {
            let value = HeaderValue::from_str(&challenge)
                .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
            r.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        if self.kind == Kind::Unavailable {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

/// The access token of a request: exactly one `Authorization` header of the `Bearer`
/// scheme (RFC 6750 §2.1) or the `DPoP` scheme (RFC 9449 §7.1); `true` for DPoP.
fn credentials(headers: &HeaderMap) -> Result<(bool, &str), Kind> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(Kind::Missing)?;
    if values.next().is_some() {
        return Err(Kind::InvalidRequest("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| Kind::InvalidRequest("unreadable Authorization header"))?;
    let (scheme, token) = value.split_once(' ').ok_or(Kind::Missing)?;
    let dpop = scheme.eq_ignore_ascii_case("DPoP");
    // Another scheme (Basic) presents no access token (RFC 6750 §3.1).
    if !dpop && !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(Kind::Missing);
    }
    let token = token.trim_matches(' ');
    // RFC 6750 §2.1 b64token (RFC 9449 §7.1: the same token68).
    let b64token = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
    if token.is_empty() || !token.bytes().all(b64token) {
        return Err(Kind::InvalidToken);
    }
    Ok((dpop, token))
}

#[cfg(test)]
fn bearer(headers: &HeaderMap) -> Result<&str, Kind> {
    match credentials(headers)? {
        (false, t) => Ok(t),
        (true, _) => Err(Kind::Missing),
    }
}

impl Validator {
    fn reject(&self, kind: Kind) -> Rejection {
        Rejection {
            kind,
            resource_metadata: self.inner.metadata_url.clone(),
            dpop: false,
        }
    }

    fn reject_dpop(&self, kind: Kind) -> Rejection {
        Rejection {
            dpop: true,
            ..self.reject(kind)
        }
    }

    /// Checks the request's access token and that it carries every scope in `required`.
    /// Without the request's method and URI no DPoP proof can be checked, so a DPoP-bound
    /// token is refused here: use [`Validator::authorize_request`] (the layer and the
    /// extractors do).
    pub async fn authorize<S: AsRef<str>>(
        &self,
        headers: &HeaderMap,
        required: &[S],
    ) -> Result<Claims, Rejection> {
        self.authorize_parts(None, headers, required).await
    }

    /// As [`Validator::authorize`], for a request of `method` to `uri`: a token under the
    /// `DPoP` scheme needs a proof for this request by the key the token is bound to, a
    /// DPoP-bound token is refused under `Bearer` (RFC 9449 §7.1), and a proof is checked
    /// on every request, whatever the verified-token cache remembers.
    pub async fn authorize_request<S: AsRef<str>>(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        required: &[S],
    ) -> Result<Claims, Rejection> {
        self.authorize_parts(Some((method, uri)), headers, required)
            .await
    }

    async fn authorize_parts<S: AsRef<str>>(
        &self,
        request: Option<(&Method, &Uri)>,
        headers: &HeaderMap,
        required: &[S],
    ) -> Result<Claims, Rejection> {
        let (dpop, token) = credentials(headers).map_err(|k| self.reject(k))?;
        let reject = |k| {
            if dpop {
                self.reject_dpop(k)
            } else {
                self.reject(k)
            }
        };
        // The proof first: a request whose proof fails learns nothing about its token.
        let proof_jkt = match (dpop, request, self.inner.dpop_base.as_deref()) {
            (false, _, _) => None,
            (true, Some((method, uri)), Some(base)) => {
                let htu = format!("{base}{}", uri.path());
                let values: Vec<&[u8]> = headers
                    .get_all("dpop")
                    .iter()
                    .map(|v| v.as_bytes())
                    .collect();
                let now = crate::validator::unix_now();
                match crate::dpop::check(
                    &values,
                    method.as_str(),
                    &htu,
                    token,
                    now,
                    &self.inner.replays,
                ) {
                    Ok(jkt) => Some(jkt),
                    Err(why) => {
                        tracing::debug!(reason = why, "DPoP proof refused");
                        return Err(reject(Kind::InvalidDpopProof(why)));
                    }
                }
            }
            (true, _, _) => {
                return Err(reject(Kind::InvalidDpopProof(
                    "this API cannot check DPoP proofs here",
                )));
            }
        };
        let claims = self.validate(token).await.map_err(|e| match e {
            Error::InvalidToken(why) => {
                tracing::debug!(reason = why, "access token refused");
                reject(Kind::InvalidToken)
            }
            Error::Unavailable(why) | Error::Config(why) => {
                tracing::warn!(error = %why, "cannot check an access token");
                reject(Kind::Unavailable)
            }
        })?;
        let bound = claims.cnf.as_ref().map(|c| c.jkt.as_str());
        if let Err(e) = valet_protocol::dpop::check_binding(bound, proof_jkt.as_deref()) {
            tracing::debug!(
                reason = e.description(),
                "access token refused: DPoP binding"
            );
            return Err(if bound.is_some() {
                self.reject_dpop(if dpop {
                    Kind::InvalidDpopProof("the proof is not by the token's key")
                } else {
                    Kind::InvalidToken
                })
            } else {
                reject(Kind::InvalidToken)
            });
        }
        self.check_scopes(&claims, required)
            .map_err(|r| Rejection { dpop, ..r })?;
        Ok(claims)
    }

    fn check_scopes<S: AsRef<str>>(
        &self,
        claims: &Claims,
        required: &[S],
    ) -> Result<(), Rejection> {
        if required.iter().all(|s| claims.has_scope(s.as_ref())) {
            return Ok(());
        }
        let wanted: Vec<&str> = required.iter().map(AsRef::as_ref).collect();
        Err(self.reject(Kind::InsufficientScope(wanted.join(" "))))
    }

    /// A tower layer that lets through only requests with a valid token carrying every
    /// scope in `scopes` (none: any valid token), and puts the token's [`Claims`] in the
    /// request's extensions for handlers (`Extension<Claims>` or [`Authenticated`]).
    pub fn require<I, S>(&self, scopes: I) -> RequireToken
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireToken {
            validator: self.clone(),
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }
}

/// The tower layer of [`Validator::require`].
#[derive(Clone, Debug)]
pub struct RequireToken {
    validator: Validator,
    scopes: Arc<[String]>,
}

impl<S> tower::Layer<S> for RequireToken {
    type Service = RequireTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireTokenService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RequireToken`] wraps around a route.
#[derive(Clone, Debug)]
pub struct RequireTokenService<S> {
    inner: S,
    layer: RequireToken,
}

impl<S> tower::Service<Request> for RequireTokenService<S>
where
    S: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // The clone that was polled ready is the one that serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            match layer
                .validator
                .authorize_request(req.method(), req.uri(), req.headers(), &layer.scopes)
                .await
            {
                Ok(claims) => {
                    req.extensions_mut().insert(claims);
                    inner.call(req).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}

/// An axum extractor: the claims of the request's valid access token. Uses what a
/// [`RequireToken`] layer already checked, or checks the token itself with the
/// [`Validator`] in the router's state.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Claims);

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    Validator: FromRef<S>,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        if let Some(claims) = parts.extensions.get::<Claims>() {
            return Ok(Self(claims.clone()));
        }
        let validator = Validator::from_ref(state);
        let claims = validator
            .authorize_request::<&str>(&parts.method, &parts.uri, &parts.headers, &[])
            .await?;
        parts.extensions.insert(claims.clone());
        Ok(Self(claims))
    }
}

/// A scope a route requires, named by a type for [`Scoped`].
///
/// ```
/// struct ContactsRead;
/// impl valet_resource::ScopeName for ContactsRead {
///     const SCOPE: &'static str = "contacts.read";
/// }
/// ```
pub trait ScopeName {
    const SCOPE: &'static str;
}

/// An axum extractor: like [`Authenticated`], and the token carries `T::SCOPE`, else 403
/// `insufficient_scope`.
pub struct Scoped<T>(pub Claims, PhantomData<fn() -> T>);

impl<T> Scoped<T> {
    pub fn claims(&self) -> &Claims {
        &self.0
    }
}

impl<T> std::fmt::Debug for Scoped<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Scoped").field(&self.0).finish()
    }
}

impl<S, T> FromRequestParts<S> for Scoped<T>
where
    S: Send + Sync,
    Validator: FromRef<S>,
    T: ScopeName,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let Authenticated(claims) = Authenticated::from_request_parts(parts, state).await?;
        Validator::from_ref(state).check_scopes(&claims, &[T::SCOPE])?;
        Ok(Self(claims, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::AUTHORIZATION, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn reads_one_bearer_header() {
        assert_eq!(bearer(&headers(&["Bearer abc.def-_"])), Ok("abc.def-_"));
        assert_eq!(bearer(&headers(&["bearer abc"])), Ok("abc"));
        assert_eq!(bearer(&headers(&[])), Err(Kind::Missing));
        assert_eq!(bearer(&headers(&["Basic YTpi"])), Err(Kind::Missing));
        assert_eq!(bearer(&headers(&["Bearer"])), Err(Kind::Missing));
        assert_eq!(bearer(&headers(&["Bearer a,b"])), Err(Kind::InvalidToken));
        assert!(matches!(
            bearer(&headers(&["Bearer a", "Bearer b"])),
            Err(Kind::InvalidRequest(_))
        ));
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        let r = |kind| Rejection {
            kind,
            resource_metadata: "https://api.example/.well-known/oauth-protected-resource".into(),
            dpop: false,
        };
        assert_eq!(
            r(Kind::Missing).challenge().unwrap(),
            "Bearer resource_metadata=\"https://api.example/.well-known/oauth-protected-resource\""
        );
        assert_eq!(
            r(Kind::InsufficientScope("a b".into()))
                .challenge()
                .unwrap(),
            "Bearer error=\"insufficient_scope\", scope=\"a b\", \
             resource_metadata=\"https://api.example/.well-known/oauth-protected-resource\""
        );
        assert!(
            r(Kind::InvalidToken)
                .challenge()
                .unwrap()
                .starts_with("Bearer error=\"invalid_token\", error_description=\"")
        );
        assert_eq!(r(Kind::Unavailable).challenge(), None);
        assert_eq!(r(Kind::Unavailable).status(), 503);
    }
}
