//! The settings' resolution: defaults, layers and the errors that explain a bad value.

use super::*;

#[test]
fn defaults_work() {
    let s = Settings::resolve(Partial::default()).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.issuer, "http://localhost:8080");
    assert_eq!(s.database, Database::Sqlite("valet.db".into()));
    assert_eq!(s.master_key_file, PathBuf::from("valet.master-key"));
    assert_eq!(s.access_token_ttl, 600);
}

#[test]
fn unknown_file_keys_are_named() {
    let e = toml::from_str::<Partial>("listen = \"x\"\nlisten_port = 9").unwrap_err();
    assert!(e.to_string().contains("listen_port"), "{e}");
}

#[test]
fn loopback_metadata_is_off_unless_asked_and_the_test_ca_is_no_file_key() {
    assert!(
        !Settings::resolve(Partial::default())
            .unwrap()
            .dev_allow_loopback_metadata
    );
    let p = toml::from_str::<Partial>("dev_allow_loopback_metadata = true").unwrap();
    assert!(Settings::resolve(p).unwrap().dev_allow_loopback_metadata);
    let e = toml::from_str::<Partial>("metadata_ca_file = \"/x\"").unwrap_err();
    assert!(e.to_string().contains("metadata_ca_file"), "{e}");
}

#[test]
fn later_layers_win() {
    let file = Partial {
        issuer: Some("https://a.example".into()),
        cache_ttl: Some(3),
        ..Default::default()
    };
    let env = Partial {
        issuer: Some("https://b.example/".into()),
        ..Default::default()
    };
    let s = Settings::resolve(file.overlay(env)).unwrap();
    assert_eq!(s.issuer, "https://b.example");
    assert_eq!(s.cache_ttl, 3);
}

#[test]
fn bad_values_are_explained() {
    let d = Partial::default;
    let cases = [
        (
            Partial {
                issuer: Some("ftp://x".into()),
                ..d()
            },
            "issuer",
        ),
        (
            Partial {
                issuer: Some("https://x/?a".into()),
                ..d()
            },
            "query",
        ),
        (
            Partial {
                listen: Some("nope".into()),
                ..d()
            },
            "listen",
        ),
        (
            Partial {
                database: Some("mysql://x".into()),
                ..d()
            },
            "sqlite://",
        ),
        (
            Partial {
                tls_cert: Some("c".into()),
                ..d()
            },
            "tls_key",
        ),
        (
            Partial {
                key_activation_delay: Some(10),
                ..d()
            },
            "key_activation_delay",
        ),
        (
            Partial {
                access_token_ttl: Some(0),
                ..d()
            },
            "access_token_ttl",
        ),
    ];
    for (p, word) in cases {
        let e = Settings::resolve(p).unwrap_err();
        assert!(e.contains(word), "{e}");
    }
}

#[test]
fn sqlite_urls() {
    assert_eq!(
        parse_database("sqlite:///var/lib/v.db").unwrap(),
        Database::Sqlite("/var/lib/v.db".into())
    );
    assert_eq!(
        parse_database("sqlite:v.db?mode=rwc").unwrap(),
        Database::Sqlite("v.db".into())
    );
    // A mistyped scheme is refused without echoing the password.
    let e = parse_database("postgress://valet:hunter2@db/valet").unwrap_err();
    assert!(
        !e.contains("hunter2") && e.contains("postgress://…@db/valet"),
        "{e}"
    );
    assert_eq!(
        default_key_file(Path::new("/d/x.db")),
        PathBuf::from("/d/x.master-key")
    );
}

#[test]
fn self_registration_is_off_by_default_and_needs_mail() {
    assert!(
        !Settings::resolve(Partial::default())
            .unwrap()
            .self_registration
    );
    let e = Settings::resolve(toml::from_str::<Partial>("self_registration = true").unwrap())
        .unwrap_err();
    assert!(
        e.contains("self_registration") && e.contains("smtp_url"),
        "{e}"
    );
    let p = toml::from_str::<Partial>(
        "self_registration = true\nsmtp_url = \"smtp://127.0.0.1:2525?tls=none\"\n\
         mail_from = \"Valet <id@valet.test>\"",
    )
    .unwrap();
    assert!(Settings::resolve(p).unwrap().self_registration);
}

#[test]
fn self_registration_needs_a_database_store() {
    let mail = "self_registration = true\nsmtp_url = \"smtp://127.0.0.1:2525?tls=none\"\n\
                mail_from = \"Valet <id@valet.test>\"\n";
    let ldap_only = format!(
        "{mail}[[user_stores]]\nname = \"staff\"\ntype = \"ldap\"\n\
         url = \"ldaps://ldap.example.org\"\nbase_dn = \"dc=example,dc=org\"\n"
    );
    let e = Settings::resolve(toml::from_str::<Partial>(&ldap_only).unwrap()).unwrap_err();
    assert!(e.contains("user store of type database"), "{e}");
    let both = format!("{ldap_only}[[user_stores]]\nname = \"customers\"\ntype = \"database\"\n");
    assert!(Settings::resolve(toml::from_str::<Partial>(&both).unwrap()).is_ok());
}
