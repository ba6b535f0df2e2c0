//! Email (issue 16): messages to users — a password-reset link, an address-verification
//! link — sent over SMTP with lettre, from templates like the pages (`templates/mail/`,
//! text and HTML, overridable in `templates_dir`).
//!
//! A request never waits for the mail server: `Mailer::send` queues the message (bounded;
//! when full the message is dropped and logged — the user may ask again), and one task
//! sends the queue, retrying a failed message a few times with a growing delay. What is
//! logged names the template and the failure, never the recipient's link.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::mpsc;

/// Messages waiting to be sent, at most.
const QUEUE: usize = 256;
/// Attempts per message, and the delay before each retry.
const RETRIES: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(20)];

/// `smtp_url` as configured. `Debug` never prints it: it may hold a password.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SmtpUrl(pub String);

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpUrl([redacted])")
    }
}

/// How to reach the mail server: `smtps://` (TLS from the first byte, port 465),
/// `smtp://` (STARTTLS required, port 587), `smtp://…?tls=none` (no TLS: only to a
/// loopback address, for development and tests). User and password in the URL, if any.
#[derive(Clone, PartialEq, Eq)]
pub struct MailSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub credentials: Option<(String, String)>,
    pub from: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Implicit,
    StartTls,
    None,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[redacted]"),
            )
            .field("from", &self.from)
            .finish()
    }
}

/// `smtp_url` and `mail_from` → the settings, or a message naming the setting at fault
/// (never the password). Both or neither.
pub fn resolve(url: Option<&SmtpUrl>, from: Option<&str>) -> Result<Option<MailSettings>, String> {
    let (url, from) = match (url, from) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err("smtp_url needs mail_from (the sender address)".into()),
        (None, Some(_)) => return Err("mail_from needs smtp_url (the mail server)".into()),
        (Some(u), Some(f)) => (u, f),
    };
    from.parse::<Mailbox>()
        .map_err(|e| format!("mail_from `{from}` is not an address: {e}"))?;
    let u = url::Url::parse(&url.0).map_err(|e| format!("smtp_url does not parse: {e}"))?;
    let implicit = match u.scheme() {
        "smtps" => true,
        "smtp" => false,
        s => {
            return Err(format!(
                "smtp_url must start with smtp:// or smtps://, not {s}://"
            ));
        }
    };
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("smtp_url needs a host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let no_tls = u.query_pairs().any(|(k, v)| k == "tls" && v == "none");
    let tls = match (implicit, no_tls) {
        (true, true) => return Err("smtp_url: smtps:// is TLS; drop ?tls=none".into()),
        (true, false) => TlsMode::Implicit,
        (false, false) => TlsMode::StartTls,
        (false, true) => {
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(
                    "smtp_url: ?tls=none only to a loopback address (passwords and reset links would cross the network in the clear)"
                        .into(),
                );
            }
            TlsMode::None
        }
    };
    let port = u.port().unwrap_or(if implicit { 465 } else { 587 });
    let user = percent_encoding::percent_decode_str(u.username())
        .decode_utf8_lossy()
        .into_owned();
    let credentials = match (user.is_empty(), u.password()) {
        (true, None) => None,
        (true, Some(_)) => return Err("smtp_url has a password without a user".into()),
        (false, p) => Some((
            user,
            percent_encoding::percent_decode_str(p.unwrap_or(""))
                .decode_utf8_lossy()
                .into_owned(),
        )),
    };
    Ok(Some(MailSettings {
        host,
        port,
        tls,
        credentials,
        from: from.to_owned(),
    }))
}

/// One message to one person.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// For the log: which template (`reset_password`), never the content.
    pub kind: &'static str,
}

pub struct Mailer {
    queue: mpsc::Sender<Mail>,
}

impl Mailer {
    /// The mailer and its sender task (the caller spawns it).
    pub fn new(
        s: &MailSettings,
    ) -> Result<(Self, impl std::future::Future<Output = ()> + use<>), String> {
        let tls = || {
            TlsParameters::new(s.host.clone())
                .map_err(|e| format!("smtp_url: TLS for {}: {e}", s.host))
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
            .port(s.port)
            .timeout(Some(Duration::from_secs(10)))
            .tls(match s.tls {
                TlsMode::Implicit => Tls::Wrapper(tls()?),
                TlsMode::StartTls => Tls::Required(tls()?),
                TlsMode::None => Tls::None,
            });
        if let Some((user, pass)) = &s.credentials {
            b = b.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        let transport = b.build();
        let from: Mailbox = s.from.parse().map_err(|e| format!("mail_from: {e}"))?;
        let (queue, rx) = mpsc::channel(QUEUE);
        Ok((Self { queue }, send_all(transport, from, rx)))
    }

    /// Queues `mail`; never waits. `false` when the queue is full (logged).
    pub fn send(&self, mail: Mail) -> bool {
        let kind = mail.kind;
        if self.queue.try_send(mail).is_err() {
            tracing::warn!(kind, "the mail queue is full: a message was dropped");
            return false;
        }
        true
    }
}

async fn send_all(
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    mut rx: mpsc::Receiver<Mail>,
) {
    while let Some(mail) = rx.recv().await {
        let kind = mail.kind;
        let message = match build(&from, mail) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(kind, error = %e, "a message could not be built; not sent");
                continue;
            }
        };
        let mut attempt = 0;
        loop {
            match transport.send(message.clone()).await {
                Ok(_) => {
                    tracing::info!(kind, "message sent");
                    break;
                }
                Err(e) if attempt < RETRIES.len() && !e.is_permanent() => {
                    tracing::warn!(kind, error = %e, "sending a message failed; will retry");
                    tokio::time::sleep(RETRIES[attempt]).await;
                    attempt += 1;
                }
                Err(e) => {
                    tracing::warn!(kind, error = %e, "sending a message failed; given up");
                    break;
                }
            }
        }
    }
}

fn build(from: &Mailbox, mail: Mail) -> Result<Message, String> {
    let to: Mailbox = mail.to.parse().map_err(|e| format!("recipient: {e}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject)
        .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn url(s: &str) -> Result<Option<MailSettings>, String> {
        resolve(Some(&SmtpUrl(s.into())), Some("Valet <id@example.com>"))
    }

    #[test]
    fn smtp_urls() {
        let s = url("smtps://me%40x:p%3Ass@mail.example").unwrap().unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("mail.example", 465, TlsMode::Implicit)
        );
        assert_eq!(s.credentials, Some(("me@x".into(), "p:ss".into())));
        let s = url("smtp://mail.example").unwrap().unwrap();
        assert_eq!((s.port, s.tls), (587, TlsMode::StartTls));
        let s = url("smtp://127.0.0.1:2525?tls=none").unwrap().unwrap();
        assert_eq!((s.port, s.tls), (2525, TlsMode::None));
        for bad in [
            "smtp://mail.example?tls=none",
            "http://mail.example",
            "smtps://mail.example?tls=none",
            "smtp://:secret@mail.example",
            "not a url",
        ] {
            assert!(url(bad).is_err(), "{bad}");
        }
        assert!(resolve(Some(&SmtpUrl("smtp://m.example".into())), None).is_err());
        assert!(resolve(None, Some("a@b.example")).is_err());
        assert!(resolve(None, None).unwrap().is_none());
        assert!(
            resolve(
                Some(&SmtpUrl("smtp://m.example".into())),
                Some("not an address")
            )
            .is_err()
        );
    }

    #[test]
    fn passwords_never_print() {
        let s = url("smtps://me:hunter2@mail.example").unwrap().unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{:?}", SmtpUrl("smtps://me:hunter2@x".into())).contains("hunter2"));
    }
}
