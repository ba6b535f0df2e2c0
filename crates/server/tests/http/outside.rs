//! A server outside Valet for tests of what Valet fetches (metadata documents, logos): a
//! real HTTPS server on loopback with a CA made for the run, answering what a test sets
//! per path and counting the requests it gets, so caches are observed from outside. Valet
//! runs with `dev_allow_loopback_metadata` and trusts that CA (`metadata_ca_file`, as
//! `SSL_CERT_FILE` would in a deployment).

use axum::http::{HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the document server answers on a path.
#[derive(Clone)]
struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

#[derive(Default)]
struct Served {
    answers: Mutex<HashMap<String, Canned>>,
    hits: Mutex<HashMap<String, usize>>,
}

/// The server: a real HTTPS server on 127.0.0.1, its certificate for `localhost` signed
/// by a CA of its own.
pub struct Outside {
    pub port: u16,
    served: Arc<Served>,
    /// The CA to trust (`metadata_ca_file`).
    pub ca_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Outside {
    pub async fn start() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Valet test outside CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        // The process's one TLS stack, as Valet installs it.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
            leaf.pem().into_bytes(),
            key.serialize_pem().into_bytes(),
        )
        .await
        .unwrap();
        let served = Arc::new(Served::default());
        let s = served.clone();
        let router = axum::Router::new().fallback(move |uri: Uri| {
            let s = s.clone();
            async move { s.answer(uri.path()) }
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(
            axum_server::from_tcp_rustls(listener, tls)
                .unwrap()
                .serve(router.into_make_service()),
        );
        Outside {
            port,
            served,
            ca_file,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    pub fn set(
        &self,
        path: &str,
        status: u16,
        headers: &[(&'static str, &str)],
        body: impl Into<Vec<u8>>,
    ) {
        let canned = Canned {
            status,
            headers: headers.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            body: body.into(),
        };
        self.served
            .answers
            .lock()
            .unwrap()
            .insert(path.to_owned(), canned);
    }

    /// Requests `path` got so far.
    pub fn hits(&self, path: &str) -> usize {
        *self.served.hits.lock().unwrap().get(path).unwrap_or(&0)
    }
}

impl Served {
    fn answer(&self, path: &str) -> Response {
        *self
            .hits
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default() += 1;
        let Some(c) = self.answers.lock().unwrap().get(path).cloned() else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let mut r = (StatusCode::from_u16(c.status).unwrap(), c.body).into_response();
        for (k, v) in c.headers {
            r.headers_mut().insert(
                HeaderName::from_static(k),
                HeaderValue::from_str(&v).unwrap(),
            );
        }
        r
    }
}
