//! `valet user`, `valet api`, `valet keys`, `valet grants` and `valet audit`: the
//! administration of everything but applications (cli/client.rs).

use clap::Subcommand;
use valet_protocol::opaque_token::AccessTokenFormat;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input (one line)
    Create {
        /// The login name (unique, case-insensitive)
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// Mark the e-mail address as verified
        #[arg(long)]
        email_verified: bool,
        /// Full name
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        given_name: Option<String>,
        #[arg(long)]
        family_name: Option<String>,
        /// Read the password from standard input (required: passwords never go in arguments)
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List users
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one user
    Show {
        username: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a user's login name, profile claims or administrative role
    Update {
        username: String,
        /// A new login name (the `sub` does not change)
        #[arg(long, value_name = "NAME")]
        rename: Option<String>,
        /// An empty value removes the claim
        #[arg(long)]
        email: Option<String>,
        #[arg(long, value_name = "true|false")]
        email_verified: Option<bool>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        given_name: Option<String>,
        #[arg(long)]
        family_name: Option<String>,
        /// admin (changes everything), viewer (reads the console and admin API) or none
        #[arg(long, value_name = "ROLE")]
        role: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Stop a user from signing in; their sessions, grants and tokens end at once
    Disable { username: String },
    /// Let a disabled user sign in again
    Enable { username: String },
    /// Set a new password, read from standard input (one line); every session and grant of the user ends
    SetPassword {
        username: String,
        /// Read the password from standard input (the default; passwords never go in arguments)
        #[arg(long)]
        password_stdin: bool,
    },
    /// Sign a user out everywhere and revoke every grant (refresh and access tokens end)
    Revoke { username: String },
    /// List a user's live sessions
    Sessions {
        username: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a user; their sessions, grants and tokens end at once
    Delete { username: String },
    /// A user's second factors (authenticator app, recovery codes)
    Mfa {
        #[command(subcommand)]
        command: MfaCommand,
    },
}

#[derive(Subcommand)]
pub enum MfaCommand {
    /// Remove the user's authenticator app, recovery codes and passkeys (the help desk's reset; audited)
    Reset {
        /// The user (or --username)
        #[arg(required_unless_present_any = ["user", "sub"], conflicts_with_all = ["user", "sub"])]
        username: Option<String>,
        #[arg(long = "username", value_name = "USERNAME", conflicts_with = "sub")]
        user: Option<String>,
        /// A user named by subject instead: a directory user's `STORE:ID` (as in their ID tokens and the audit trail)
        #[arg(long, value_name = "SUB")]
        sub: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ApiCommand {
    /// Register an API and the scopes it defines
    Create {
        /// The API's identifier; tokens for it carry it as `aud`
        #[arg(long, value_name = "URI")]
        audience: String,
        /// A scope and its description for the consent page, e.g. contacts.read="Read your contacts" (repeatable)
        #[arg(long = "scope", value_name = "NAME=DESCRIPTION", required = true)]
        scopes: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        /// jwt, or opaque: every token whose audience includes this API is opaque (the API must check tokens by introspection)
        #[arg(long, value_name = "FORMAT", default_value = "jwt")]
        access_token_format: AccessTokenFormat,
        /// A confidential application (the API's own, registered first) that may introspect tokens for this API (repeatable); no other application but a token's own learns anything about it at introspection
        #[arg(long = "introspector", value_name = "CLIENT_ID")]
        introspectors: Vec<String>,
        /// A confidential application that may exchange tokens into this API (RFC 8693), for all its scopes or the ones listed (repeatable); none may by default
        #[arg(long = "allow-exchange-from", value_name = "CLIENT_ID[=SCOPE,...]")]
        exchange_from: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List APIs and their scopes
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change an API's name, token format, introspectors or token exchange policy
    Update {
        audience: String,
        #[arg(long)]
        name: Option<String>,
        /// jwt or opaque
        #[arg(long, value_name = "FORMAT")]
        access_token_format: Option<AccessTokenFormat>,
        /// Replaces the introspectors (repeatable)
        #[arg(long = "introspector", value_name = "CLIENT_ID")]
        introspectors: Vec<String>,
        /// Removes every introspector
        #[arg(long, conflicts_with = "introspectors")]
        no_introspectors: bool,
        /// Lets an application exchange tokens into this API (RFC 8693), for all its scopes or the ones listed; replaces that application's earlier rule (repeatable)
        #[arg(long = "allow-exchange-from", value_name = "CLIENT_ID[=SCOPE,...]")]
        exchange_from: Vec<String>,
        /// Stops an application exchanging tokens into this API (repeatable)
        #[arg(long = "deny-exchange-from", value_name = "CLIENT_ID")]
        exchange_deny: Vec<String>,
        /// Stops every application exchanging tokens into this API
        #[arg(long, conflicts_with_all = ["exchange_from", "exchange_deny"])]
        no_exchange: bool,
        /// A new description for a scope (repeatable): NAME=DESCRIPTION
        #[arg(long = "describe-scope", value_name = "NAME=DESCRIPTION")]
        describe: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Add or remove an API's scopes
    #[command(subcommand)]
    Scope(ApiScopeCommand),
    /// Delete an API and its scopes
    Delete { audience: String },
}

#[derive(Subcommand)]
pub enum ApiScopeCommand {
    /// Add a scope: valet api scope add AUDIENCE NAME=DESCRIPTION
    Add {
        audience: String,
        #[arg(value_name = "NAME=DESCRIPTION")]
        scope: String,
    },
    /// Remove a scope; refused while applications may request it, unless --force (which takes it from them too). Tokens already issued keep it until they expire
    Remove {
        audience: String,
        name: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their state
    List {
        #[arg(long)]
        json: bool,
    },
    /// Publish a new key now; it signs after key_activation_delay, the old one stays published until its tokens expired
    Rotate {
        /// ES256 (access tokens), RS256 (ID tokens by default), PS256 or EdDSA (ID tokens of the applications that chose them) [default: all four]
        #[arg(long)]
        alg: Option<String>,
    },
    /// Emergency: unpublish a key and stop signing with it now (a replacement signs at once); every token it signed stops verifying
    Revoke { kid: String },
}

#[derive(Subcommand)]
pub enum GrantsCommand {
    /// List live grants, newest first
    List {
        /// Only this user's
        #[arg(long)]
        username: Option<String>,
        /// Only this application's
        #[arg(long)]
        client_id: Option<String>,
        /// At most this many [default: 100]
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Revoke one grant: its refresh tokens stop working, its access tokens read inactive
    Revoke { grant_id: String },
}

#[derive(clap::Args)]
pub struct AuditArgs {
    /// Only events since: a duration back from now (30m, 24h, 7d) or a Unix time
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only this actor (cli:NAME, user:NAME, client:ID)
    #[arg(long)]
    pub actor: Option<String>,
    /// Only actions starting with this (client., user.disable, signin.)
    #[arg(long)]
    pub action: Option<String>,
    /// Only this target (client:ID, user:NAME, api:AUDIENCE, key:KID)
    #[arg(long)]
    pub target: Option<String>,
    /// Only the events of one request (its X-Request-Id)
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
    /// At most this many [default: 100]
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// One JSON object per line: at, actor, action, target, changes
    #[arg(long)]
    pub json: bool,
}
