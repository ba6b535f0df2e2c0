//! The pages a person's browser gets when a flow cannot go on: which page, and what it
//! says. `ApiError::Page` carries one; `ApiError::into_page` renders it like every other
//! error.

use axum::http::StatusCode;

/// Pages that say a browser flow cannot go on, and why; each rendered in `into_page`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// A form's CSRF token did not verify (checklist C1): 403, nothing happened.
    FormUnverified(FormKind),
    /// A sealed form value does not open here: sealed for another browser, tampered with,
    /// older than 15 minutes, or submitted once already (issue 12 item 10).
    FormSpent,
    /// The session ended between showing a form and its answer.
    SessionEnded(FormKind),
    /// The application that asked is no longer registered.
    ApplicationGone,
    /// A device code expired or was answered already.
    DeviceCodeSpent,
    /// An authorization request whose client or redirect URI could not be verified
    /// (checklist A1-A7): nothing is redirected. The text says what is wrong.
    BadSignInRequest(String),
    /// A logout request that is not valid (OIDC RP-Initiated Logout §2-§3).
    BadSignOutRequest(String),
}

/// Which form a page is about: what the person is told to do next depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    SignIn,
    Consent,
    Device,
    Account,
    SignOut,
}

impl FormKind {
    fn unverified(self) -> (&'static str, &'static str) {
        match self {
            Self::SignIn => (
                "The sign-in form could not be verified (it may be old, or cookies may be blocked).",
                "Go back to the application and start signing in again.",
            ),
            Self::Consent => (
                "The consent form could not be verified.",
                "Go back to the application and start again.",
            ),
            Self::Device => (
                "The form could not be verified (it may be old, or cookies may be blocked).",
                "Open the address your device shows and enter the code again.",
            ),
            Self::Account => (
                "The request could not be verified.",
                "Open your account page again and retry.",
            ),
            Self::SignOut => (
                "The sign-out form could not be verified.",
                "Open your account page and sign out from there.",
            ),
        }
    }

    fn start_again(self) -> &'static str {
        match self {
            Self::Device => "Open the address your device shows and enter the code again.",
            Self::Account => "Sign in and open your account page again.",
            Self::SignOut => "Open your account page and sign out from there.",
            Self::SignIn | Self::Consent => "Go back to the application and start again.",
        }
    }
}

impl Page {
    /// The page, rendered as every error page is (`ApiError::into_page`).
    pub fn into_page(self, pages: &crate::pages::Pages) -> axum::response::Response {
        super::ApiError::Page(self).into_page(pages)
    }

    /// Status, title, message and hint.
    pub(super) fn parts(&self) -> (StatusCode, &'static str, String, Option<&'static str>) {
        match self {
            Self::FormUnverified(f) => {
                let (message, hint) = f.unverified();
                (
                    StatusCode::FORBIDDEN,
                    "This form has expired",
                    message.to_owned(),
                    Some(hint),
                )
            }
            Self::FormSpent => (
                StatusCode::BAD_REQUEST,
                "This request has expired",
                "The form could not be tied to the request that started it: it was sent \
                 already, it is older than 15 minutes, or it was opened in another browser."
                    .to_owned(),
                Some("Go back to the application and start again."),
            ),
            Self::SessionEnded(f) => (
                StatusCode::BAD_REQUEST,
                "You are no longer signed in",
                "Your session ended before you answered.".to_owned(),
                Some(f.start_again()),
            ),
            Self::ApplicationGone => (
                StatusCode::BAD_REQUEST,
                "This application is gone",
                "The application that asked is no longer registered.".to_owned(),
                None,
            ),
            Self::DeviceCodeSpent => (
                StatusCode::BAD_REQUEST,
                "This code cannot be used any more",
                "The code has expired or was answered already.".to_owned(),
                Some("Start signing in on your device again; it will show a new code."),
            ),
            Self::BadSignInRequest(m) => (
                StatusCode::BAD_REQUEST,
                "This sign-in request is not valid",
                m.clone(),
                Some(
                    "Nothing was sent back to the application. If you followed a link, go \
                     back to the application and start again; if you build the application, \
                     check the client_id and redirect_uri it sends.",
                ),
            ),
            Self::BadSignOutRequest(m) => (
                StatusCode::BAD_REQUEST,
                "This sign-out request is not valid",
                m.clone(),
                Some(
                    "You are still signed in. Close this page, or sign out from your account \
                     page.",
                ),
            ),
        }
    }
}
