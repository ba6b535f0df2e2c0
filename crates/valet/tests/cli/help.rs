//! What `--help` and the start of `serve` tell an operator about the shared settings.

use std::process::Stdio;

use crate::support::{stop, valet, wait_for_port};

/// Every command's help: its own options first, the shared settings after, under a
/// heading of their own.
#[test]
fn help_lists_a_commands_own_options_before_the_server_settings() {
    let dir = tempfile::tempdir().unwrap();
    for (args, own) in [
        (
            &["client", "create", "--help"][..],
            &["--name", "--profile", "--redirect-uri"][..],
        ),
        (
            &["user", "create", "--help"],
            &["--username", "--password-stdin"],
        ),
        (&["serve", "--help"], &["--help"]),
    ] {
        let out = valet(dir.path()).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8(out.stdout).unwrap();
        let heading = help
            .find("\nServer settings:\n")
            .unwrap_or_else(|| panic!("{args:?}: no settings heading in\n{help}"));
        let (mine, shared) = help.split_at(heading);
        for flag in own {
            assert!(
                mine.contains(&format!(" {flag}")),
                "{args:?}: {flag} before\n{help}"
            );
            assert!(
                !shared.contains(&format!(" {flag} ")),
                "{args:?}: {flag} after\n{help}"
            );
        }
        for flag in ["--database", "--issuer", "--listen", "--master-key-file"] {
            assert!(
                shared.contains(flag),
                "{args:?}: {flag} under the heading\n{help}"
            );
            assert!(
                !mine.contains(flag),
                "{args:?}: {flag} before the heading\n{help}"
            );
        }
        assert!(mine.contains("\nOptions:\n"), "{args:?}\n{help}");
    }
}

/// `--listen` elsewhere than 127.0.0.1:8080 with no issuer set: the issuer still says
/// http://localhost:8080, and the log says so; with `--issuer` it does not.
#[test]
fn listening_elsewhere_with_the_default_issuer_warns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (log, issuer) in [
        ("default.log", None),
        ("set.log", Some("http://127.0.0.1:9")),
    ] {
        let log_path = d.join(log);
        let mut serve = valet(d);
        serve.args(["serve", "--listen", "127.0.0.1:0"]);
        if let Some(issuer) = issuer {
            serve.args(["--issuer", issuer]);
        }
        let mut child = serve
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap();
        wait_for_port(&log_path);
        stop(&mut child);
        let text = std::fs::read_to_string(&log_path).unwrap();
        let warned = text.lines().any(|l| {
            l.contains("WARN")
                && l.contains("the issuer is still http://localhost:8080")
                && l.contains("--issuer")
        });
        assert_eq!(warned, issuer.is_none(), "{log}:\n{text}");
    }
}
