//! `[[user_stores]]` as written in TOML: what is accepted and how mistakes are named.

use super::*;

fn parse(text: &str) -> Result<Vec<StoreSettings>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        user_stores: Vec<UserStoreConfig>,
    }
    let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
    resolve(Some(f.user_stores))
}

const GOOD: &str = r#"
    [[user_stores]]
    name = "staff"
    type = "ldap"
    url = "ldaps://ldap.example.org"
    base_dn = "ou=people,dc=example,dc=org"
    bind_dn = "cn=valet,dc=example,dc=org"
    bind_password_env = "LDAP_PASSWORD"
    login_pattern = '[a-z]+'
    [user_stores.claims]
    phone_number = "telephoneNumber"
    family_name = ""

    [[user_stores]]
    name = "customers"
    type = "database"
"#;

#[test]
fn a_directory_then_the_database() {
    let s = parse(GOOD).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].name, "staff");
    let pattern = s[0].login_pattern.as_ref().unwrap();
    assert!(pattern.is_match("ada"));
    assert!(!pattern.is_match("ada@example.com"), "anchored");
    let StoreKind::Ldap(l) = &s[0].kind else {
        panic!("ldap")
    };
    assert_eq!(l.login_filter, "(uid={login})");
    assert_eq!(l.id_attribute, "entryUUID");
    assert_eq!(l.claims.phone_number.as_deref(), Some("telephoneNumber"));
    assert_eq!(l.claims.family_name, None);
    assert_eq!(l.claims.email.as_deref(), Some("mail"));
    assert_eq!(
        l.bind.as_ref().unwrap().1,
        PasswordSource::Env("LDAP_PASSWORD".into())
    );
    assert!(matches!(s[1].kind, StoreKind::Database));
    assert_eq!(
        resolve(None).unwrap().len(),
        1,
        "the database alone by default"
    );
}

#[test]
fn mistakes_are_named() {
    let cases = [
        (GOOD.replace("base_dn = \"ou", "basedn = \"ou"), "basedn"),
        // Roles from groups need groups.
        (
            GOOD.replace(
                "login_pattern",
                "admin_group = \"admins\"\n    login_pattern",
            ),
            "groups_base_dn",
        ),
        (GOOD.replace("phone_number =", "phone ="), "phone"),
        (GOOD.replace("\"staff\"", "\"Staff\""), "name `Staff`"),
        (GOOD.replace("\"customers\"", "\"staff\""), "used twice"),
        (GOOD.replace("ldaps://", "http://"), "url"),
        (GOOD.replace("'[a-z]+'", "'[a-z'"), "login_pattern"),
        (GOOD.replace("LDAP_PASSWORD", "VALET_LDAP"), "VALET_"),
        (
            GOOD.replace("bind_password_env = \"LDAP_PASSWORD\"", ""),
            "bind_dn",
        ),
        (
            GOOD.replace("type = \"database\"", "type = \"sql\""),
            "`sql`",
        ),
        (
            GOOD.replace(
                "type = \"database\"",
                "type = \"database\"\nurl = \"ldap://x\"",
            ),
            "url applies",
        ),
        (
            GOOD.replace("login_pattern", "login_filter = \"(uid=x)\"\nlogin_pattern"),
            "{login}",
        ),
        (
            GOOD.replace("login_pattern", "user_filter = \"(uid=x\"\nlogin_pattern"),
            "user_filter",
        ),
        (
            GOOD.replace("login_pattern", "timeout = 0\nlogin_pattern"),
            "timeout",
        ),
        (
            GOOD.replace("login_pattern", "starttls = true\nlogin_pattern"),
            "starttls",
        ),
    ];
    for (text, word) in cases {
        let e = parse(&text).unwrap_err();
        assert!(e.contains(word), "{word}: {e}");
    }
}
