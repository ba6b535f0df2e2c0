//! The storage contract, one trait per concern. Each backend implements each trait in its
//! area file of the same concern (`sqlite/grants.rs`, `postgres/grants.rs`, …); `Store`
//! (in `lib.rs`) is all of them at once.

mod access_tokens;
mod apis;
mod applications;
mod audit;
mod consents;
mod device_codes;
mod grants;
mod health;
mod housekeeping;
mod identities;
mod links;
mod logout_deliveries;
mod pushed_requests;
mod refresh_tokens;
mod registrations;
mod replays;
mod sealed_forms;
mod second_factors;
mod sessions;
mod signing_keys;
mod throttle;
mod upstream_providers;
mod users;

pub use access_tokens::AccessTokens;
pub use apis::Apis;
pub use applications::Applications;
pub use audit::{Audit, AuditQuery, AuditRecord};
pub use consents::Consents;
pub use device_codes::DeviceCodes;
pub use grants::Grants;
pub use health::Health;
pub use housekeeping::Housekeeping;
pub use identities::{Identities, IdentityRecord};
pub use links::{LinkRecord, Links};
pub use logout_deliveries::{LOGOUT_DELIVERY_MEMORY, LogoutDeliveries, LogoutDelivery};
pub use pushed_requests::{PushedRequestRecord, PushedRequests};
pub use refresh_tokens::RefreshTokens;
pub use registrations::{Registered, RegistrationRecord, Registrations, TOUCH_INTERVAL};
pub use replays::Replays;
pub use sealed_forms::SealedForms;
pub use second_factors::{PasskeyRecord, SecondFactors, TotpRecord};
pub use sessions::Sessions;
pub use signing_keys::SigningKeys;
pub use throttle::Throttle;
pub use upstream_providers::{UpstreamProviderRecord, UpstreamProviders};
pub use users::Users;
