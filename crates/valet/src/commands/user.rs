//! `valet user`: users of the built-in user store.

use serde_json::json;
// Human output escapes control and bidirectional characters, even in records stored
// before registration refused them (issue 12, item 16); `--json` output is JSON-escaped.
use valet_protocol::text::visible;
use valet_protocol::user::UserClaims;
use valet_server::admin::{Admin, NewUser};

use super::{now, print_json};
use crate::cli::UserCommand;

fn user_json(u: &valet_store::UserRecord) -> serde_json::Value {
    let mut v = json!({ "sub": u.id, "username": u.username, "disabled": u.disabled });
    if let (Some(obj), Ok(serde_json::Value::Object(claims))) =
        (v.as_object_mut(), serde_json::to_value(&u.claims))
    {
        obj.extend(claims);
    }
    v
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
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
            let password = line.trim_end_matches(['\r', '\n']).to_owned();
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
                    "{:<24} {:<24} {}",
                    u.id,
                    visible(&u.username),
                    visible(u.claims.email.as_deref().unwrap_or(""))
                );
            }
            Ok(())
        }
        UserCommand::Delete { username } => {
            admin
                .delete_user(&username)
                .await
                .map_err(|e| e.to_string())?;
            out!("Deleted user {username}.");
            Ok(())
        }
    }
}
