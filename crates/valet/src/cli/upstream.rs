//! `valet upstream`: identity providers people sign in with (issue 18), added to the
//! database. The configuration file's `[[upstreams]]` are listed too, and changed there.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum UpstreamCommand {
    /// Add an identity provider: an OpenID Connect issuer, or a plain OAuth 2.0 provider's three endpoints. The client secret is read from standard input
    Create {
        /// 1 to 32 of a-z 0-9 - _: part of the callback path and of its users' sub (<id>:<sub>)
        #[arg(long)]
        id: String,
        /// Shown on the login page: "Continue with <name>"
        #[arg(long)]
        name: String,
        /// The OpenID Connect issuer (its discovery document gives the rest)
        #[arg(long, value_name = "URL")]
        issuer: Option<String>,
        #[arg(long, value_name = "URL")]
        authorization_endpoint: Option<String>,
        #[arg(long, value_name = "URL")]
        token_endpoint: Option<String>,
        /// A plain OAuth 2.0 provider's user API (GitHub: https://api.github.com/user)
        #[arg(long, value_name = "URL")]
        userinfo_endpoint: Option<String>,
        #[arg(long)]
        client_id: String,
        /// Read the client secret from standard input (one line)
        #[arg(long, required = true)]
        client_secret_stdin: bool,
        /// client_secret_basic (default) or client_secret_post
        #[arg(long)]
        auth_method: Option<String>,
        /// Space-separated (default: openid email profile)
        #[arg(long)]
        scopes: Option<String>,
        /// Valet's claim = the provider's, e.g. sub=id (repeatable)
        #[arg(long = "claim", value_name = "CLAIM=NAME")]
        claims: Vec<String>,
        /// An email domain whose people go straight to this provider (repeatable)
        #[arg(long = "domain")]
        domains: Vec<String>,
        /// create (just-in-time accounts, the default) or existing
        #[arg(long)]
        users: Option<String>,
        /// A first sign-in with a verified address that one account has enters that account
        #[arg(long)]
        link_by_verified_email: bool,
        /// Keep the provider's refresh token, sealed, with each link
        #[arg(long)]
        keep_refresh_token: bool,
        /// Believe the provider's amr: its mfa counts as two factors (no second factor of Valet's)
        #[arg(long)]
        trust_mfa: bool,
        #[arg(long)]
        json: bool,
    },
    /// List identity providers (the configuration file's and the database's)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one identity provider
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Change an identity provider added with `create` (absent options stay)
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_name = "URL")]
        issuer: Option<String>,
        #[arg(long)]
        client_id: Option<String>,
        /// Read a new client secret from standard input
        #[arg(long)]
        client_secret_stdin: bool,
        #[arg(long)]
        scopes: Option<String>,
        /// Replaces the domains (repeatable)
        #[arg(long = "domain")]
        domains: Vec<String>,
        #[arg(long)]
        users: Option<String>,
        #[arg(long, value_name = "true|false")]
        link_by_verified_email: Option<bool>,
        #[arg(long)]
        json: bool,
    },
    /// Remove an identity provider added with `create` (its users stay)
    Delete { id: String },
}
