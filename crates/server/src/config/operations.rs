//! Settings for operating Valet (issue 21): where metrics are served and how often
//! signing keys rotate on their own.

use std::net::SocketAddr;

use super::Partial;

#[derive(Debug, Clone, Default)]
pub struct Operations {
    /// `metrics_listen`: the address `/metrics` is served on, apart from the public
    /// listener; off when unset.
    pub metrics_listen: Option<SocketAddr>,
    /// `key_rotation_interval`: a signing key older than this is rotated by the node that
    /// wins the store's lease; off when unset.
    pub key_rotation_interval: Option<i64>,
    /// `otlp_endpoint`: an OTLP/HTTP collector (`http://collector:4318`) that receives
    /// each request's span; off when unset.
    pub otlp_endpoint: Option<String>,
}

/// The shortest rotation interval: a key must outlive its activation delay and the
/// caches of everyone who fetched the JWKS before it signs.
pub const MIN_ROTATION_INTERVAL: i64 = 3600;

pub fn resolve(p: &Partial) -> Result<Operations, String> {
    let metrics_listen =
        match &p.metrics_listen {
            None => None,
            Some(t) if t.is_empty() => None,
            Some(t) => Some(t.parse().map_err(|_| {
                format!("metrics_listen: `{t}` is not an address like 127.0.0.1:9090")
            })?),
        };
    let key_rotation_interval = match p.key_rotation_interval.as_deref() {
        None | Some("" | "off") => None,
        Some(t) => {
            let secs = parse_duration(t).ok_or_else(|| {
                format!(
                    "key_rotation_interval: `{t}` is not a duration like 30d, 12h, 90m or 3600 (seconds)"
                )
            })?;
            if secs < MIN_ROTATION_INTERVAL {
                return Err(format!(
                    "key_rotation_interval: `{t}` is shorter than an hour; keys need time to be published before they sign"
                ));
            }
            Some(secs)
        }
    };
    let otlp_endpoint = match p.otlp_endpoint.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(u) => {
            let ok = url::Url::parse(u)
                .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
            if !ok {
                return Err(format!(
                    "otlp_endpoint: `{u}` is not an http(s) URL like http://127.0.0.1:4318"
                ));
            }
            // OTLP/HTTP's traces path is appended to a base URL (the OTLP exporter spec).
            let base = u.trim_end_matches('/');
            Some(if base.ends_with("/v1/traces") {
                base.to_owned()
            } else {
                format!("{base}/v1/traces")
            })
        }
    };
    Ok(Operations {
        metrics_listen,
        key_rotation_interval,
        otlp_endpoint,
    })
}

/// `30d`, `12h`, `90m`, `45s` or a number of seconds.
pub fn parse_duration(t: &str) -> Option<i64> {
    let t = t.trim();
    let (digits, unit) = match t.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&t[..i], c),
        _ => (t, 's'),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_operators_write_them() {
        assert_eq!(parse_duration("30d"), Some(30 * 86_400));
        assert_eq!(parse_duration("12h"), Some(43_200));
        assert_eq!(parse_duration("90m"), Some(5400));
        assert_eq!(parse_duration("3600"), Some(3600));
        assert_eq!(parse_duration("2w"), Some(14 * 86_400));
        for bad in ["", "d", "-1d", "1.5d", "10y", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_rotation_interval_under_an_hour_is_refused() {
        let p = Partial {
            key_rotation_interval: Some("10m".into()),
            ..Default::default()
        };
        assert!(resolve(&p).unwrap_err().contains("shorter than an hour"));
        let p = Partial {
            key_rotation_interval: Some("30d".into()),
            metrics_listen: Some("127.0.0.1:9464".into()),
            ..Default::default()
        };
        let o = resolve(&p).unwrap();
        assert_eq!(o.key_rotation_interval, Some(30 * 86_400));
        assert_eq!(o.metrics_listen.unwrap().port(), 9464);
        let p = Partial {
            otlp_endpoint: Some("http://127.0.0.1:4318/".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&p).unwrap().otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        let p = Partial {
            otlp_endpoint: Some("collector:4318".into()),
            ..Default::default()
        };
        assert!(resolve(&p).unwrap_err().contains("otlp_endpoint"));
    }
}
