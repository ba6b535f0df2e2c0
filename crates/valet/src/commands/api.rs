//! `valet api`: APIs (resource servers) and their scopes.

use serde_json::json;
use valet_protocol::audience::{ApiScope, ExchangeRule};
// Human output escapes control and bidirectional characters, even in records stored
// before registration refused them (issue 12, item 16); `--json` output is JSON-escaped.
use valet_protocol::text::visible;
use valet_server::admin::{Admin, ApiChanges, ApiView, NewApi, etag};

use super::{now, print_json};
use crate::cli::{ApiCommand, ApiScopeCommand};

fn api_json(r: &valet_store::ApiRecord) -> serde_json::Value {
    json!({
        "name": r.name,
        "audience": r.api.audience,
        "scopes": r.api.scopes,
        "access_token_format": r.api.access_token_format,
        "introspectors": r.api.introspectors,
        "token_exchange": r.api.token_exchange,
    })
}

fn parse_rules(texts: &[String]) -> Result<Vec<ExchangeRule>, String> {
    texts
        .iter()
        .map(|t| ExchangeRule::parse(t).map_err(|e| format!("--allow-exchange-from {e}")))
        .collect()
}

/// `exchanged into by: agent (contacts.read) svc (any scope)`.
fn rules_line(rules: &[ExchangeRule]) -> String {
    rules
        .iter()
        .map(|r| {
            let scopes = if r.scopes.is_empty() {
                "any scope".to_owned()
            } else {
                r.scopes.join(" ")
            };
            format!("{} ({scopes})", visible(&r.client_id))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `NAME=DESCRIPTION`.
fn parse_scope(s: &str) -> Result<ApiScope, String> {
    let (n, d) = s
        .split_once('=')
        .ok_or_else(|| format!("scope `{s}` must look like NAME=DESCRIPTION"))?;
    Ok(ApiScope {
        name: n.trim().to_owned(),
        description: d.trim().to_owned(),
    })
}

pub(super) async fn api(cmd: ApiCommand, admin: &Admin) -> Result<(), String> {
    match cmd {
        ApiCommand::Create {
            audience,
            scopes,
            name,
            access_token_format,
            introspectors,
            exchange_from,
            json,
        } => {
            let token_exchange = parse_rules(&exchange_from)?;
            let scopes = scopes
                .iter()
                .map(|s| parse_scope(s))
                .collect::<Result<Vec<_>, String>>()?;
            let new = NewApi {
                name,
                audience,
                scopes,
                access_token_format,
                introspectors,
                token_exchange,
            };
            let r = admin
                .create_api(new, now())
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
            if !r.api.token_exchange.is_empty() {
                out!("Exchanged into by: {}", rules_line(&r.api.token_exchange));
            }
            Ok(())
        }
        ApiCommand::List { json } => {
            let apis = admin.apis().await.map_err(|e| e.to_string())?;
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
                if !r.api.token_exchange.is_empty() {
                    out!("  exchanged into by: {}", rules_line(&r.api.token_exchange));
                }
            }
            Ok(())
        }
        ApiCommand::Update {
            audience,
            name,
            access_token_format,
            introspectors,
            no_introspectors,
            exchange_from,
            exchange_deny,
            no_exchange,
            describe,
            json,
        } => {
            // Additive: the current policy with these rules laid on, sent back only if
            // nobody changed the API meanwhile (its ETag).
            let mut if_match = None;
            let token_exchange = if no_exchange {
                Some(vec![])
            } else if exchange_from.is_empty() && exchange_deny.is_empty() {
                None
            } else {
                let current = admin.api(&audience).await.map_err(|e| e.to_string())?;
                if_match = Some(etag(&ApiView::from(current.clone())));
                let mut rules = current.api.token_exchange;
                rules.retain(|r| !exchange_deny.contains(&r.client_id));
                for rule in parse_rules(&exchange_from)? {
                    rules.retain(|r| r.client_id != rule.client_id);
                    rules.push(rule);
                }
                Some(rules)
            };
            let mut descriptions = std::collections::BTreeMap::new();
            for d in &describe {
                let s = parse_scope(d)?;
                descriptions.insert(s.name, s.description);
            }
            let ch = ApiChanges {
                name,
                access_token_format,
                introspectors: if no_introspectors {
                    Some(vec![])
                } else {
                    (!introspectors.is_empty()).then_some(introspectors)
                },
                token_exchange,
                scope_descriptions: (!descriptions.is_empty()).then_some(descriptions),
            };
            let r = admin
                .update_api(&audience, ch, if_match.as_deref(), now())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&api_json(&r));
            }
            out!("Updated API {}.", visible(&r.api.audience));
            Ok(())
        }
        ApiCommand::Scope(ApiScopeCommand::Add { audience, scope }) => {
            let s = parse_scope(&scope)?;
            let name = s.name.clone();
            admin
                .add_api_scope(&audience, s, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("Added scope {name} to {audience}.");
            Ok(())
        }
        ApiCommand::Scope(ApiScopeCommand::Remove {
            audience,
            name,
            force,
        }) => {
            admin
                .remove_api_scope(&audience, &name, force, now())
                .await
                .map_err(|e| e.to_string())?;
            out!(
                "Removed scope {name} from {audience}; tokens already issued with it keep it until they expire."
            );
            Ok(())
        }
        ApiCommand::Delete { audience } => {
            admin
                .delete_api(&audience, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("Deleted API {audience}.");
            Ok(())
        }
    }
}
