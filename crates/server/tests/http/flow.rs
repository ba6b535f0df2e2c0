//! A browser for tests: an HTTP client that keeps cookies and never follows redirects,
//! plus the steps of a sign-in (authorize → login page → consent page → redirect) so
//! tests can stop at any step and poke at it.

use oauth2::reqwest;
use std::net::SocketAddr;
use valet_server::admin::{NewClient, NewUser};

use crate::harness::TestApp;

pub const PASSWORD: &str = "correct horse battery staple";
pub const REDIRECT: &str = "https://app.example/cb";

pub struct Browser {
    pub http: reqwest::Client,
}

/// A page as the browser got it.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<String> {
        self.headers
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// The value of the hidden (or any) input `name`, HTML entities decoded.
    pub fn field(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\"");
        let at = self.body.find(&needle)?;
        let tag_start = self.body[..at].rfind('<')?;
        let tag_end = at + self.body[at..].find('>')?;
        let tag = &self.body[tag_start..tag_end];
        let v = tag.split("value=\"").nth(1)?.split('"').next()?;
        Some(unescape(v))
    }
}

pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A parameter of a redirect URL, from its query or its fragment.
pub fn param(url: &str, name: &str) -> Option<String> {
    let rest = url.split_once(['?', '#'])?.1;
    let p =
        valet_protocol::params::Params::parse_lenient(rest.replace('#', "&").as_bytes()).unwrap();
    p.get(name).map(str::to_owned)
}

impl TestApp {
    pub fn browser(&self) -> Browser {
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.cert_pem.as_bytes()).unwrap())
            .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], self.port)))
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap();
        Browser { http }
    }

    /// A user of the built-in store with password `PASSWORD`; returns the `sub`.
    pub async fn user(&self, username: &str) -> String {
        let mut claims = valet_protocol::user::UserClaims {
            name: Some(format!("{username} Example")),
            email: Some(format!("{username}@example.com")),
            email_verified: true,
            ..Default::default()
        };
        claims.given_name = Some(username.to_owned());
        self.admin
            .create_user(
                NewUser {
                    username: username.into(),
                    password: PASSWORD.into(),
                    claims,
                },
                self.now(),
            )
            .await
            .unwrap()
            .id
    }

    /// A `web` application redirecting to `REDIRECT`; returns (client_id, client_secret).
    pub async fn web_client(&self) -> (String, String) {
        self.client(NewClient {
            name: "Web App".into(),
            profile: Some(valet_protocol::application::Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec!["https://app.example/bye".into()],
            ..Default::default()
        })
        .await
    }

    /// Redeems the code in `location` (a redirect to `REDIRECT`) for the application: the
    /// token endpoint's answer.
    pub async fn redeem(&self, id: &str, secret: &str, location: &str) -> reqwest::Response {
        let code = param(location, "code").expect("a code in the redirect");
        self.post(
            "/oauth2/token",
            id,
            secret,
            &format!(
                "grant_type=authorization_code&code={code}\
                 &redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
            ),
        )
        .await
    }

    /// A standard authorization request of `client_id` (code flow, openid profile email).
    pub fn authorize_url(&self, client_id: &str, extra: &str) -> String {
        self.url(&format!(
            "/oauth2/authorize?client_id={client_id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
             &response_type=code&scope=openid+profile+email&state=st1&nonce=n1{extra}"
        ))
    }
}

impl Browser {
    pub async fn get(&self, url: &str) -> Page {
        page(self.http.get(url).send().await.unwrap()).await
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Page {
        page(self.http.post(url).form(form).send().await.unwrap()).await
    }

    /// Posts the login form of `login_page` with these credentials.
    pub async fn login(
        &self,
        app: &TestApp,
        login_page: &Page,
        username: &str,
        password: &str,
    ) -> Page {
        let csrf = login_page
            .field("csrf")
            .expect("login form has a csrf field");
        let interaction = login_page.field("interaction").unwrap_or_default();
        self.post_form(
            &app.url("/login"),
            &[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
                ("interaction", &interaction),
            ],
        )
        .await
    }

    /// Answers the consent page with `allow` or `deny`.
    pub async fn consent(&self, app: &TestApp, consent_page: &Page, decision: &str) -> Page {
        let csrf = consent_page
            .field("csrf")
            .expect("consent form has a csrf field");
        let interaction = consent_page.field("interaction").unwrap();
        self.post_form(
            &app.url("/consent"),
            &[
                ("csrf", &csrf),
                ("interaction", &interaction),
                ("decision", decision),
            ],
        )
        .await
    }

    /// The whole happy path from `url`: sign in as `username` if asked, allow if asked.
    /// Returns the redirect to the application.
    pub async fn sign_in(&self, app: &TestApp, url: &str, username: &str) -> String {
        let mut p = self.get(url).await;
        if p.status == 200 && p.body.contains("name=\"password\"") {
            p = self.login(app, &p, username, PASSWORD).await;
        }
        if p.status == 200 && p.body.contains("value=\"allow\"") {
            p = self.consent(app, &p, "allow").await;
        }
        assert_eq!(
            p.status, 303,
            "expected a redirect to the application: {}",
            p.body
        );
        p.location().unwrap()
    }
}

async fn page(r: reqwest::Response) -> Page {
    Page {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.text().await.unwrap(),
    }
}
