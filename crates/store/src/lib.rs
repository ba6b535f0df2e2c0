//! Valet's storage contract and its two backends (SQLite for one machine, PostgreSQL for
//! several nodes). The contract is one trait per concern (`areas/`: `Applications`,
//! `Users`, `Apis`, `SigningKeys`, `AccessTokens`, `Grants`, `Consents`, `RefreshTokens`,
//! `Sessions`, `Throttle`, `SealedForms`, `Replays`, `PushedRequests`, `SecondFactors`,
//! `DeviceCodes`, `Registrations`, `Housekeeping`, `Health`, `Audit`, `GrantsAdmin`, …),
//! each implemented by each backend in its area file of the same concern; `Store` is all
//! of them at once, and the server holds an `Arc<dyn Store>`. The rules
//! written on each method hold for every backend and are checked by one shared suite
//! (`tests/conformance/`). Only this crate knows SQL.
//!
//! Methods are called on a `dyn Store` (or an `S: Store`) as they are: its supertraits'
//! methods come with it. On a concrete backend (`SqliteStore`, `PostgresStore`) the area
//! traits must be in scope: `use valet_store::prelude::*`.
//!
//! Rules for all backends:
//! - Every method is one transaction: it happens entirely or not at all (`purge_expired`
//!   excepted: each of its deletions stands alone, and any subset of them is harmless).
//! - Single use is a storage guarantee: a consuming method is one atomic statement whose
//!   winner is decided by the database, so two nodes racing cannot both win.
//! - Errors that mean "try again later" are `StoreError::Unavailable`; callers answer 503.

mod areas;
pub mod copy;
mod error;
mod model;
pub mod postgres;
pub mod sqlite;
mod throttle;

pub use areas::{
    AccessTokens, Apis, Applications, Consents, DeviceCodes, Grants, Health, Housekeeping,
    RefreshTokens, SealedForms, SecondFactors, Sessions, SigningKeys, Throttle, Users,
};
pub use areas::{Audit, AuditQuery, AuditRecord};
pub use areas::{Identities, IdentityRecord, LinkRecord, Links};
pub use areas::{LOGOUT_DELIVERY_MEMORY, LogoutDeliveries, LogoutDelivery};
pub use areas::{PasskeyRecord, TotpRecord};
pub use areas::{PushedRequestRecord, PushedRequests, Replays};
pub use areas::{Registered, RegistrationRecord, Registrations, TOUCH_INTERVAL};
pub use areas::{UpstreamProviderRecord, UpstreamProviders};
pub use error::StoreError;
pub use model::{
    ApiRecord, ClientRecord, CodeRecord, CodeUse, ConsentRecord, DeviceCodeRecord, DeviceDecision,
    DeviceStatus, GrantRecord, GrantScope, OpaqueAccessTokenRecord, PasswordHash,
    RefreshTokenRecord, Role, Rotation, SecretHash, SessionRecord, SigningKeyRecord, TokenHash,
    UserRecord,
};
pub use throttle::{ThrottleDecision, ThrottleRule, ThrottleState};
pub use valet_protocol::UnixTime;
pub use valet_protocol::authorization_code::GrantState;

pub type Result<T> = std::result::Result<T, StoreError>;

/// How long a consumed or expired code is kept, so that a late replay is still recognised
/// as one (and the grant it produced revoked) rather than looking unknown.
pub const CODE_REPLAY_MEMORY: i64 = 600;

/// How long a device code is kept past its expiry, so that a late poll still reads
/// `expired_token` (and a poll after redemption `invalid_grant`) rather than unknown.
pub const DEVICE_CODE_MEMORY: i64 = 600;

/// How long the response of a refresh-token rotation is kept (sealed) so that a retry of
/// the same token can be answered with the same pair. The retry window is at most this.
pub const REFRESH_SUCCESSOR_MEMORY: i64 = 60;

/// Everything a backend stores: every area of the contract at once, so that the server holds
/// one `Arc<dyn Store>`. Implemented for every type that implements all the areas (a
/// backend implements the areas, never `Store` itself).
pub trait Store:
    Health
    + Applications
    + Users
    + Apis
    + SigningKeys
    + AccessTokens
    + Grants
    + Consents
    + RefreshTokens
    + Sessions
    + Throttle
    + SealedForms
    + SecondFactors
    + DeviceCodes
    + Registrations
    + Housekeeping
    + Audit
    + LogoutDeliveries
    + Links
    + Identities
    + UpstreamProviders
    + Replays
    + PushedRequests
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: Health
        + Applications
        + Users
        + Apis
        + SigningKeys
        + AccessTokens
        + Grants
        + Consents
        + RefreshTokens
        + Sessions
        + Throttle
        + SealedForms
        + SecondFactors
        + DeviceCodes
        + Registrations
        + Housekeeping
        + Audit
        + LogoutDeliveries
        + Links
        + Identities
        + UpstreamProviders
        + Replays
        + PushedRequests
        + Send
        + Sync
        + 'static
{
}

/// `use valet_store::prelude::*;` brings `Store` and every area trait into scope, so that
/// their methods can be called on a concrete backend. The area traits come in unnamed
/// (`as _`): a caller's own `Users`, `Throttle` or `Health` type never hides them.
pub mod prelude {
    pub use crate::Store;
    pub use crate::areas::Registrations as _;
    pub use crate::areas::UpstreamProviders as _;
    pub use crate::areas::{
        AccessTokens as _, Apis as _, Applications as _, Consents as _, DeviceCodes as _,
        Grants as _, Health as _, Housekeeping as _, RefreshTokens as _, SealedForms as _,
        SecondFactors as _, Sessions as _, SigningKeys as _, Throttle as _, Users as _,
    };
    pub use crate::areas::{Audit as _, Identities as _, Links as _, LogoutDeliveries as _};
    pub use crate::areas::{PushedRequests as _, Replays as _};
}
