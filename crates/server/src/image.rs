//! What an image is, told by its first bytes (`infer`), never by its file name or the
//! `Content-Type` it came with: the type Valet serves it as. Raster images only for what
//! third parties give (application logos); SVG, which can carry scripts and fetch other
//! resources, only from the operator (the brand logo), and then served under a CSP that
//! lets it do neither.

/// PNG, JPEG, GIF or WebP: the media type, or `None` for anything else.
pub fn raster_type(bytes: &[u8]) -> Option<&'static str> {
    use infer::image::{is_gif, is_jpeg, is_png, is_webp};
    if is_png(bytes) {
        Some("image/png")
    } else if is_jpeg(bytes) {
        Some("image/jpeg")
    } else if is_gif(bytes) {
        Some("image/gif")
    } else if is_webp(bytes) {
        Some("image/webp")
    } else {
        None
    }
}

/// An SVG document: UTF-8 text whose first element is `<svg`, after an optional byte
/// order mark, XML declaration, doctype and comments.
pub fn is_svg(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    loop {
        if rest.starts_with("<svg") {
            return rest.trim_end().ends_with("</svg>") || rest.trim_end().ends_with("/>");
        }
        let end = if rest.starts_with("<?") {
            rest.find("?>").map(|i| i + 2)
        } else if rest.starts_with("<!--") {
            rest.find("-->").map(|i| i + 3)
        } else if rest.starts_with("<!DOCTYPE") || rest.starts_with("<!doctype") {
            rest.find('>').map(|i| i + 1)
        } else {
            None
        };
        match end {
            Some(i) => rest = rest[i..].trim_start(),
            None => return false,
        }
    }
}

/// A few valid images for tests: the smallest files of each kind.
#[cfg(test)]
pub mod samples {
    /// A 1×1 PNG.
    pub const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0d, 0x49, 0x44,
        0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0, 0, 0, 0, 2, 0, 1, 0xe5, 0x27, 0xde, 0xfc, 0, 0, 0,
        0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    pub const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
    pub const JPEG: &[u8] = &[0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
    pub const WEBP: &[u8] = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rasters_by_their_bytes() {
        assert_eq!(raster_type(samples::PNG), Some("image/png"));
        assert_eq!(raster_type(samples::GIF), Some("image/gif"));
        assert_eq!(raster_type(samples::JPEG), Some("image/jpeg"));
        assert_eq!(raster_type(samples::WEBP), Some("image/webp"));
        for other in [
            &b"<svg xmlns='http://www.w3.org/2000/svg'/>"[..],
            b"<html><script>alert(1)</script>",
            b"%PDF-1.7",
            b"",
        ] {
            assert_eq!(raster_type(other), None);
        }
    }

    #[test]
    fn svg_documents() {
        assert!(is_svg(b"<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>"));
        assert!(is_svg(
            "\u{feff}<?xml version=\"1.0\"?>\n<!-- logo -->\n<!DOCTYPE svg>\n<svg/>\n".as_bytes()
        ));
        for not in [
            &b"<html><svg></svg></html>"[..],
            b"<?xml version=\"1.0\"?><html/>",
            b"<svg",
            b"\xff\xfe<\x00s\x00",
            samples::PNG,
        ] {
            assert!(!is_svg(not));
        }
    }
}
