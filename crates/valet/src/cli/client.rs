//! `valet client` and `valet registration`: applications, and initial access tokens for
//! dynamic registration.

use clap::Subcommand;
use valet_protocol::opaque_token::AccessTokenFormat;

// `Create` carries many options and runs once per process: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register an application; prints its client_id and, for confidential ones, its secret (shown once)
    Create {
        #[arg(long)]
        name: String,
        /// web, spa, native, service, device, or fapi2 (a high-assurance web app: the FAPI 2.0 Security Profile — private_key_jwt, pushed requests, PKCE S256, DPoP-bound tokens, PS256 ID tokens). Without it, Valet explains the profiles and, on a terminal, asks about the application and recommends one
        #[arg(long)]
        profile: Option<String>,
        /// Allowed redirect URI (repeatable); matched byte for byte
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Scope the application may request (repeatable); web, spa and native applications may always request the OpenID Connect scopes
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Grant type to add to the profile's (repeatable), e.g. password or urn:ietf:params:oauth:grant-type:device_code
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// First-party application: skips the consent page
        #[arg(long)]
        trusted: bool,
        /// client_secret_basic or client_secret_post: only that one is accepted; private_key_jwt: a JWT signed with one of its keys (RFC 7523; needs --jwks-file or --jwks-uri, no secret) [default: none chosen: client_secret_basic, and client_secret_post accepted too; fapi2: private_key_jwt]
        #[arg(long, value_name = "METHOD")]
        auth_method: Option<String>,
        /// A JSON file holding the application's public keys as a JWK Set ({"keys": [...]})
        #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
        jwks_file: Option<std::path::PathBuf>,
        /// The https URL where the application publishes its public keys (fetched and cached by Valet)
        #[arg(long, value_name = "URL")]
        jwks_uri: Option<String>,
        /// Its authorization requests must be pushed first (RFC 9126 PAR)
        #[arg(long)]
        require_par: bool,
        /// Its tokens must be bound to a DPoP key (RFC 9449): token requests without a DPoP proof are refused
        #[arg(long)]
        require_dpop: bool,
        /// The algorithm of its ID tokens: RS256, PS256, ES256 or EdDSA [default: RS256; fapi2: PS256]
        #[arg(long, value_name = "ALG")]
        id_token_alg: Option<String>,
        /// public (the same sub for every application) or pairwise (a sub of its own per redirect host, OIDC Core §8) [default: public]
        #[arg(long, value_name = "TYPE", default_value = "public")]
        subject_type: String,
        /// For a service: the user its tokens act as (their `sub`) [default: the client_id]
        #[arg(long, value_name = "SUB")]
        service_user: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// https URL
        #[arg(long)]
        website: Option<String>,
        /// https URL
        #[arg(long)]
        logo_uri: Option<String>,
        /// https URL
        #[arg(long)]
        policy_uri: Option<String>,
        /// Where RP-initiated logout may send users afterwards (repeatable); matched byte for byte
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// Allow PKCE `plain` (legacy; S256 is always accepted)
        #[arg(long)]
        allow_plain_pkce: bool,
        /// Require PKCE from this confidential application (public ones always must)
        #[arg(long)]
        require_pkce: bool,
        /// Require a second factor of whoever signs in to it (a password-only session steps up)
        #[arg(long, value_name = "true|false", num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
        require_mfa: bool,
        /// A new ID token with each refresh of an openid grant (OIDC Core §12.2 makes it optional); false spares a signature per refresh
        #[arg(long, value_name = "true|false", num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
        id_token_on_refresh: bool,
        /// Browser origin allowed to call the token, revocation and UserInfo endpoints, beyond those of the redirect URIs (repeatable)
        #[arg(long = "cors-origin", value_name = "ORIGIN")]
        cors_origins: Vec<String>,
        /// jwt (checked locally by APIs) or opaque (every check is an introspection; revocation is immediate); a token is opaque if its application or any API of its audience says so
        #[arg(long, value_name = "FORMAT", default_value = "jwt")]
        access_token_format: AccessTokenFormat,
        /// Seconds its access and ID tokens last, shorter than the server's access_token_ttl [default: the server's]
        #[arg(long, value_name = "SECONDS")]
        access_token_lifetime: Option<i64>,
        /// Seconds its refresh tokens last, shorter than the server's refresh_token_ttl [default: the server's]
        #[arg(long, value_name = "SECONDS")]
        refresh_token_lifetime: Option<i64>,
        /// Where Valet POSTs a logout token when a user's session ends (OIDC Back-Channel Logout); https, or http://127.0.0.1 in development
        #[arg(long, value_name = "URI")]
        backchannel_logout_uri: Option<String>,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
    /// List applications
    List {
        /// Only those registered by: admin, dynamic (RFC 7591) or cimd (a metadata document)
        #[arg(long, value_name = "ORIGIN")]
        origin: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Vouch for a self-registered application (or a metadata document client, by its URL): the consent page stops saying it is not verified
    Verify { client_id: String },
    /// Let a quarantined self-registered application (or metadata document client) be used
    Approve { client_id: String },
    /// Make a self-registered application (or metadata document client) unusable until approved
    Quarantine { client_id: String },
    /// Change an application: only the options given change
    Update {
        client_id: String,
        #[arg(long)]
        name: Option<String>,
        /// Add a redirect URI (repeatable)
        #[arg(long = "add-redirect-uri", value_name = "URI")]
        add_redirect_uris: Vec<String>,
        /// Remove a redirect URI (repeatable)
        #[arg(long = "remove-redirect-uri", value_name = "URI")]
        remove_redirect_uris: Vec<String>,
        /// Replace every redirect URI (repeatable)
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Replace the scopes it may request (repeatable)
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Replace the grant types (repeatable)
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// First-party (skips the consent page) or not
        #[arg(long, value_name = "true|false")]
        trusted: Option<bool>,
        /// client_secret_basic, client_secret_post or private_key_jwt
        #[arg(long, value_name = "METHOD")]
        auth_method: Option<String>,
        /// Replace its public keys with the JWK Set in this file
        #[arg(long, value_name = "FILE", conflicts_with = "jwks_uri")]
        jwks_file: Option<std::path::PathBuf>,
        /// Replace where it publishes its public keys (an empty value removes it)
        #[arg(long, value_name = "URL")]
        jwks_uri: Option<String>,
        /// Require pushed authorization requests (RFC 9126), or not
        #[arg(long, value_name = "true|false")]
        require_par: Option<bool>,
        /// Require DPoP-bound tokens (RFC 9449), or not
        #[arg(long, value_name = "true|false")]
        require_dpop: Option<bool>,
        /// RS256, PS256, ES256 or EdDSA
        #[arg(long, value_name = "ALG")]
        id_token_alg: Option<String>,
        /// public or pairwise
        #[arg(long, value_name = "TYPE")]
        subject_type: Option<String>,
        /// jwt or opaque
        #[arg(long, value_name = "FORMAT")]
        access_token_format: Option<AccessTokenFormat>,
        /// An empty value removes it
        #[arg(long)]
        description: Option<String>,
        /// https URL; an empty value removes it
        #[arg(long)]
        website: Option<String>,
        /// https URL; an empty value removes it
        #[arg(long)]
        logo_uri: Option<String>,
        /// https URL; an empty value removes it
        #[arg(long)]
        policy_uri: Option<String>,
        /// Replace the post-logout redirect URIs (repeatable)
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// Replace the extra CORS origins (repeatable)
        #[arg(long = "cors-origin", value_name = "ORIGIN")]
        cors_origins: Vec<String>,
        #[arg(long, value_name = "true|false")]
        require_pkce: Option<bool>,
        /// Require a second factor of whoever signs in to it
        #[arg(long, value_name = "true|false")]
        require_mfa: Option<bool>,
        /// A new ID token with each refresh of an openid grant, or not
        #[arg(long, value_name = "true|false")]
        id_token_on_refresh: Option<bool>,
        #[arg(long, value_name = "true|false")]
        allow_plain_pkce: Option<bool>,
        /// Seconds its access and ID tokens last (0: the server's access_token_ttl)
        #[arg(long, value_name = "SECONDS")]
        access_token_lifetime: Option<i64>,
        /// Seconds its refresh tokens last (0: the server's refresh_token_ttl)
        #[arg(long, value_name = "SECONDS")]
        refresh_token_lifetime: Option<i64>,
        /// Where Valet POSTs logout tokens (an empty value removes it)
        #[arg(long, value_name = "URI")]
        backchannel_logout_uri: Option<String>,
        /// Print the application as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show one application
    Show {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete an application; its tokens stop working within the cache lifetime
    Delete { client_id: String },
    /// Revoke every user's grant of an application: refresh tokens stop working, access tokens read inactive, consents are forgotten
    RevokeGrants { client_id: String },
    /// Issue a new client secret (shown once)
    RotateSecret {
        client_id: String,
        /// Seconds the old secret keeps working [default: 0]
        #[arg(long, value_name = "SECONDS")]
        grace: Option<i64>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum RegistrationCommand {
    /// Manage initial access tokens, presented as `Authorization: Bearer` at POST /oauth2/register
    #[command(subcommand)]
    Token(RegistrationTokenCommand),
}

#[derive(Subcommand)]
pub enum RegistrationTokenCommand {
    /// Print a new initial access token (shown once; Valet keeps only its hash)
    Create {
        /// Seconds it stays valid [default: 86400]
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<i64>,
        /// Registrations it allows [default: any number until it expires]
        #[arg(long, value_name = "N")]
        uses: Option<u32>,
    },
}
