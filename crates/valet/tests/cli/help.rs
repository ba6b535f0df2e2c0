//! What `--help` tells an operator about the shared settings.

use crate::support::valet;

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
