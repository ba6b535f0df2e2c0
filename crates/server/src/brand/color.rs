//! Brand colours: a CSS hex colour (`#rgb` or `#rrggbb`, nothing else, so a value can
//! never carry CSS of its own), and the stylesheet that lays it over `valet.css`'s custom
//! properties, light and dark (`prefers-color-scheme`). The shades the pages need beside
//! the accent (hover, a soft background, the text on an accent button) are derived here,
//! the text colour by WCAG 2 contrast, so one setting is enough.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color {
    r: u8,
    g: u8,
    b: u8,
}

const WHITE: Color = Color::rgb(0xff, 0xff, 0xff);
const BLACK: Color = Color::rgb(0, 0, 0);
// valet.css's own surfaces and text, light then dark: what the derived shades sit on.
const LIGHT_BG: Color = Color::rgb(0xf3, 0xf4, 0xf7);
const LIGHT_SURFACE: Color = WHITE;
const LIGHT_TEXT: Color = Color::rgb(0x15, 0x18, 0x1e);
const DARK_BG: Color = Color::rgb(0x0d, 0x0f, 0x13);
const DARK_SURFACE: Color = Color::rgb(0x17, 0x1a, 0x20);

impl Color {
    const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b }
    }

    /// `#rgb` or `#rrggbb` (either case); the error names `field`.
    pub fn parse(field: &str, text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{field} `{}` is not a CSS hex colour like #4f46e5 or #46e",
                valet_protocol::text::visible(text)
            )
        };
        let hex = text.strip_prefix('#').ok_or_else(bad)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..i + 1], 16).map_err(|_| bad());
        match hex.len() {
            3 => Ok(Self::rgb(digit(0)? * 17, digit(1)? * 17, digit(2)? * 17)),
            6 => {
                let pair = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
                Ok(Self::rgb(pair(0)?, pair(2)?, pair(4)?))
            }
            _ => Err(bad()),
        }
    }

    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }

    /// `self` moved `t` (0 to 1) of the way to `other`.
    fn mix(self, other: Color, t: f64) -> Color {
        let m = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
        Color::rgb(m(self.r, other.r), m(self.g, other.g), m(self.b, other.b))
    }

    /// WCAG 2 relative luminance.
    fn luminance(self) -> f64 {
        let c = |v: u8| {
            let s = f64::from(v) / 255.0;
            if s <= 0.04045 {
                s / 12.92
            } else {
                ((s + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * c(self.r) + 0.7152 * c(self.g) + 0.0722 * c(self.b)
    }

    /// WCAG 2 contrast ratio, 1 to 21.
    pub fn contrast(self, other: Color) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// Whichever of `a` and `b` reads better on `self`.
    fn text_on(self, a: Color, b: Color) -> Color {
        if self.contrast(a) >= self.contrast(b) {
            a
        } else {
            b
        }
    }

    /// How light links and focus rings read on the light surface: a warning at startup
    /// below WCAG's 3:1 for large text and interface parts.
    pub fn readable_on_light(self) -> bool {
        self.contrast(LIGHT_SURFACE) >= 3.0
    }

    pub fn readable_on_dark(self) -> bool {
        self.contrast(DARK_SURFACE) >= 3.0
    }

    /// A dark-mode accent for a light one: lighter, as `valet.css`'s own pair is.
    pub fn for_dark(self) -> Color {
        self.mix(WHITE, 0.4)
    }
}

/// The stylesheet for these colours: custom properties only, over `valet.css`'s. With no
/// dark colour, the light one lightened stands in for it.
pub fn stylesheet(light: Option<Color>, dark: Option<Color>) -> String {
    let mut css = String::from("/* Brand colours (brand_color, brand_color_dark). */\n");
    if let Some(c) = light {
        let vars = [
            ("--accent", c),
            ("--accent-hover", c.mix(BLACK, 0.15)),
            ("--accent-soft", LIGHT_SURFACE.mix(c, 0.1)),
            ("--bg-glow", LIGHT_BG.mix(c, 0.12)),
            ("--focus", c),
            ("--on-accent", c.text_on(WHITE, LIGHT_TEXT)),
        ];
        block(&mut css, None, &vars);
    }
    if let Some(d) = dark.or(light.map(Color::for_dark)) {
        let vars = [
            ("--accent", d),
            ("--accent-hover", d.mix(WHITE, 0.2)),
            ("--accent-soft", DARK_SURFACE.mix(d, 0.18)),
            ("--bg-glow", DARK_BG.mix(d, 0.14)),
            ("--focus", d.mix(WHITE, 0.2)),
            ("--on-accent", d.text_on(DARK_BG, WHITE)),
        ];
        block(&mut css, Some("(prefers-color-scheme: dark)"), &vars);
    }
    css
}

fn block(css: &mut String, media: Option<&str>, vars: &[(&str, Color)]) {
    let indent = if media.is_some() { "  " } else { "" };
    if let Some(m) = media {
        let _ = writeln!(css, "@media {m} {{");
    }
    let _ = writeln!(css, "{indent}:root {{");
    for (name, color) in vars {
        let _ = writeln!(css, "{indent}  {name}: {};", color.hex());
    }
    let _ = writeln!(css, "{indent}}}");
    if media.is_some() {
        css.push_str("}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_colours_only() {
        assert_eq!(Color::parse("c", "#4F46e5").unwrap().hex(), "#4f46e5");
        assert_eq!(Color::parse("c", "#46e").unwrap().hex(), "#4466ee");
        for bad in [
            "4f46e5",
            "#4f46e",
            "#4f46e5ff",
            "#ggg",
            "red",
            "#fff;}body{display:none",
            "#\u{202e}fff",
            "",
        ] {
            let e = Color::parse("brand_color", bad).unwrap_err();
            assert!(e.contains("brand_color") && e.contains("hex"), "{e}");
        }
    }

    #[test]
    fn the_stylesheet_sets_light_and_dark_and_picks_readable_text() {
        let yellow = Color::parse("c", "#ffd400").unwrap();
        let css = stylesheet(Some(yellow), None);
        assert!(css.contains("--accent: #ffd400;"), "{css}");
        // Dark text on a yellow button, in both schemes.
        assert!(css.contains("--on-accent: #15181e;"), "{css}");
        assert!(css.contains("@media (prefers-color-scheme: dark)"), "{css}");
        let navy = Color::parse("c", "#1e3a8a").unwrap();
        let css = stylesheet(Some(navy), Some(Color::parse("c", "#93c5fd").unwrap()));
        assert!(css.contains("--on-accent: #ffffff;"), "{css}");
        assert!(css.contains("--accent: #93c5fd;"), "{css}");
        assert!(!stylesheet(None, None).contains(":root"));
        assert!(!yellow.readable_on_light() && navy.readable_on_light());
    }
}
