//! `contacts-api`: runs the demo API. Settings come from the environment:
//! `VALET_ISSUER` (default `http://localhost:8080`), `CONTACTS_AUDIENCE` (default
//! `http://localhost:9090`, as registered with `valet api create --audience`),
//! `CONTACTS_LISTEN` (default `127.0.0.1:9090`), and for introspection instead of local
//! JWT checks `CONTACTS_CLIENT_ID` and `CONTACTS_CLIENT_SECRET`: a confidential
//! application the API is registered with as its introspector (`valet api create …
//! --introspector CLIENT_ID`; to any other application Valet says every token for this
//! API is inactive). `CONTACTS_JWT_CACHE`
//! (seconds, default 60, 0 for none) is how long a verified JWT is remembered.
//! `CONTACTS_UNPROTECTED=1` turns the token check off, for the benchmark only.

use std::time::Duration;

use valet_resource::{Config, Validator};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CONTACTS_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(e) = run().await {
        eprintln!("contacts-api: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = env("VALET_ISSUER", "http://localhost:8080");
    let audience = env("CONTACTS_AUDIENCE", "http://localhost:9090");
    let listen = env("CONTACTS_LISTEN", "127.0.0.1:9090");
    let mut config = Config::new(issuer, audience)
        .scopes_supported(["contacts.read", "contacts.write"])
        .resource_name("Contacts");
    if let Ok(secs) = std::env::var("CONTACTS_JWT_CACHE") {
        config = config.jwt_cache(Duration::from_secs(secs.parse()?));
    }
    if let (Ok(id), Ok(secret)) = (
        std::env::var("CONTACTS_CLIENT_ID"),
        std::env::var("CONTACTS_CLIENT_SECRET"),
    ) {
        config = config.introspection(id, secret);
    }
    let validator = Validator::new(config).await?;
    let protected = std::env::var("CONTACTS_UNPROTECTED").as_deref() != Ok("1");
    if !protected {
        tracing::warn!("CONTACTS_UNPROTECTED=1: no token is checked (benchmark mode)");
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(%listen, ?validator, "contacts API listening");
    axum::serve(listener, contacts_api::app(validator, protected)).await?;
    Ok(())
}
