//! The harness: `valet serve` processes over one database (PostgreSQL or one SQLite file),
//! one issuer URL and one master key, as behind a load balancer; the admin CLI on the same
//! database; a browser that signs in and carries its cookies from node to node.

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use valet_store::postgres::testdb::TestDatabase;

/// The one issuer every node answers for (nothing listens there: clients talk to nodes).
pub const ISSUER: &str = "http://valet.cluster.test";
pub const REDIRECT: &str = "https://app.example/cb";
pub const PASSWORD: &str = "correct horse battery staple";

pub enum Backend {
    Postgres,
    Sqlite,
}

/// One `valet serve` process; SIGKILLed when dropped, so a failing test leaves none behind.
/// Killed and replaced through `&self`, so load can run against it meanwhile.
pub struct Node {
    child: Mutex<Option<Child>>,
    port: AtomicU16,
}

impl Node {
    /// SIGKILL (no graceful shutdown), then reap.
    pub fn kill(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}{path}",
            self.port.load(Ordering::SeqCst)
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Cluster {
    // Fields drop in order: the nodes go before their database.
    pub nodes: Vec<Node>,
    env: Vec<(String, String)>,
    spawned: AtomicUsize,
    pub http: reqwest::Client,
    _pg: Option<TestDatabase>,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// A fresh database and `n` nodes started with `settings` (`VALET_*` pairs) on top of
    /// the common ones.
    pub async fn start(backend: Backend, n: usize, settings: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (pg, database) = match backend {
            Backend::Postgres => {
                let db = TestDatabase::create().await.unwrap();
                let url = db.url.clone();
                (Some(db), url)
            }
            Backend::Sqlite => (
                None,
                format!("sqlite://{}", dir.path().join("valet.db").display()),
            ),
        };
        let mut env = vec![
            ("VALET_DATABASE".to_owned(), database),
            ("VALET_ISSUER".to_owned(), ISSUER.to_owned()),
            ("VALET_MASTER_KEY".to_owned(), master_key()),
            ("VALET_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ];
        env.extend(
            settings
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let mut c = Self {
            nodes: Vec::new(),
            env,
            spawned: AtomicUsize::new(0),
            http,
            _pg: pg,
            dir,
        };
        // The first CLI call migrates the database and creates the keys, so nodes starting
        // together do not race for that (they may: invariant 3; this keeps startup short).
        c.cli(&["keys", "list"], None);
        for _ in 0..n {
            c.nodes.push(Node {
                child: Mutex::new(None),
                port: AtomicU16::new(0),
            });
        }
        for i in 0..n {
            c.start_node(i).await;
        }
        c
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_valet"));
        cmd.current_dir(self.dir.path());
        // Unknown VALET_* variables are refused by name (invariant 8): pass only ours.
        for (k, _) in std::env::vars() {
            if k.starts_with("VALET_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs an admin command on the cluster's database; its standard output.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> String {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "valet {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `valet client create … --json`: (client_id, client_secret).
    pub fn client(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["client", "create", "--json"];
        all.extend_from_slice(args);
        let v: Value = serde_json::from_str(&self.cli(&all, None)).unwrap();
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        (s("client_id"), s("client_secret"))
    }

    pub fn user(&self, name: &str) {
        self.cli(
            &["user", "create", "--username", name, "--password-stdin"],
            Some(PASSWORD),
        );
    }

    /// Starts a process as node `i`; returns when it serves (its log names the port).
    pub async fn start_node(&self, i: usize) {
        let n = self.spawned.fetch_add(1, Ordering::SeqCst);
        let log = self.dir.path().join(format!("node-{i}-{n}.log"));
        let child = self
            .command()
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let node = &self.nodes[i];
        node.kill();
        *node.child.lock().unwrap() = Some(child);
        node.port.store(wait_for_port(&log).await, Ordering::SeqCst);
    }

    /// POSTs a form with HTTP Basic client authentication (RFC 6749 §2.3.1); (status, JSON
    /// body or Null). Transport errors are returned, not panicked on: crashes cause them.
    pub async fn try_post(
        &self,
        node: usize,
        path: &str,
        client: &(String, String),
        form: &[(&str, &str)],
    ) -> Result<(u16, Value), reqwest::Error> {
        let r = self
            .http
            .post(self.nodes[node].url(path))
            .basic_auth(&client.0, Some(&client.1))
            .form(form)
            .send()
            .await?;
        let status = r.status().as_u16();
        let body = r.bytes().await?;
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }

    pub async fn post(
        &self,
        node: usize,
        path: &str,
        client: &(String, String),
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        self.try_post(node, path, client, form).await.unwrap()
    }

    /// RFC 7662 §2.1: introspection by an authenticated client; the `active` member.
    pub async fn active(&self, node: usize, client: &(String, String), token: &str) -> bool {
        let (status, v) = self
            .post(node, "/oauth2/introspect", client, &[("token", token)])
            .await;
        assert_eq!(status, 200, "{v}");
        v["active"].as_bool().unwrap()
    }

    /// The `kid`s of node `i`'s JWKS (RFC 7517 §5).
    pub async fn jwks_kids(&self, node: usize) -> Vec<String> {
        let v: Value = self
            .http
            .get(self.nodes[node].url("/oauth2/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// 32 random bytes in hex, the form `VALET_MASTER_KEY` accepts; shared by every node.
fn master_key() -> String {
    let mut bytes = [0u8; 32];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").unwrap(),
        &mut bytes,
    )
    .unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn wait_for_port(log: &Path) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some((_, rest)) = text.split_once("serving on http://127.0.0.1:") {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            return digits.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "valet did not start: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `check` every 50 ms until it holds; the time it took. Fails past `bound`.
pub async fn within<F, Fut>(bound: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < bound, "{what}: not within {bound:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `kid` of a compact JWS's protected header (RFC 7515 §4.1.4).
pub fn kid(jwt: &str) -> String {
    use base64::Engine;
    let head = jwt.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["kid"].as_str().unwrap().to_owned()
}
