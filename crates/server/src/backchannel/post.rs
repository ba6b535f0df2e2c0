//! One POST of a logout token (OIDC Back-Channel Logout 1.0 §2.5) to an application's
//! `backchannel_logout_uri`: resolve the host, check the addresses when the application
//! registered itself (the metadata fetcher's rules, `cimd/addr.rs`: an anonymous
//! registrant cannot point Valet at its private network), connect to the checked address,
//! TLS always verified (plain http only to a loopback address, which `backchannel::
//! validate_uri` allows for development), no redirect followed, nothing of the answer
//! read but its status, every step inside a connect and a total timeout.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

use crate::cimd::addr;

/// What became of one attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 200 or 204 (§2.8: some frameworks answer an empty 200 as 204).
    Delivered,
    /// The application answered that it will not log the user out (a 4xx): retrying
    /// would not change its mind.
    Refused(String),
    /// Not reached, or a 5xx: worth another attempt.
    Failed(String),
}

pub struct Poster {
    pub tls: Arc<rustls::ClientConfig>,
    pub allow_loopback: bool,
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
}

impl Poster {
    /// POSTs `logout_token=…` to `uri`. `check_addresses`: the application registered
    /// itself, so only public addresses (or loopback, when the development switch is on).
    pub async fn post(&self, uri: &str, token: &str, check_addresses: bool) -> Outcome {
        match tokio::time::timeout(
            self.total_timeout,
            self.attempt(uri, token, check_addresses),
        )
        .await
        {
            Ok(o) => o,
            Err(_) => Outcome::Failed(format!(
                "no answer within {} s",
                self.total_timeout.as_secs()
            )),
        }
    }

    async fn attempt(&self, uri: &str, token: &str, check_addresses: bool) -> Outcome {
        let Ok(u) = url::Url::parse(uri) else {
            return Outcome::Refused("the URI does not parse".into());
        };
        let https = match u.scheme() {
            "https" => true,
            "http" => false,
            other => return Outcome::Refused(format!("scheme {other}")),
        };
        let Some(host) = u.host().map(|h| match h {
            url::Host::Domain(d) => d.to_owned(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        }) else {
            return Outcome::Refused("no host".into());
        };
        let Some(port) = u.port_or_known_default() else {
            return Outcome::Refused("no port".into());
        };
        let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(a) => a.map(|a| a.ip()).collect(),
                Err(e) => return Outcome::Failed(format!("cannot resolve {host}: {e}")),
            },
        };
        if !https && !ips.iter().all(IpAddr::is_loopback) {
            return Outcome::Refused("plain http is only for loopback addresses".into());
        }
        if check_addresses {
            for ip in &ips {
                if let Err(why) = addr::check(*ip, self.allow_loopback) {
                    return Outcome::Refused(format!("{host} resolves to {ip}, {why}"));
                }
            }
        }
        let path = match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        };
        let authority = match u.port() {
            Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
            None => u.host_str().unwrap_or_default().to_owned(),
        };
        let mut last = Outcome::Failed("no address to connect to".into());
        for ip in ips {
            let addr = SocketAddr::from((ip, port));
            let tcp =
                match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        last = Outcome::Failed(format!("cannot connect to {addr}: {e}"));
                        continue;
                    }
                    Err(_) => {
                        last = Outcome::Failed(format!("no connection to {addr} in time"));
                        continue;
                    }
                };
            let body = form_body(token);
            return if https {
                let Ok(name) = ServerName::try_from(host.clone()) else {
                    return Outcome::Refused(format!("`{host}` is not a TLS server name"));
                };
                match tokio_rustls::TlsConnector::from(self.tls.clone())
                    .connect(name, tcp)
                    .await
                {
                    Ok(tls) => send(tls, &path, &authority, body).await,
                    Err(e) => Outcome::Failed(format!("TLS with {host} failed: {e}")),
                }
            } else {
                send(tcp, &path, &authority, body).await
            };
        }
        last
    }
}

fn form_body(token: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", token)
        .finish()
}

async fn send<S>(io: S, path: &str, authority: &str, body: String) -> Outcome
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = match hyper::client::conn::http1::Builder::new()
        .max_buf_size(8192)
        .handshake::<_, Full<Bytes>>(TokioIo::new(io))
        .await
    {
        Ok(x) => x,
        Err(e) => return Outcome::Failed(format!("HTTP failed: {e}")),
    };
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = hyper::Request::post(path)
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::USER_AGENT, "Valet")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(body)));
    let outcome = match request {
        Err(e) => Outcome::Refused(format!("cannot build the request: {e}")),
        Ok(r) => match sender.send_request(r).await {
            Err(e) => Outcome::Failed(format!("HTTP failed: {e}")),
            Ok(resp) => {
                let s = resp.status();
                if s == hyper::StatusCode::OK || s == hyper::StatusCode::NO_CONTENT {
                    Outcome::Delivered
                } else if s.is_client_error() {
                    Outcome::Refused(format!("answered {s}"))
                } else {
                    Outcome::Failed(format!("answered {s}"))
                }
            }
        },
    };
    conn.abort();
    outcome
}
