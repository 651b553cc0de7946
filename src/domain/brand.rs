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
