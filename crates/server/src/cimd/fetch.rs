//! One GET of a metadata document, as the CIMD draft's "Client Information Discovery" and
//! its security considerations ask, or of an application's logo (`logos/`), under the
//! same rules: resolve the host, refuse special-use addresses (`addr.rs`), then connect to
//! the address that was checked (the IP is pinned, so a DNS answer that changes between
//! check and connect is never used; SNI and `Host` stay the URL's host); TLS always
//! verified; no redirect followed (a 3xx is an error); only a 200 with a media type the
//! caller accepts counts (`Wanted`); at most `Wanted::max_bytes` read (a larger body is an
//! error, the rest never read); every step inside a connect and a total timeout.

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::header;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use valet_protocol::cimd::{ClientIdUrl, MAX_DOCUMENT_BYTES};

use super::addr;

/// Where a GET goes: an https URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A DNS name, an IPv4 literal, or an IPv6 literal without its brackets.
    pub host: String,
    pub port: u16,
    /// The path and query: what the GET asks for.
    pub path: String,
    /// `host[:port]` as written: the `Host` header.
    pub authority: String,
}

impl From<&ClientIdUrl> for Target {
    fn from(u: &ClientIdUrl) -> Self {
        Self {
            host: u.host.clone(),
            port: u.port,
            path: u.path.clone(),
            authority: u.authority.clone(),
        }
    }
}

impl Target {
    /// An `https` URL without user or password, or `None`.
    pub fn https(url: &str) -> Option<Self> {
        let u = url::Url::parse(url).ok()?;
        if u.scheme() != "https" || !u.username().is_empty() || u.password().is_some() {
            return None;
        }
        let host = match u.host()? {
            url::Host::Domain(d) => d.to_owned(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        let port = u.port_or_known_default()?;
        let authority = match u.port() {
            Some(p) => format!("{}:{p}", u.host_str()?),
            None => u.host_str()?.to_owned(),
        };
        let path = match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        };
        Some(Self {
            host,
            port,
            path,
            authority,
        })
    }
}

/// What a fetch accepts: the thing it names in its errors, the `Accept` it sends, the
/// media types it takes and how many bytes at most.
pub struct Wanted {
    pub what: &'static str,
    pub accept: &'static str,
    pub media: fn(&str) -> bool,
    pub max_bytes: usize,
}

/// A Client ID Metadata Document: JSON, 5 KB.
pub const METADATA_DOCUMENT: Wanted = Wanted {
    what: "the metadata document",
    accept: "application/json",
    media: |m| m == "application/json" || m.ends_with("+json"),
    max_bytes: MAX_DOCUMENT_BYTES,
};

/// A fetched document: its body and the `Cache-Control` it came with.
pub struct Fetched {
    pub body: Vec<u8>,
    pub cache_control: Option<String>,
}

pub struct Fetcher {
    tls: Arc<rustls::ClientConfig>,
    allow_loopback: bool,
    connect_timeout: Duration,
    total_timeout: Duration,
}

/// Stops the connection's task when the fetch is over (done, failed or cancelled).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Fetcher {
    pub fn new(
        tls: Arc<rustls::ClientConfig>,
        allow_loopback: bool,
        connect_timeout: Duration,
        total_timeout: Duration,
    ) -> Self {
        Self {
            tls,
            allow_loopback,
            connect_timeout,
            total_timeout,
        }
    }

    /// What `url` answers, or why not (a sentence a developer can act on; it names the
    /// host and the address, never anything secret).
    pub async fn fetch(&self, url: &Target, wanted: &Wanted) -> Result<Fetched, String> {
        let total = self.total_timeout;
        tokio::time::timeout(total, self.attempt(url, wanted))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "{} did not arrive within {} s",
                    wanted.what,
                    total.as_secs()
                ))
            })
    }

    async fn attempt(&self, url: &Target, wanted: &Wanted) -> Result<Fetched, String> {
        let mut last = String::from("no address to connect to");
        for addr in self.addresses(url, wanted).await? {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => return self.get(tcp, url, wanted).await,
                Ok(Err(e)) => last = format!("cannot connect to {addr}: {e}"),
                Err(_) => last = format!("no connection to {addr} within the connect timeout"),
            }
        }
        Err(last)
    }

    /// Every address the host resolves to, each checked: one refused address refuses the
    /// host (a name that answers a public and a private address is not fetched).
    async fn addresses(&self, url: &Target, wanted: &Wanted) -> Result<Vec<SocketAddr>, String> {
        let ips: Vec<IpAddr> = match url.host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((url.host.as_str(), url.port))
                .await
                .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
                .map(|a| a.ip())
                .collect(),
        };
        if ips.is_empty() {
            return Err(format!("{} resolves to no address", url.host));
        }
        for ip in &ips {
            if let Err(why) = addr::check(*ip, self.allow_loopback) {
                return Err(format!(
                    "{} resolves to {ip}, {why}: {} is fetched from public addresses only",
                    url.host, wanted.what
                ));
            }
        }
        let mut out: Vec<SocketAddr> = ips.into_iter().map(|ip| (ip, url.port).into()).collect();
        out.dedup();
        Ok(out)
    }

    async fn get(&self, tcp: TcpStream, url: &Target, wanted: &Wanted) -> Result<Fetched, String> {
        let what = wanted.what;
        let name = ServerName::try_from(url.host.clone())
            .map_err(|_| format!("`{}` is not a valid TLS server name", url.host))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {} failed: {e}", url.host))?;
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            // The smallest buffer hyper allows: bounds the response head too.
            .max_buf_size(8192)
            .handshake::<_, Empty<Bytes>>(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP with {} failed: {e}", url.host))?;
        let _conn = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        let request = hyper::Request::get(url.path.as_str())
            .header(header::HOST, url.authority.as_str())
            .header(header::ACCEPT, wanted.accept)
            .header(header::USER_AGENT, "Valet")
            .body(Empty::new())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("HTTP with {} failed: {e}", url.host))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(format!(
                "{what}'s URL answered {status}: redirects are not followed"
            ));
        }
        if status != hyper::StatusCode::OK {
            return Err(format!("{what}'s URL answered {status}, not 200"));
        }
        let headers = response.headers();
        let media = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if !(wanted.media)(&media) {
            return Err(format!(
                "{what} has Content-Type `{media}`, not {}",
                wanted.accept
            ));
        }
        let max = wanted.max_bytes;
        let too_large = || format!("{what} is larger than {max} bytes");
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let cache_control = headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        let body = Limited::new(response.into_body(), max)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    too_large()
                } else {
                    format!("reading {what} failed: {e}")
                }
            })?
            .to_bytes()
            .to_vec();
        Ok(Fetched {
            body,
            cache_control: (!cache_control.is_empty()).then_some(cache_control),
        })
    }
}
