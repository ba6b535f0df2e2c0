//! `valet user`: users of the built-in user store.

// Human output escapes control and bidirectional characters, even in records stored
// before registration refused them (issue 12, item 16); `--json` output is JSON-escaped.
use valet_protocol::text::visible;
use valet_protocol::user::{Role, UserClaims};
use valet_server::admin::{Admin, NewUser, UserChanges, UserView};

use super::{now, print_json};
use crate::cli::{MfaCommand, UserCommand};

fn user_json(u: &valet_store::UserRecord) -> serde_json::Value {
    serde_json::to_value(UserView::from(u)).unwrap_or_default()
}

fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

pub(super) async fn user(cmd: UserCommand, admin: &Admin) -> Result<(), String> {
    match cmd {
        UserCommand::Create {
            username,
            email,
            email_verified,
            name,
            given_name,
            family_name,
            password_stdin: _,
            json,
        } => {
            let password = read_password()?;
            let claims = UserClaims {
                name,
                given_name,
                family_name,
                email,
                email_verified,
                ..Default::default()
            };
            let u = admin
                .create_user(
                    NewUser {
                        username,
                        password,
                        claims,
                    },
                    now(),
                )
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&user_json(&u));
            }
            out!("Created user {} (sub {})", visible(&u.username), u.id);
            Ok(())
        }
        UserCommand::List { json } => {
            let users = admin.users().await.map_err(|e| e.to_string())?;
            if json {
                return print_json(&users.iter().map(user_json).collect::<Vec<_>>());
            }
            if users.is_empty() {
                out!(
                    "No users yet. Add one with: valet user create --username NAME --password-stdin"
                );
            }
            for u in users {
                out!(
                    "{:<24} {:<24} {}{}",
                    u.id,
                    visible(&u.username),
                    visible(u.claims.email.as_deref().unwrap_or("")),
                    if u.pending_until.is_some() {
                        " (pending)"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        UserCommand::Show { username, json } => {
            let u = admin.user(&username).await.map_err(|e| e.to_string())?;
            if json {
                return print_json(&user_json(&u));
            }
            out!("username:       {}", visible(&u.username));
            out!("sub:            {}", u.id);
            if let Some(n) = &u.claims.name {
                out!("name:           {}", visible(n));
            }
            if let Some(e) = &u.claims.email {
                let verified = if u.claims.email_verified {
                    "verified"
                } else {
                    "not verified"
                };
                out!("email:          {} ({verified})", visible(e));
            }
            out!("role:           {}", u.role);
            out!("disabled:       {}", u.disabled);
            if let Some(until) = u.pending_until {
                // Signed up (issue 16), address not confirmed: no sign-in yet.
                out!("pending:        until {until} (email not confirmed; deleted then)");
            }
            out!(
                "password:       {}",
                if u.password_hash.is_some() {
                    "set"
                } else {
                    "none"
                }
            );
            Ok(())
        }
        UserCommand::Update {
            username,
            rename,
            email,
            email_verified,
            name,
            given_name,
            family_name,
            role,
            json,
        } => {
            let role = role
                .map(|r| {
                    Role::parse(&r).ok_or(format!("--role must be admin, viewer or none, not {r}"))
                })
                .transpose()?;
            let ch = UserChanges {
                username: rename,
                name,
                given_name,
                family_name,
                email,
                email_verified,
                role,
                disabled: None,
            };
            let u = admin
                .update_user(&username, ch, None, now())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&user_json(&u));
            }
            out!("Updated user {} (role {}).", visible(&u.username), u.role);
            Ok(())
        }
        UserCommand::Disable { username } => {
            admin
                .set_disabled(&username, true, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("Disabled {username}: their sessions, grants and tokens have ended.");
            Ok(())
        }
        UserCommand::Enable { username } => {
            admin
                .set_disabled(&username, false, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("Enabled {username}: they can sign in again.");
            Ok(())
        }
        UserCommand::SetPassword { username, .. } => {
            let password = read_password()?;
            admin
                .set_password(&username, &password, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("New password set for {username}; their sessions and grants have ended.");
            Ok(())
        }
        UserCommand::Mfa {
            command:
                MfaCommand::Reset {
                    username,
                    user,
                    sub,
                },
        } => {
            let (removed, username) = match sub {
                Some(sub) => (admin.reset_mfa_of_subject(&sub, now()).await, sub),
                None => {
                    let username = username.or(user).unwrap_or_default();
                    (admin.reset_mfa(&username, now()).await, username)
                }
            };
            let removed = removed.map_err(|e| e.to_string())?;
            if removed {
                out!(
                    "Removed the second factors (authenticator app, recovery codes, passkeys) of {username}."
                );
            } else {
                out!("{username} had no second factor; nothing to remove.");
            }
            Ok(())
        }
        UserCommand::Revoke { username } => {
            let n = admin
                .revoke_user(&username, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("Signed {username} out everywhere and revoked {n} grant(s).");
            Ok(())
        }
        UserCommand::Sessions { username, json } => {
            let sessions = admin
                .sessions(&username, now())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&sessions);
            }
            if sessions.is_empty() {
                out!("{username} has no live session.");
            }
            for s in sessions {
                out!(
                    "signed in {}, expires {}",
                    super::keys::fmt_time(s.auth_time, now()),
                    super::keys::fmt_time(s.expires_at, now())
                );
            }
            Ok(())
        }
        UserCommand::Delete { username } => {
            admin
                .delete_user(&username, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("Deleted user {username}; their sessions, grants and tokens have ended.");
            Ok(())
        }
    }
}
