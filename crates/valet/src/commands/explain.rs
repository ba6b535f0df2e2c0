//! `valet explain`: what a token is and why it is (not) live; why a request was refused.

use std::io::Read;
use valet_server::admin::Admin;

use super::{now, print_json};
use crate::cli::ExplainArgs;

pub(super) async fn explain(args: ExplainArgs, admin: &Admin, issuer: &str) -> Result<(), String> {
    let explained = match (&args.token, &args.request) {
        (_, Some(id)) => admin.explain_request(id).await,
        (Some(t), None) => {
            let token = if t == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .take(64 * 1024)
                    .read_to_string(&mut s)
                    .map_err(|e| format!("cannot read the token from standard input: {e}"))?;
                s
            } else {
                t.clone()
            };
            admin.explain_token(&token, issuer, now()).await
        }
        (None, None) => return Err("name a token, or --request ID".into()),
    }
    .map_err(|e| e.to_string())?;
    let v = explained.0;
    if args.json {
        return print_json(&v);
    }
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    out!(
        "{}: {}",
        s("state").unwrap_or_default(),
        s("reason").unwrap_or_default()
    );
    if args.request.is_some() {
        for (label, key) in [("error", "error"), ("route", "route"), ("method", "method")] {
            if let Some(x) = s(key) {
                out!("  {label:<12} {x}");
            }
        }
        if let Some(st) = v.get("status") {
            out!("  {:<12} {st}", "status");
        }
        if let Some(params) = v["sent"]["parameters"].as_object() {
            for (k, x) in params {
                out!("  sent {k:<7} {}", x.as_str().unwrap_or_default());
            }
        }
        if let Some(a) = s("address") {
            out!("  {:<12} {a}", "from");
        }
        return Ok(());
    }
    let kind = [s("kind"), s("format")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    if !kind.is_empty() {
        out!("  {:<12} {kind}", "token");
    }
    if let Some(k) = v.get("key").filter(|k| k.is_object()) {
        out!(
            "  {:<12} {} {} ({}), signature {}",
            "key",
            k["alg"].as_str().unwrap_or("?"),
            k["kid"].as_str().unwrap_or("?"),
            k["state"].as_str().unwrap_or("unknown"),
            s("signature").unwrap_or_else(|| "not checked".into())
        );
    }
    for (label, key) in [
        ("application", "application"),
        ("client_id", "client_id"),
        ("user", "user"),
        ("subject", "sub"),
        ("scope", "scope"),
    ] {
        if let Some(x) = s(key) {
            out!("  {label:<12} {x}");
        }
    }
    if let Some(aud) = v.get("aud").filter(|a| !a.is_null()) {
        out!("  {:<12} {aud}", "audience");
    }
    if let Some(g) = v["grant"]["id"].as_str() {
        let revoked = v["grant"]["revoked"].as_bool().unwrap_or(false);
        out!(
            "  {:<12} {g} ({})",
            "grant",
            if revoked { "revoked" } else { "standing" }
        );
    }
    Ok(())
}
