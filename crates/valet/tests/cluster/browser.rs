//! A browser as the cluster sees it: two cookies, sent to whichever node the load balancer
//! picks, and the authorization-code flow's front channel (RFC 6749 §4.1.1–4.1.2).

use crate::node::{Cluster, PASSWORD, REDIRECT};

/// The browser's cookies: the CSRF cookie of the login form and the session.
#[derive(Clone, Default)]
pub struct Browser {
    csrf: String,
    session: String,
}

/// What an authorization request answered.
#[derive(Debug)]
pub enum Authorized {
    /// A redirect to the application with `code` (RFC 6749 §4.1.2).
    Code(String),
    /// The consent page, with its form's hidden fields.
    Consent { csrf: String, interaction: String },
}

impl Browser {
    fn cookies(&self) -> String {
        format!("valet-csrf={}; valet-session={}", self.csrf, self.session)
    }

    fn take_cookies(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap_or_default();
            let pair = v.split(';').next().unwrap_or_default();
            if let Some(c) = pair.strip_prefix("valet-csrf=") {
                self.csrf = c.to_owned();
            } else if let Some(c) = pair.strip_prefix("valet-session=") {
                self.session = c.to_owned();
            }
        }
    }
}

pub fn authorize_path(client_id: &str) -> String {
    format!(
        "/oauth2/authorize?client_id={client_id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
         &response_type=code&scope=openid+offline_access&state=s1"
    )
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag = &html[at..at + html[at..].find('>')?];
    Some(tag.split("value=\"").nth(1)?.split('"').next()?.to_owned())
}

/// A 303 to the redirect URI with a code, or the consent page.
async fn outcome(r: reqwest::Response) -> Result<Authorized, String> {
    let status = r.status().as_u16();
    if status == 303 || status == 302 {
        let location = r
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let query = location
            .strip_prefix(REDIRECT)
            .and_then(|l| l.strip_prefix('?'))
            .ok_or_else(|| format!("redirected elsewhere: {location}"))?;
        return query
            .split('&')
            .find_map(|p| p.strip_prefix("code="))
            .map(|c| Authorized::Code(c.to_owned()))
            .ok_or_else(|| format!("no code: {location}"));
    }
    let html = r.text().await.map_err(|e| e.to_string())?;
    match (
        status,
        hidden(&html, "csrf"),
        hidden(&html, "interaction"),
        html.contains("name=\"decision\""),
    ) {
        (200, Some(csrf), Some(interaction), true) => Ok(Authorized::Consent { csrf, interaction }),
        _ => Err(format!("{status}: {html}")),
    }
}

impl Cluster {
    /// Signs `username` in at `node` for `client_id`: the login page, then its form.
    pub async fn sign_in(
        &self,
        node: usize,
        client_id: &str,
        username: &str,
    ) -> (Browser, Authorized) {
        let mut b = Browser::default();
        let r = self
            .http
            .get(self.nodes[node].url(&authorize_path(client_id)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        b.take_cookies(&r);
        let login = r.text().await.unwrap();
        let r = self
            .http
            .post(self.nodes[node].url("/login"))
            .header("cookie", b.cookies())
            .form(&[
                ("username", username),
                ("password", PASSWORD),
                ("csrf", &hidden(&login, "csrf").unwrap()),
                ("interaction", &hidden(&login, "interaction").unwrap()),
            ])
            .send()
            .await
            .unwrap();
        b.take_cookies(&r);
        assert!(!b.session.is_empty(), "signed in");
        (b.clone(), outcome(r).await.unwrap())
    }

    /// GET /oauth2/authorize at `node` with the browser's cookies.
    pub async fn try_authorize(
        &self,
        node: usize,
        b: &Browser,
        client_id: &str,
    ) -> Result<Authorized, String> {
        let r = self
            .http
            .get(self.nodes[node].url(&authorize_path(client_id)))
            .header("cookie", b.cookies())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        outcome(r).await
    }

    pub async fn code(&self, node: usize, b: &Browser, client_id: &str) -> String {
        match self.try_authorize(node, b, client_id).await.unwrap() {
            Authorized::Code(c) => c,
            other => panic!("expected a code, got {other:?}"),
        }
    }

    /// Presses Allow on a consent page at `node`; the code it redirects with.
    pub async fn try_allow(
        &self,
        node: usize,
        b: &Browser,
        csrf: &str,
        interaction: &str,
    ) -> Result<String, String> {
        let r = self
            .http
            .post(self.nodes[node].url("/consent"))
            .header("cookie", b.cookies())
            .form(&[
                ("csrf", csrf),
                ("interaction", interaction),
                ("decision", "allow"),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match outcome(r).await? {
            Authorized::Code(c) => Ok(c),
            other => Err(format!("{other:?}")),
        }
    }

    /// The code grant's token request (RFC 6749 §4.1.3).
    pub async fn try_exchange(
        &self,
        node: usize,
        client: &(String, String),
        code: &str,
    ) -> Result<(u16, serde_json::Value), reqwest::Error> {
        self.try_post(
            node,
            "/oauth2/token",
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await
    }

    /// A refresh (RFC 6749 §6).
    pub async fn try_refresh(
        &self,
        node: usize,
        client: &(String, String),
        refresh_token: &str,
    ) -> Result<(u16, serde_json::Value), reqwest::Error> {
        self.try_post(
            node,
            "/oauth2/token",
            client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }
}
