//! `valet grants` and `valet audit`.

use valet_protocol::text::visible;
use valet_server::admin::{Admin, audit_json};
use valet_store::AuditQuery;

use super::keys::fmt_time;
use super::{now, print_json};
use crate::cli::{AuditArgs, GrantsCommand};

pub(super) async fn grants(cmd: GrantsCommand, admin: &Admin) -> Result<(), String> {
    match cmd {
        GrantsCommand::List {
            username,
            client_id,
            limit,
            json,
        } => {
            let grants = admin
                .grants(
                    username.as_deref(),
                    client_id.as_deref(),
                    None,
                    limit,
                    now(),
                )
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&grants);
            }
            if grants.is_empty() {
                out!("No live grants.");
            }
            for g in grants {
                out!(
                    "{}  {:<24} {:<24} {}  (expires {})",
                    g.grant_id,
                    visible(&g.client_id),
                    g.sub,
                    visible(&g.scope),
                    fmt_time(g.expires_at, now())
                );
            }
            Ok(())
        }
        GrantsCommand::Revoke { grant_id } => {
            admin
                .revoke_grant(&grant_id, now())
                .await
                .map_err(|e| e.to_string())?;
            out!(
                "Revoked grant {grant_id}: its refresh tokens stop working and its access tokens read inactive."
            );
            Ok(())
        }
    }
}

pub(super) async fn audit(args: AuditArgs, admin: &Admin) -> Result<(), String> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let query = AuditQuery {
        since,
        actor: args.actor,
        action: args.action,
        target: args.target,
        request_id: args.request_id,
        limit: args.limit,
        ..Default::default()
    };
    let events = admin.audit(query).await.map_err(|e| e.to_string())?;
    for e in &events {
        if args.json {
            out!("{}", audit_json(e));
        } else {
            out!(
                "{}  {:<28} {:<24} {}  {}",
                fmt_time(e.at, now()),
                visible(&e.action),
                visible(&e.actor),
                visible(&e.target),
                visible(&e.changes)
            );
        }
    }
    if events.is_empty() && !args.json {
        out!("No events.");
    }
    Ok(())
}

/// `30m`, `24h`, `7d` back from now, or a Unix time.
fn parse_since(s: &str) -> Result<i64, String> {
    let bad = || format!("--since `{s}`: give a duration (30m, 24h, 7d) or a Unix time");
    if let Ok(t) = s.parse::<i64>() {
        return Ok(t);
    }
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    Ok(now() - secs)
}
