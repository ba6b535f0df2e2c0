//! One GET of a metadata document, as the CIMD draft's "Client Information Discovery" and
//! its security considerations ask: resolve the host, refuse special-use addresses
//! (`addr.rs`), then connect to the address that was checked (the IP is pinned, so a DNS
//! answer that changes between check and connect is never used; SNI and `Host` stay the
//! URL's host); TLS always verified; no redirect followed (a 3xx is an error); only a 200
//! with a JSON media type counts; at most `MAX_DOCUMENT_BYTES` read (a larger body is an
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

    /// The document at `url`, or why not (a sentence a developer can act on; it names
    /// the host and the address, never anything secret).
    pub async fn fetch(&self, url: &ClientIdUrl) -> Result<Fetched, String> {
        let total = self.total_timeout;
        tokio::time::timeout(total, self.attempt(url))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "the metadata document did not arrive within {} s",
                    total.as_secs()
                ))
            })
    }

    async fn attempt(&self, url: &ClientIdUrl) -> Result<Fetched, String> {
        let mut last = String::from("no address to connect to");
        for addr in self.addresses(url).await? {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => return self.get(tcp, url).await,
                Ok(Err(e)) => last = format!("cannot connect to {addr}: {e}"),
                Err(_) => last = format!("no connection to {addr} within the connect timeout"),
            }
        }
        Err(last)
    }

    /// Every address the host resolves to, each checked: one refused address refuses the
    /// host (a name that answers a public and a private address is not fetched).
    async fn addresses(&self, url: &ClientIdUrl) -> Result<Vec<SocketAddr>, String> {
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
                    "{} resolves to {ip}, {why}: Valet fetches metadata documents from \
                     public addresses only",
                    url.host
                ));
            }
        }
        let mut out: Vec<SocketAddr> = ips.into_iter().map(|ip| (ip, url.port).into()).collect();
        out.dedup();
        Ok(out)
    }

    async fn get(&self, tcp: TcpStream, url: &ClientIdUrl) -> Result<Fetched, String> {
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
            .header(header::ACCEPT, "application/json")
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
                "the metadata document URL answered {status}: redirects are not followed"
            ));
        }
        if status != hyper::StatusCode::OK {
            return Err(format!(
                "the metadata document URL answered {status}, not 200"
            ));
        }
        let headers = response.headers();
        let media = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if media != "application/json" && !media.ends_with("+json") {
            return Err(format!(
                "the metadata document has Content-Type `{media}`, not application/json"
            ));
        }
        let too_large =
            || format!("the metadata document is larger than {MAX_DOCUMENT_BYTES} bytes");
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64) {
            return Err(too_large());
        }
        let cache_control = headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    too_large()
                } else {
                    format!("reading the metadata document failed: {e}")
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
