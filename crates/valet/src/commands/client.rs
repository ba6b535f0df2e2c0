//! `valet client`: register, list, show, verify, approve, delete applications.

use valet_protocol::application::{Application, Origin, Registration};
// Human output escapes control and bidirectional characters, even in records stored
// before registration refused them (issue 12, item 16); `--json` output is JSON-escaped.
use valet_protocol::text::visible;
use valet_server::admin::{Admin, ClientChanges, NewClient, WithSecret};
use valet_server::config::Settings;

use super::{now, print_json};
use crate::cli::ClientCommand;

fn parse_list<T: std::str::FromStr<Err = String>>(
    items: &[String],
) -> Result<Option<Vec<T>>, String> {
    if items.is_empty() {
        return Ok(None);
    }
    items
        .iter()
        .map(|s| s.parse())
        .collect::<Result<Vec<T>, String>>()
        .map(Some)
}

pub(super) async fn client(
    cmd: ClientCommand,
    admin: &Admin,
    settings: &Settings,
) -> Result<(), String> {
    match cmd {
        ClientCommand::Create {
            name,
            profile,
            redirect_uris,
            scopes,
            grants,
            trusted,
            auth_method,
            service_user,
            description,
            website,
            logo_uri,
            policy_uri,
            post_logout_redirect_uris,
            allow_plain_pkce,
            require_pkce,
            require_mfa,
            id_token_on_refresh,
            cors_origins,
            access_token_format,
            access_token_lifetime,
            refresh_token_lifetime,
            backchannel_logout_uri,
            jwks_file,
            jwks_uri,
            require_par,
            require_dpop,
            id_token_alg,
            subject_type,
            json,
        } => {
            let profile: valet_protocol::application::Profile = match profile {
                Some(p) => p.parse()?,
                None => advise(json)?,
            };
            // `--grant` adds to the profile's grants (the contract of issue 13).
            let grant_types = parse_list(&grants)?.map(|added| {
                let mut all = profile.default_grant_types();
                for g in added {
                    if !all.contains(&g) {
                        all.push(g);
                    }
                }
                all
            });
            let new = NewClient {
                access_token_format,
                access_token_ttl: access_token_lifetime,
                refresh_token_ttl: refresh_token_lifetime,
                backchannel_logout_uri,
                backchannel_logout_session_required: false,
                post_logout_redirect_uris,
                allow_plain_pkce,
                require_pkce,
                require_mfa,
                id_token_on_refresh: Some(id_token_on_refresh),
                cors_origins,
                name,
                profile: Some(profile),
                redirect_uris,
                scopes: if scopes.is_empty() {
                    None
                } else {
                    Some(
                        scopes
                            .iter()
                            .flat_map(|s| s.split(' '))
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    )
                },
                grant_types,
                token_endpoint_auth_method: auth_method.map(|m| m.parse()).transpose()?,
                trusted,
                description,
                website,
                logo_uri,
                policy_uri,
                service_subject: service_user,
                jwks: jwks_file.as_deref().map(read_jwks).transpose()?,
                jwks_uri,
                require_par,
                require_dpop,
                id_token_alg: id_token_alg.map(|a| a.parse()).transpose()?,
                subject_type: subject_type.parse()?,
            };
            let created = admin
                .create_client(new, now())
                .await
                .map_err(|e| e.to_string())?;
            show_created(&created, json, "Created")
        }
        ClientCommand::List { origin, json } => {
            let origin = match origin.as_deref() {
                None => None,
                Some(o) => Some(Origin::parse(o).ok_or("--origin must be admin, dynamic or cimd")?),
            };
            let apps = admin
                .list_by_origin(origin)
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&apps.iter().map(listed_json).collect::<Vec<_>>());
            }
            if apps.is_empty() {
                out!(
                    "No applications yet. Create one with: valet client create --name NAME --profile service"
                );
            }
            for a in apps {
                out!(
                    "{:<24} {:<8} {:<8} {:<24} {}",
                    visible(&a.client_id),
                    a.profile,
                    a.registration.origin.as_str(),
                    standing(&a.registration),
                    visible(&a.name)
                );
            }
            Ok(())
        }
        ClientCommand::Update {
            client_id,
            name,
            add_redirect_uris,
            remove_redirect_uris,
            redirect_uris,
            scopes,
            grants,
            trusted,
            auth_method,
            access_token_format,
            description,
            website,
            logo_uri,
            policy_uri,
            post_logout_redirect_uris,
            cors_origins,
            require_pkce,
            require_mfa,
            id_token_on_refresh,
            allow_plain_pkce,
            access_token_lifetime,
            refresh_token_lifetime,
            backchannel_logout_uri,
            jwks_file,
            jwks_uri,
            require_par,
            require_dpop,
            id_token_alg,
            subject_type,
            json,
        } => {
            let some = |v: Vec<String>| (!v.is_empty()).then_some(v);
            let ch = ClientChanges {
                name,
                redirect_uris: some(redirect_uris),
                add_redirect_uris: some(add_redirect_uris),
                remove_redirect_uris: some(remove_redirect_uris),
                scopes: some(
                    scopes
                        .iter()
                        .flat_map(|s| s.split(' '))
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                ),
                grant_types: parse_list(&grants)?,
                trusted,
                token_endpoint_auth_method: auth_method.map(|m| m.parse()).transpose()?,
                access_token_format,
                description,
                website,
                logo_uri,
                policy_uri,
                post_logout_redirect_uris: some(post_logout_redirect_uris),
                cors_origins: some(cors_origins),
                require_pkce,
                require_mfa,
                id_token_on_refresh,
                allow_plain_pkce,
                service_subject: None,
                access_token_ttl: access_token_lifetime,
                refresh_token_ttl: refresh_token_lifetime,
                backchannel_logout_uri,
                backchannel_logout_session_required: None,
                jwks: jwks_file.as_deref().map(read_jwks).transpose()?,
                jwks_uri,
                require_par,
                require_dpop,
                id_token_alg: id_token_alg.map(|a| a.parse()).transpose()?,
                subject_type: subject_type.map(|t| t.parse()).transpose()?,
            };
            let app = admin
                .update_client(&client_id, ch, None, now())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&app);
            }
            out!(
                "Updated {} (\"{}\"); running servers see it within cache_ttl.",
                app.client_id,
                visible(&app.name)
            );
            Ok(())
        }
        ClientCommand::Show { client_id, json } => {
            let c = admin.get(&client_id).await.map_err(|e| e.to_string())?;
            if json {
                return print_json(&c.app);
            }
            let a = &c.app;
            out!("client_id:     {}", a.client_id);
            out!("name:          {}", visible(&a.name));
            if let Some(d) = &a.description {
                out!("description:   {}", visible(d));
            }
            out!("profile:       {}", a.profile);
            let methods: Vec<&str> = a
                .accepted_auth_methods()
                .iter()
                .map(|m| m.as_str())
                .collect();
            out!(
                "auth method:   {}{}",
                methods.join(" or "),
                match (a.is_confidential(), a.token_endpoint_auth_method_chosen) {
                    (false, _) => "",
                    (true, true) => " (chosen at registration)",
                    (true, false) => " (none chosen at registration)",
                }
            );
            out!(
                "grant types:   {}",
                a.grant_types
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            out!("scopes:        {}", a.scopes.join(" "));
            out!("redirect URIs: {}", visible(&a.redirect_uris.join(" ")));
            let keys = &a.assurance;
            if let Some(uri) = &keys.jwks_uri {
                out!("keys:          {}", visible(uri));
            } else if let Some(jwks) = &keys.jwks {
                let n = jwks["keys"].as_array().map_or(0, Vec::len);
                out!("keys:          {n} registered public key(s)");
            }
            if a.requires_par() {
                out!("pushed requests: required (RFC 9126)");
            }
            if a.requires_dpop() {
                out!("DPoP:          required (RFC 9449)");
            }
            out!("ID tokens:     {}", keys.id_token_alg);
            out!("subject type:  {}", keys.subject_type);
            if !a.post_logout_redirect_uris.is_empty() {
                out!(
                    "after logout:  {}",
                    visible(&a.post_logout_redirect_uris.join(" "))
                );
            }
            out!("trusted:       {}", a.trusted);
            if a.grant_types
                .contains(&valet_protocol::application::GrantType::RefreshToken)
            {
                out!(
                    "on refresh:    {}",
                    if a.id_token_on_refresh {
                        "a new ID token (with openid)"
                    } else {
                        "no ID token"
                    }
                );
            }
            if let Some(u) = &a.backchannel_logout_uri {
                out!("back-channel:  {}", visible(u));
            }
            out!("access tokens: {}", a.access_token_format);
            let life = |own: Option<i64>, server: i64| match own {
                Some(t) if t < server => format!("{t}s"),
                _ => format!("{server}s (the server's)"),
            };
            out!(
                "lifetimes:     access {}, refresh {}",
                life(a.access_token_ttl, settings.access_token_ttl),
                life(a.refresh_token_ttl, settings.refresh_token_ttl)
            );
            if let Some(s) = &a.service_subject {
                out!("acts as user:  {}", visible(s));
            }
            Ok(())
        }
        ClientCommand::Verify { client_id } => {
            admin
                .verify_client(&client_id, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("{client_id} is verified: its consent page no longer warns about it.");
            Ok(())
        }
        ClientCommand::Quarantine { client_id } => {
            admin
                .quarantine_client(&client_id, now())
                .await
                .map_err(|e| e.to_string())?;
            out!(
                "{client_id} is in quarantine: it may not sign users in nor get tokens until `valet client approve`."
            );
            Ok(())
        }
        ClientCommand::Approve { client_id } => {
            let keep = settings.registration.unused_ttl;
            admin
                .approve_client(&client_id, keep, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("{client_id} is approved: it may sign users in and get tokens.");
            Ok(())
        }
        ClientCommand::RevokeGrants { client_id } => {
            let n = admin
                .revoke_grants(&client_id, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("Revoked {n} grant(s) of {client_id}; its users will be asked to consent again.");
            Ok(())
        }
        ClientCommand::Delete { client_id } => {
            admin
                .delete_client(&client_id, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("Deleted {client_id}.");
            Ok(())
        }
        ClientCommand::RotateSecret {
            client_id,
            grace,
            json,
        } => {
            let rotated = admin
                .rotate_secret(&client_id, grace, now())
                .await
                .map_err(|e| e.to_string())?;
            show_created(&rotated, json, "New secret for")
        }
    }
}

/// What an admin has said of an application, for `client list`: "-" for one an admin
/// registered.
fn standing(r: &Registration) -> &'static str {
    match (r.is_self_registered(), r.verified, r.quarantined) {
        (false, _, _) => "-",
        (true, false, false) => "not verified",
        (true, true, false) => "verified",
        (true, false, true) => "not verified, quarantined",
        (true, true, true) => "verified, quarantined",
    }
}

/// An application in `client list --json`: its registration, with where it came from and
/// what an admin said of it as members of their own (for every origin).
fn listed_json(a: &Application) -> serde_json::Value {
    let mut v = serde_json::to_value(a).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("origin".into(), a.registration.origin.as_str().into());
        obj.insert("verified".into(), a.registration.verified.into());
        obj.insert("quarantined".into(), a.registration.quarantined.into());
    }
    v
}

fn show_created(c: &WithSecret, json: bool, verb: &str) -> Result<(), String> {
    if json {
        return print_json(c);
    }
    out!("{verb} \"{}\" ({})", visible(&c.app.name), c.app.profile);
    out!("  client_id:     {}", c.app.client_id);
    if let Some(secret) = &c.client_secret {
        out!("  client_secret: {}", secret.expose());
        out!("Store the secret now: Valet keeps only a keyed hash and cannot show it again.");
    }
    Ok(())
}

/// A JWK Set file: JSON, bounded (the registration checks what it holds).
fn read_jwks(path: &std::path::Path) -> Result<serde_json::Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() > valet_protocol::assurance::MAX_JWKS_BYTES {
        return Err(format!(
            "{} is larger than a JWK Set may be",
            path.display()
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "{} is not JSON (a JWK Set: {{\"keys\": [...]}}): {e}",
            path.display()
        )
    })
}

/// `client create` without `--profile` (issue 21's flow advisor): the profiles explained;
/// on a terminal (and without `--json`), a few questions about the application and the
/// profile they lead to, confirmed before anything is created.
fn advise(json: bool) -> Result<valet_protocol::application::Profile, String> {
    use std::io::{BufRead, IsTerminal, Write};
    use valet_protocol::advisor::{Answers, PROFILES, recommend};
    let mut list = String::from("--profile is needed; the profiles are:\n");
    for (name, what) in PROFILES {
        list.push_str(&format!("  {name:<8} {what}\n"));
    }
    let interactive = !json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !interactive {
        return Err(format!(
            "{list}Name one with --profile (run without --json on a terminal to be asked about the application)."
        ));
    }
    let _ = write!(
        std::io::stderr(),
        "{list}\nA few questions about the application instead:\n"
    );
    let stdin = std::io::stdin();
    let ask = |q: &str, default: Option<bool>| -> Result<bool, String> {
        loop {
            let hint = match default {
                Some(true) => "[Y/n]",
                Some(false) => "[y/N]",
                None => "[y/n]",
            };
            let mut err = std::io::stderr();
            let _ = write!(err, "{q} {hint} ");
            let _ = err.flush();
            let mut line = String::new();
            if stdin
                .lock()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?
                == 0
            {
                return Err("no answer (standard input closed); name a --profile".into());
            }
            match (line.trim().to_ascii_lowercase().as_str(), default) {
                ("y" | "yes", _) => return Ok(true),
                ("n" | "no", _) => return Ok(false),
                ("", Some(d)) => return Ok(d),
                _ => {}
            }
        }
    };
    let user = ask("Does a person sign in to it?", None)?;
    let mut a = Answers {
        user,
        browser_on_device: true,
        back_end: false,
        in_browser: false,
        high_assurance: false,
    };
    if user {
        a.browser_on_device = ask(
            "Can it open a web browser, with a keyboard, on the device it runs on (no for a TV or a CLI over SSH)?",
            Some(true),
        )?;
        if a.browser_on_device {
            a.back_end = ask(
                "Does it have a back end (server-side code) that can keep a secret?",
                None,
            )?;
            if a.back_end {
                a.high_assurance = ask(
                    "Does it handle money, health or other high-risk data (FAPI 2.0)?",
                    Some(false),
                )?;
            } else {
                a.in_browser = ask("Does it run in a web browser (a single-page app)?", None)?;
            }
        }
    }
    let (profile, why) = recommend(a);
    let name = serde_json::to_value(profile)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let _ = writeln!(std::io::stderr(), "\nRecommended: --profile {name}: {why}.");
    if !ask("Create it with this profile?", Some(true))? {
        return Err("nothing created".into());
    }
    Ok(profile)
}
