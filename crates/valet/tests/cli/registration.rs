//! Issue 12: what the admin commands accept and show (items 11, 16, 18).

use serde_json::Value;

use crate::support::{run, valet};

fn created(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn client_show_says_which_methods_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = [
        "client",
        "create",
        "--name",
        "svc",
        "--profile",
        "service",
        "--json",
    ];
    let default = created(&run(d, &base));
    assert_eq!(default["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(default["token_endpoint_auth_method_chosen"], false);
    let mut args = base.to_vec();
    args.extend(["--auth-method", "client_secret_basic"]);
    let chosen = created(&run(d, &args));
    assert_eq!(chosen["token_endpoint_auth_method_chosen"], true);

    let show = |id: &Value| {
        let out = run(d, &["client", "show", id.as_str().unwrap()]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = show(&default["client_id"]);
    assert!(
        text.contains("client_secret_basic or client_secret_post (none chosen at registration)"),
        "{text}"
    );
    let text = show(&chosen["client_id"]);
    assert!(
        text.contains("auth method:   client_secret_basic (chosen at registration)"),
        "{text}"
    );
    let out = valet(d)
        .args(["client", "create", "--name", "x", "--profile", "service"])
        .args(["--auth-method", "client_secret_jwt"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
