//! `valet api`: APIs (resource servers) and their scopes.

use serde_json::json;
use valet_protocol::audience::ApiScope;
// Human output escapes control and bidirectional characters, even in records stored
// before registration refused them (issue 12, item 16); `--json` output is JSON-escaped.
use valet_protocol::text::visible;
use valet_server::admin::Admin;
use valet_store::Store;

use super::{now, print_json};
use crate::cli::ApiCommand;

fn api_json(r: &valet_store::ApiRecord) -> serde_json::Value {
    json!({
        "name": r.name,
        "audience": r.api.audience,
        "scopes": r.api.scopes,
        "access_token_format": r.api.access_token_format,
        "introspectors": r.api.introspectors,
    })
}

pub(super) async fn api(cmd: ApiCommand, admin: &Admin, store: &dyn Store) -> Result<(), String> {
    match cmd {
        ApiCommand::Create {
            audience,
            scopes,
            name,
            access_token_format,
            introspectors,
            json,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| {
                    let (n, d) = s
                        .split_once('=')
                        .ok_or_else(|| format!("--scope `{s}` must look like NAME=DESCRIPTION"))?;
                    Ok(ApiScope {
                        name: n.trim().to_owned(),
                        description: d.trim().to_owned(),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let r = admin
                .create_api(
                    name,
                    audience,
                    scopes,
                    access_token_format,
                    introspectors,
                    now(),
                )
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&api_json(&r));
            }
            out!(
                "Created API {} ({} access tokens) with scopes: {}",
                r.api.audience,
                r.api.access_token_format,
                r.api
                    .scopes
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            if !r.api.introspectors.is_empty() {
                out!("Introspected by: {}", r.api.introspectors.join(" "));
            }
            Ok(())
        }
        ApiCommand::List { json } => {
            let apis = store.apis().await.map_err(|e| e.to_string())?;
            if json {
                let v: Vec<_> = apis.iter().map(api_json).collect();
                return print_json(&v);
            }
            for r in apis {
                out!(
                    "{} ({} access tokens)",
                    visible(&r.api.audience),
                    r.api.access_token_format
                );
                for s in r.api.scopes {
                    out!("  {:<24} {}", s.name, visible(&s.description));
                }
                if !r.api.introspectors.is_empty() {
                    out!("  introspected by: {}", r.api.introspectors.join(" "));
                }
            }
            Ok(())
        }
        ApiCommand::Delete { audience } => {
            if !store
                .delete_api(&audience)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("no API with audience {audience}"));
            }
            out!("Deleted API {audience}.");
            Ok(())
        }
    }
}
