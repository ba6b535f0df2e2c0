//! A private OpenLDAP server for one test: its own temporary folder, `slapd.conf`, MDB
//! database seeded with `slapadd`, a CA and server certificate made for the run, and
//! random ports for `ldap://` (plain and StartTLS) and `ldaps://`. It runs in the
//! foreground as this process's child and dies with the value; no system-wide slapd is
//! used or needed. Tests that use it are `#[ignore]`d unless slapd is installed: `.ci/run`
//! installs it and runs them with `--ignored`.

use ldap3::{LdapConnAsync, Mod};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BASE: &str = "dc=example,dc=org";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PASSWORD: &str = "directory admin secret";
pub const SERVICE_DN: &str = "cn=valet,ou=services,dc=example,dc=org";
pub const SERVICE_PASSWORD: &str = "service account secret";
/// Passwords of the seeded people.
pub const ADA: &str = "analytical engine 1843";
pub const GRACE: &str = "compiler A-0 1952";
pub const CAROL: &str = "carol's own password";

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";

pub struct Slapd {
    dir: tempfile::TempDir,
    pub port: u16,
    pub tls_port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn seed() -> String {
    let person = |uid: &str, cn: &str, given: &str, sn: &str, pw: &str, extra: &str| {
        format!(
            "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\n\
             givenName: {given}\nsn: {sn}\nmail: {uid}@example.org\nuserPassword: {pw}\n{extra}\n"
        )
    };
    let group = |cn: &str, members: &[&str]| {
        let m: String = members
            .iter()
            .map(|u| format!("member: uid={u},ou=people,{BASE}\n"))
            .collect();
        format!("dn: cn={cn},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {cn}\n{m}\n")
    };
    [
        format!("dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n"),
        format!("dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n"),
        format!("dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n"),
        format!("dn: ou=services,{BASE}\nobjectClass: organizationalUnit\nou: services\n\n"),
        format!(
            "dn: {SERVICE_DN}\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: valet\n\
             sn: valet\nuserPassword: {SERVICE_PASSWORD}\n\n"
        ),
        person("ada", "Ada Lovelace", "Ada", "Lovelace", ADA, ""),
        person("grace", "Grace Hopper", "Grace", "Hopper", GRACE, ""),
        person("carol", "Carol Disabled", "Carol", "Disabled", CAROL, "employeeType: disabled\n"),
        // Two entries with one login name: neither may sign in.
        format!(
            "dn: cn=twin one,ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: twin\ncn: twin one\n\
             sn: one\nuserPassword: {ADA}\n\n"
        ),
        format!(
            "dn: cn=twin two,ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: twin\ncn: twin two\n\
             sn: two\nuserPassword: {ADA}\n\n"
        ),
        group("engineers", &["ada", "grace"]),
        group("poets", &["ada"]),
    ]
    .concat()
}

impl Slapd {
    /// Whether this machine has OpenLDAP's server (Debian's `slapd` package).
    pub fn installed() -> bool {
        Path::new(SLAPD).exists() && Path::new(SLAPADD).exists()
    }

    /// A seeded directory, listening. Panics with a clear message where slapd is missing
    /// (these tests run only when asked for with `--ignored`).
    pub fn start() -> Self {
        assert!(
            Self::installed(),
            "these tests need OpenLDAP's slapd ({SLAPD}); install Debian's slapd package \
             or run .ci/run, which does"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir(p.join("db")).unwrap();
        write_certificates(p);
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             pidfile {dir}/slapd.pid\n\
             TLSCACertificateFile {dir}/ca.pem\n\
             TLSCertificateFile {dir}/server.pem\n\
             TLSCertificateKeyFile {dir}/server-key.pem\n\
             database mdb\nmaxsize 16777216\nsuffix \"{BASE}\"\n\
             rootdn \"{ADMIN_DN}\"\nrootpw \"{ADMIN_PASSWORD}\"\n\
             directory {dir}/db\nindex objectClass,uid,entryUUID eq\n",
            dir = p.display()
        );
        std::fs::write(p.join("slapd.conf"), conf).unwrap();
        std::fs::write(p.join("seed.ldif"), seed()).unwrap();
        let out = Command::new(SLAPADD)
            .arg("-q")
            .arg("-f")
            .arg(p.join("slapd.conf"))
            .arg("-l")
            .arg(p.join("seed.ldif"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "slapadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut s = Self {
            dir,
            port: free_port(),
            tls_port: free_port(),
            child: None,
        };
        s.run();
        s
    }

    fn run(&mut self) {
        let p = self.dir.path();
        let log = std::fs::File::create(p.join("slapd.log")).unwrap();
        // `-d 0`: stay in the foreground (a child we can stop), logging nothing extra.
        let child = Command::new(SLAPD)
            .arg("-d")
            .arg("0")
            .arg("-f")
            .arg(p.join("slapd.conf"))
            .arg("-h")
            .arg(format!(
                "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
                self.port, self.tls_port
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", self.tls_port)).is_err()
        {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("slapd exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "slapd did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    /// Stops the server (the data stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same ports, with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port)
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A file holding the service account's password, as an operator would keep it.
    pub fn service_password_file(&self) -> PathBuf {
        let path = self.dir.path().join("service-password");
        std::fs::write(&path, format!("{SERVICE_PASSWORD}\n")).unwrap();
        path
    }

    async fn admin(&self) -> ldap3::Ldap {
        let (conn, mut ldap) = LdapConnAsync::new(&self.url()).await.unwrap();
        ldap3::drive!(conn);
        ldap.simple_bind(ADMIN_DN, ADMIN_PASSWORD)
            .await
            .unwrap()
            .success()
            .unwrap();
        ldap
    }

    /// Replaces attribute `attr` of `uid`'s entry with `value`.
    pub async fn set(&self, uid: &str, attr: &str, value: &str) {
        let mut ldap = self.admin().await;
        let dn = format!("uid={uid},ou=people,{BASE}");
        ldap.modify(&dn, vec![Mod::Replace(attr, HashSet::from([value]))])
            .await
            .unwrap()
            .success()
            .unwrap();
    }

    pub async fn delete(&self, uid: &str) {
        let mut ldap = self.admin().await;
        ldap.delete(&format!("uid={uid},ou=people,{BASE}"))
            .await
            .unwrap()
            .success()
            .unwrap();
    }

    /// The `entryUUID` slapd gave `uid`'s entry.
    pub async fn entry_uuid(&self, uid: &str) -> String {
        let mut ldap = self.admin().await;
        let (entries, _) = ldap
            .search(
                &format!("uid={uid},ou=people,{BASE}"),
                ldap3::Scope::Base,
                "(objectClass=*)",
                vec!["entryUUID"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        let e = ldap3::SearchEntry::construct(entries.into_iter().next().unwrap());
        e.attrs["entryUUID"][0].clone()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it, as PEM files in `dir`.
fn write_certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Valet test directory CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = server.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server-key.pem"), key.serialize_pem()).unwrap();
}
