//! Signing-key lifecycle (OIDC Core §10.1.1; checklist K9). A new key is published in the
//! JWKS at once but signs only from `activates_at`, so relying parties that cache the JWKS
//! see it before any token it signed; a replaced key stays published until every token it
//! may have signed has expired.

use crate::UnixTime;

/// The times that govern one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTimes {
    pub kid: String,
    pub alg: String,
    pub created_at: UnixTime,
    /// Signs from this instant on (until a newer key of the same `alg` activates).
    pub activates_at: UnixTime,
    /// Leaves the JWKS at this instant; `None` while the key is current or pending.
    pub publish_until: Option<UnixTime>,
}

impl KeyTimes {
    pub fn is_published(&self, now: UnixTime) -> bool {
        self.created_at <= now && self.publish_until.is_none_or(|until| now < until)
    }
}

/// The key that signs `alg` tokens at `now`: the published key with the latest
/// `activates_at` that has been reached.
pub fn signing_key<'a>(keys: &'a [KeyTimes], alg: &str, now: UnixTime) -> Option<&'a KeyTimes> {
    keys.iter()
        .filter(|k| k.alg == alg && k.is_published(now) && k.activates_at <= now)
        .max_by_key(|k| (k.activates_at, k.created_at))
}

/// What a rotation changes.
#[derive(Debug, PartialEq, Eq)]
pub struct Rotation {
    /// When the new key starts signing.
    pub activates_at: UnixTime,
    /// Keys to retire, each with the instant it leaves the JWKS.
    pub retire: Vec<(String, UnixTime)>,
}

/// Plans a rotation of `alg` at `now`. `activation_delay` must cover every JWKS cache
/// (Valet's nodes and relying parties); `token_lifetime` is the longest a token signed by a
/// replaced key may still be checked, including clock leeway.
pub fn plan_rotation(
    keys: &[KeyTimes],
    alg: &str,
    now: UnixTime,
    activation_delay: i64,
    token_lifetime: i64,
) -> Rotation {
    let activates_at = now + activation_delay;
    let retire = keys
        .iter()
        .filter(|k| k.alg == alg && k.publish_until.is_none())
        .map(|k| (k.kid.clone(), activates_at + token_lifetime))
        .collect();
    Rotation {
        activates_at,
        retire,
    }
}

/// Scheduled rotation (`key_rotation_interval`, issue 21): the newest key of `alg` when
/// it is `interval` old or older at `now`, so it is the one to replace. A rotation just
/// made (its key published, not signing yet) is the newest and young: no second one.
pub fn rotation_due<'a>(
    keys: &'a [KeyTimes],
    alg: &str,
    interval: i64,
    now: UnixTime,
) -> Option<&'a KeyTimes> {
    keys.iter()
        .filter(|k| k.alg == alg && k.is_published(now))
        .max_by_key(|k| (k.created_at, k.activates_at))
        .filter(|k| now - k.created_at >= interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_is_due_once_the_newest_key_is_old_enough() {
        let keys = vec![key("old", 0, 0, Some(5000)), key("cur", 1000, 1600, None)];
        assert_eq!(rotation_due(&keys, "ES256", 3600, 4599), None);
        assert_eq!(rotation_due(&keys, "ES256", 3600, 4600).unwrap().kid, "cur");
        assert_eq!(
            rotation_due(&keys, "RS256", 3600, 9999),
            None,
            "no such key"
        );
        // Just rotated: the pending key is the newest, and young.
        let mut after = keys.clone();
        after.push(key("next", 4600, 5200, None));
        assert_eq!(rotation_due(&after, "ES256", 3600, 4700), None);
    }

    fn key(kid: &str, created: i64, activates: i64, until: Option<i64>) -> KeyTimes {
        KeyTimes {
            kid: kid.into(),
            alg: "ES256".into(),
            created_at: created,
            activates_at: activates,
            publish_until: until,
        }
    }

    #[test]
    fn rotation_publishes_first_signs_later_retires_last() {
        let t0 = 1000;
        let mut keys = vec![key("old", 0, 0, None)];
        let plan = plan_rotation(&keys, "ES256", t0, 600, 700);
        assert_eq!(plan.activates_at, t0 + 600);
        assert_eq!(plan.retire, vec![("old".to_string(), t0 + 600 + 700)]);
        keys[0].publish_until = Some(t0 + 1300);
        keys.push(key("new", t0, plan.activates_at, None));

        // Before activation: both published, the old key signs.
        assert!(keys.iter().all(|k| k.is_published(t0 + 1)));
        assert_eq!(signing_key(&keys, "ES256", t0 + 599).unwrap().kid, "old");
        // From activation: the new key signs, the old one is still published.
        assert_eq!(signing_key(&keys, "ES256", t0 + 600).unwrap().kid, "new");
        assert!(keys[0].is_published(t0 + 1299));
        // After the last old token expired: the old key is gone.
        assert!(!keys[0].is_published(t0 + 1300));
    }

    #[test]
    fn other_algorithms_are_untouched() {
        let mut rs = key("rs", 0, 0, None);
        rs.alg = "RS256".into();
        let plan = plan_rotation(&[rs.clone()], "ES256", 10, 5, 5);
        assert!(plan.retire.is_empty());
        assert!(signing_key(&[rs], "ES256", 10).is_none());
    }

    #[test]
    fn a_key_created_in_the_future_is_not_published() {
        assert!(!key("k", 10, 10, None).is_published(9));
    }
}
