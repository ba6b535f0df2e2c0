//! TLS for the connections Valet opens (LDAP directories, metadata documents): rustls
//! over aws-lc-rs as everywhere in Valet, always verified, trusting the platform's roots
//! (`rustls-native-certs`, which reads `SSL_CERT_FILE` / `SSL_CERT_DIR` instead when they
//! are set) or the CAs of a file.

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;

/// The platform's roots (or those of `SSL_CERT_FILE`); unreadable ones are skipped.
pub fn platform_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    roots
}

/// Adds the certificates of a PEM file; a file that holds none is an error.
pub fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<(), String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// A client configuration trusting `roots`, without client certificates.
pub fn config(roots: RootCertStore) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
