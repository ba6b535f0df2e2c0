//! `valet upstream`: identity providers, a thin face over `Admin`.

use std::collections::BTreeMap;
use valet_protocol::text::visible;
use valet_server::admin::{Admin, NewUpstream, UpstreamChanges, UpstreamView};

use super::{now, print_json};
use crate::cli::UpstreamCommand;

fn read_secret() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the client secret from standard input: {e}"))?;
    let s = line.trim_end_matches(['\r', '\n']).to_owned();
    if s.is_empty() {
        return Err("the client secret on standard input is empty".into());
    }
    Ok(s)
}

fn claims(pairs: &[String]) -> Result<Option<BTreeMap<String, String>>, String> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut out = BTreeMap::new();
    for p in pairs {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("--claim `{p}` must look like CLAIM=NAME (sub=id)"))?;
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(Some(out))
}

fn scopes(s: Option<String>) -> Option<Vec<String>> {
    s.map(|s| s.split_whitespace().map(str::to_owned).collect())
}

fn show(u: &UpstreamView) {
    let at = u
        .issuer
        .clone()
        .or_else(|| u.authorization_endpoint.clone())
        .unwrap_or_default();
    out!(
        "{}  {}  ({}, {})  {}{}",
        visible(&u.id),
        visible(&u.name),
        u.source,
        u.users,
        visible(&at),
        if u.domains.is_empty() {
            String::new()
        } else {
            format!("  domains: {}", u.domains.join(", "))
        }
    );
}

pub(super) async fn upstream(
    cmd: UpstreamCommand,
    admin: &Admin,
    valet_issuer: &str,
) -> Result<(), String> {
    match cmd {
        UpstreamCommand::Create {
            id,
            name,
            issuer,
            authorization_endpoint,
            token_endpoint,
            userinfo_endpoint,
            client_id,
            client_secret_stdin: _,
            auth_method,
            scopes: s,
            claims: c,
            domains,
            users,
            link_by_verified_email,
            keep_refresh_token,
            trust_mfa,
            json,
        } => {
            let new = NewUpstream {
                id,
                name,
                issuer,
                authorization_endpoint,
                token_endpoint,
                userinfo_endpoint,
                client_id,
                client_secret: read_secret()?,
                auth_method,
                scopes: scopes(s),
                claims: claims(&c)?,
                domains: (!domains.is_empty()).then_some(domains),
                users,
                link_by_verified_email: Some(link_by_verified_email),
                keep_refresh_token: Some(keep_refresh_token),
                trust_mfa: Some(trust_mfa),
                timeout: None,
            };
            let u = admin
                .create_upstream(new, now())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&u);
            }
            out!(
                "Added {}. Register this redirect URI at the provider: {}/login/upstream/{}/callback",
                visible(&u.name),
                valet_issuer.trim_end_matches('/'),
                u.id
            );
            Ok(())
        }
        UpstreamCommand::List { json } => {
            let all = admin.upstreams().await.map_err(|e| e.to_string())?;
            if json {
                return print_json(&all);
            }
            if all.is_empty() {
                out!(
                    "No identity providers. Add one with: valet upstream create --id ID --name NAME --issuer URL --client-id ID --client-secret-stdin"
                );
            }
            for u in &all {
                show(u);
            }
            Ok(())
        }
        UpstreamCommand::Show { id, json } => {
            let u = admin.upstream(&id).await.map_err(|e| e.to_string())?;
            if json {
                return print_json(&u);
            }
            show(&u);
            Ok(())
        }
        UpstreamCommand::Update {
            id,
            name,
            issuer,
            client_id,
            client_secret_stdin,
            scopes: s,
            domains,
            users,
            link_by_verified_email,
            json,
        } => {
            let ch = UpstreamChanges {
                name,
                issuer,
                client_id,
                client_secret: if client_secret_stdin {
                    Some(read_secret()?)
                } else {
                    None
                },
                scopes: scopes(s),
                domains: (!domains.is_empty()).then_some(domains),
                users,
                link_by_verified_email,
                ..Default::default()
            };
            let u = admin
                .update_upstream(&id, ch, now())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&u);
            }
            out!("Changed {}.", visible(&u.name));
            Ok(())
        }
        UpstreamCommand::Delete { id } => {
            admin
                .delete_upstream(&id, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("Removed {}. Its users stay.", visible(&id));
            Ok(())
        }
    }
}
