//! Branding without forking (issue 15): `brand_name`, `brand_logo` (a file Valet reads at
//! startup and serves itself), `brand_color` and `brand_color_dark`, and `powered_by`.
//! Every page gets them as one template value, `brand` (`BrandView`); the colours reach
//! the pages as a stylesheet of their own (`/assets/brand.css`, made at startup from the
//! validated colours, so the page CSP keeps `style-src 'self'`), the logo at
//! `/assets/brand-logo`; both carry a version of their content in their URL, so they can
//! be cached and still change with a restart. With a brand name set, the one "Valet" on a
//! page is the footer's "Powered by Valet", which `powered_by = false` removes.

mod color;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use color::Color;

use crate::config::Partial;

/// The name the pages carry when `brand_name` is not set.
pub const DEFAULT_NAME: &str = "Valet";
/// A brand logo file is at most this large.
pub const MAX_LOGO_BYTES: u64 = 256 * 1024;
const MAX_NAME_CHARS: usize = 60;

/// The SVG brand logo is the operator's, yet it is served so that, opened on its own, it
/// can run no script and load nothing; its inline styles may apply.
const LOGO_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// The branding settings, checked (the logo file is read by `Brand::load`, at startup).
#[derive(Debug, Clone, PartialEq)]
pub struct BrandSettings {
    pub name: String,
    pub logo: Option<PathBuf>,
    pub color: Option<Color>,
    pub color_dark: Option<Color>,
    /// The footer's "Powered by Valet" when a brand name is set.
    pub powered_by: bool,
}

pub fn resolve(p: &Partial) -> Result<BrandSettings, String> {
    let name = match p.brand_name.as_deref().map(str::trim) {
        None => DEFAULT_NAME.to_owned(),
        Some("") => return Err("brand_name must not be empty".into()),
        Some(n) if n.chars().count() > MAX_NAME_CHARS => {
            return Err(format!("brand_name is at most {MAX_NAME_CHARS} characters"));
        }
        Some(n) => {
            valet_protocol::text::check_printable("brand_name", n)?;
            n.to_owned()
        }
    };
    let color = |field: &str, v: &Option<String>| {
        v.as_deref()
            .map(|c| Color::parse(field, c.trim()))
            .transpose()
    };
    Ok(BrandSettings {
        name,
        logo: p.brand_logo.clone(),
        color: color("brand_color", &p.brand_color)?,
        color_dark: color("brand_color_dark", &p.brand_color_dark)?,
        powered_by: p.powered_by.unwrap_or(true),
    })
}

/// What every template gets as `brand`.
#[derive(Debug, Clone, Serialize)]
pub struct BrandView {
    pub name: String,
    /// The name's first letter, capitalised: the mark when there is no logo.
    pub initial: String,
    /// A brand name other than Valet's is set.
    pub custom: bool,
    pub powered_by: bool,
    pub logo_url: Option<String>,
    pub css_url: String,
}

/// A file Valet serves from memory.
struct Asset {
    body: axum::body::Bytes,
    content_type: &'static str,
}

/// The branding, loaded once at startup.
pub struct Brand {
    view: BrandView,
    css: Asset,
    logo: Option<Asset>,
}

impl Brand {
    /// Reads and checks the logo file and makes the stylesheet; a logo that cannot be used
    /// is an error that names the file and says why.
    pub fn load(s: &BrandSettings) -> Result<Self, String> {
        let logo = s.logo.as_deref().map(read_logo).transpose()?;
        Ok(Self::build(s, logo))
    }

    fn build(s: &BrandSettings, logo: Option<Asset>) -> Self {
        for (field, c, ok) in [
            (
                "brand_color",
                s.color,
                s.color.map(Color::readable_on_light),
            ),
            (
                "brand_color_dark",
                s.color_dark,
                s.color_dark.map(Color::readable_on_dark),
            ),
        ] {
            if let (Some(c), Some(false)) = (c, ok) {
                tracing::warn!(
                    color = %c.hex(),
                    "{field} has less than 3:1 contrast with the page background: links and focus rings will be hard to see"
                );
            }
        }
        let css = Asset {
            body: color::stylesheet(s.color, s.color_dark).into(),
            content_type: "text/css; charset=utf-8",
        };
        let custom = s.name != DEFAULT_NAME;
        let view = BrandView {
            initial: s
                .name
                .chars()
                .next()
                .map(|c| c.to_uppercase().collect())
                .unwrap_or_default(),
            name: s.name.clone(),
            custom,
            powered_by: s.powered_by,
            logo_url: logo
                .as_ref()
                .map(|l| format!("/assets/brand-logo?v={}", version(&l.body))),
            css_url: format!("/assets/brand.css?v={}", version(&css.body)),
        };
        Self { view, css, logo }
    }

    pub fn view(&self) -> &BrandView {
        &self.view
    }

    /// `GET /assets/brand.css`.
    pub fn css(&self) -> Response {
        serve(&self.css, None)
    }

    /// `GET /assets/brand-logo`: 404 when no logo is set.
    pub fn logo(&self) -> Response {
        match &self.logo {
            Some(l) => serve(l, Some(LOGO_CSP)),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }
}

impl Default for Brand {
    /// Valet's own look: no settings.
    fn default() -> Self {
        let none = BrandSettings {
            name: DEFAULT_NAME.into(),
            logo: None,
            color: None,
            color_dark: None,
            powered_by: true,
        };
        Self::build(&none, None)
    }
}

fn read_logo(path: &Path) -> Result<Asset, String> {
    let what = || format!("brand_logo {}", path.display());
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", what()))?;
    let mut body = Vec::new();
    file.take(MAX_LOGO_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("cannot read {}: {e}", what()))?;
    if body.len() as u64 > MAX_LOGO_BYTES {
        return Err(format!(
            "{} is larger than {} KB; use a smaller image",
            what(),
            MAX_LOGO_BYTES / 1024
        ));
    }
    let content_type = match crate::image::raster_type(&body) {
        Some(t) => t,
        None if crate::image::is_svg(&body) => "image/svg+xml",
        None => {
            return Err(format!(
                "{} is not a PNG, JPEG, GIF, WebP or SVG image (judged by its content, not its name)",
                what()
            ));
        }
    };
    Ok(Asset {
        body: body.into(),
        content_type,
    })
}

/// A short digest of `body`, for URLs that change when the content does.
pub(crate) fn version(body: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
    crate::crypto::b64(&d.as_ref()[..9])
}

fn serve(a: &Asset, csp: Option<&'static str>) -> Response {
    let mut r = a.body.clone().into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The URL pages use carries the content's version: a day is safe.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    if let Some(csp) = csp {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> Result<BrandSettings, String> {
        resolve(&toml::from_str::<Partial>(toml).map_err(|e| e.to_string())?)
    }

    #[test]
    fn names_and_colours_are_checked() {
        let s = settings("").unwrap();
        assert_eq!(s.name, "Valet");
        assert!(s.powered_by && s.color.is_none());
        let s = settings("brand_name = \" Acme \"\nbrand_color = \"#0a7\"\npowered_by = false")
            .unwrap();
        assert_eq!(s.name, "Acme");
        assert!(!s.powered_by);
        assert_eq!(s.color.unwrap().hex(), "#00aa77");
        for (toml, word) in [
            ("brand_name = \"  \"", "empty"),
            ("brand_name = \"A\u{202e}cme\"", "control character"),
            ("brand_color = \"teal\"", "brand_color"),
            ("brand_color_dark = \"#12345\"", "brand_color_dark"),
        ] {
            let e = settings(toml).unwrap_err();
            assert!(e.contains(word), "{toml}: {e}");
        }
        let long = format!("brand_name = \"{}\"", "x".repeat(61));
        assert!(settings(&long).unwrap_err().contains("60"));
    }

    #[test]
    fn the_logo_file_is_bounded_and_judged_by_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let load = |name: &str, body: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, body).unwrap();
            Brand::load(&BrandSettings {
                logo: Some(path),
                ..resolve(&Partial::default()).unwrap()
            })
        };
        let b = load("logo.png", crate::image::samples::PNG).unwrap();
        assert_eq!(b.logo().headers()[header::CONTENT_TYPE], "image/png");
        let url = b.view().logo_url.clone().unwrap();
        assert!(url.starts_with("/assets/brand-logo?v="), "{url}");
        let svg = load("logo.svg", b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
        let r = svg.logo();
        assert_eq!(r.headers()[header::CONTENT_TYPE], "image/svg+xml");
        assert!(
            r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .starts_with("default-src 'none'")
        );
        assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let e = load("fake.png", b"<html>not an image</html>")
            .err()
            .unwrap();
        assert!(e.contains("fake.png") && e.contains("not a PNG"), "{e}");
        let mut big = crate::image::samples::PNG.to_vec();
        big.resize(MAX_LOGO_BYTES as usize + 1, 0);
        let e = load("big.png", &big).err().unwrap();
        assert!(e.contains("larger than 256 KB"), "{e}");
        let e = Brand::load(&BrandSettings {
            logo: Some(dir.path().join("missing.png")),
            ..resolve(&Partial::default()).unwrap()
        })
        .err()
        .unwrap();
        assert!(e.contains("cannot read brand_logo"), "{e}");
        assert_eq!(Brand::default().logo().status(), StatusCode::NOT_FOUND);
    }
}
