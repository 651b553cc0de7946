//! A Kommune's face on the citizen pages: its accent colour (readable on white, WCAG 2.1
//! 1.4.3) and its support contact (plain text, one line).

/// The contrast ratio text needs against its background (WCAG 2.1 SC 1.4.3, normal text).
pub const MIN_CONTRAST: f64 = 4.5;

/// An accent colour `#rrggbb` (lower case) whose contrast against white is at least 4.5:1;
/// an empty value is none.
///
/// # Errors
/// What is wrong, in English.
pub fn accent_color(s: &str) -> Result<Option<String>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let hex = s
        .strip_prefix('#')
        .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("the accent colour must be written as #rrggbb")?;
    let ratio = contrast_with_white(hex);
    if ratio < MIN_CONTRAST {
        return Err(format!(
            "the accent colour's contrast against white is {ratio:.1}:1, at least 4.5:1 is needed"
        ));
    }
    Ok(Some(format!("#{}", hex.to_ascii_lowercase())))
}

/// The contrast ratio of `rrggbb` against white (WCAG 2.1, relative luminance).
#[must_use]
pub fn contrast_with_white(hex: &str) -> f64 {
    let channel = |i: usize| {
        let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
    1.05 / (l + 0.05)
}

/// A support contact: one line of at most 200 characters without control characters; an
/// empty value is none. It is shown as text, never as markup.
///
/// # Errors
/// What is wrong, in English.
pub fn support_contact(s: &str) -> Result<Option<String>, &'static str> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > 200 || s.chars().any(char::is_control) {
        return Err("the support contact is one line of at most 200 characters");
    }
    Ok(Some(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accent_colours_must_be_readable_on_white() {
        assert_eq!(accent_color("").ok(), Some(None));
        // The Verbund's own blue passes; yellow and light grey do not.
        assert_eq!(
            accent_color("#1F4E79").ok().flatten().as_deref(),
            Some("#1f4e79")
        );
        assert!(accent_color("#ffff00").is_err());
        assert!(accent_color("#999999").is_err());
        // #767676 is the lightest grey with 4.5:1.
        assert!(accent_color("#767676").is_ok());
        assert!(accent_color("#777777").is_err());
        for bad in [
            "red",
            "#12345",
            "#1234567",
            "1f4e79",
            "#gg0000",
            "#1f4e79;x",
        ] {
            assert!(accent_color(bad).is_err(), "{bad}");
        }
        assert!((contrast_with_white("000000") - 21.0).abs() < 0.01);
    }

    #[test]
    fn support_contacts_are_one_plain_line() {
        assert_eq!(support_contact("  ").ok(), Some(None));
        assert!(support_contact("Bürgerbüro, 05931 44-0").is_ok());
        assert!(support_contact("a\nb").is_err());
        assert!(support_contact(&"x".repeat(201)).is_err());
    }
}

/// The largest logo accepted.
pub const MAX_LOGO: usize = 200 * 1024;

/// Checks a logo and names its content type: a PNG (by its signature and header chunk) or
/// an SVG without anything active (scripts, event handlers, external references, embedded
/// documents, entities). Logos are shown with `<img>`, where nothing in them runs anyway, and
/// served with a sandboxing policy; this check keeps them harmless when opened directly.
///
/// # Errors
/// What is wrong, in English.
pub fn logo(bytes: &[u8]) -> Result<&'static str, &'static str> {
    if bytes.is_empty() || bytes.len() > MAX_LOGO {
        return Err("a logo is a PNG or SVG file of at most 200 KiB");
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return if bytes.get(12..16) == Some(b"IHDR") {
            Ok("image/png")
        } else {
            Err("the PNG file is damaged")
        };
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "a logo is a PNG or SVG file")?;
    let lower = text.to_ascii_lowercase();
    if !lower.contains("<svg") {
        return Err("a logo is a PNG or SVG file");
    }
    const ACTIVE: [&str; 14] = [
        "<script",
        "javascript:",
        "<foreignobject",
        "<!entity",
        "<!doctype",
        "<iframe",
        "<embed",
        "<object",
        "<a ",
        "<a>",
        "@import",
        "<animate",
        "<set",
        "data:text",
    ];
    if ACTIVE.iter().any(|a| lower.contains(a)) {
        return Err("the SVG contains scripts, links or embedded documents");
    }
    // Event handler attributes (onload=, onclick=, …), whatever the whitespace before them.
    let bytes_l = lower.as_bytes();
    for (i, w) in bytes_l.windows(2).enumerate() {
        if w == b"on" && i > 0 && (bytes_l[i - 1].is_ascii_whitespace() || bytes_l[i - 1] == b'/') {
            let rest = &lower[i + 2..];
            let name_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            if name_len > 0 && rest[name_len..].trim_start().starts_with('=') {
                return Err("the SVG contains scripts, links or embedded documents");
            }
        }
    }
    // References may only point into the file itself.
    for attr in ["href=", "src=", "url("] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(attr) {
            let at = from + pos + attr.len();
            let value = lower[at..].trim_start_matches(['"', '\'', ' ']);
            if !value.starts_with('#') {
                return Err("the SVG refers to other files");
            }
            from = at;
        }
    }
    Ok("image/svg+xml")
}

#[cfg(test)]
mod logo_tests {
    use super::logo;

    #[test]
    fn only_harmless_png_and_svg() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend([0u8; 20]);
        assert_eq!(logo(&png), Ok("image/png"));
        assert!(logo(b"\x89PNG\r\n\x1a\nxxxxxxxx").is_err());
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><defs><linearGradient id="g"/></defs><rect fill="url(#g)" width="10" height="10"/></svg>"##;
        assert_eq!(logo(svg.as_bytes()), Ok("image/svg+xml"));
        for bad in [
            r#"<svg><script>alert(1)</script></svg>"#,
            r#"<svg onload="alert(1)"></svg>"#,
            r#"<svg><rect ONCLICK = "x"/></svg>"#,
            r#"<svg><rect/onload="x"/></svg>"#,
            r#"<svg><image href="https://tracker.example/p.png"/></svg>"#,
            r#"<svg><use xlink:href="other.svg#x"/></svg>"#,
            r#"<svg><style>@import url(https://x.example/a.css)</style></svg>"#,
            r#"<svg><rect fill="url(https://x.example/a)"/></svg>"#,
            r#"<!DOCTYPE svg [<!ENTITY x "y">]><svg/>"#,
            r#"<svg><foreignObject><iframe/></foreignObject></svg>"#,
            r#"<svg><a href="javascript:alert(1)"><rect/></a></svg>"#,
            "GIF89a",
            "",
        ] {
            assert!(logo(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(logo(&vec![b' '; 200 * 1024 + 1]).is_err());
        // A harmless attribute that merely contains "on" passes.
        assert!(logo(br#"<svg><text font-family="Lato, Montserrat">Bonn</text></svg>"#).is_ok());
    }
}
