//! The one rule for control characters in text from outside: every text that reaches the
//! store or a page passes it at the edge (parameters, forms, JSON bodies, Basic
//! credentials), once. PostgreSQL refuses NUL in `text` (a 500 if it got that far), SQLite
//! stores it, and other control characters have no business in names, ids or messages.
//! Tab, line feed and carriage return stay allowed: multi-line text (a message body, a
//! reply) needs them; single-line fields refuse them in their own checks.

/// C0 controls except TAB, LF and CR; DEL; the C1 controls.
#[must_use]
pub fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Whether `s` has a forbidden control character.
#[must_use]
pub fn has_forbidden_controls(s: &str) -> bool {
    s.chars().any(is_forbidden_control)
}

/// Whether any string in a JSON document has a forbidden control character, raw or as a
/// `\u` escape. One pass over the bytes, without parsing: it runs before the document is
/// deserialised into whatever type the endpoint wants.
#[must_use]
pub fn json_has_forbidden_controls(json: &[u8]) -> bool {
    let mut in_string = false;
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        if !in_string {
            in_string = b == b'"';
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = false,
            b'\\' => {
                if json.get(i + 1) == Some(&b'u') {
                    let unit = json
                        .get(i + 2..i + 6)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u32::from_str_radix(h, 16).ok());
                    if unit
                        .and_then(char::from_u32)
                        .is_some_and(is_forbidden_control)
                    {
                        return true;
                    }
                    i += 6;
                } else {
                    i += 2;
                }
                continue;
            }
            // DEL and the C1 controls (U+0080..U+009F are C2 80..C2 9F in UTF-8); raw C0
            // bytes are not valid JSON anyway.
            0x7f => return true,
            0xc2 if json.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)) => return true,
            0x00..=0x1f if !matches!(b, b'\t' | b'\n' | b'\r') => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_in_text() {
        assert!(!has_forbidden_controls("Zeile 1\nZeile 2\tmit Tab\r\n"));
        assert!(has_forbidden_controls("a\u{0}b"));
        assert!(has_forbidden_controls("a\u{7f}b"));
        assert!(has_forbidden_controls("a\u{85}b"));
        assert!(!has_forbidden_controls("Größe äöü ß €"));
    }

    #[test]
    fn controls_in_json() {
        assert!(!json_has_forbidden_controls(br#"{"a":"x\ny\t","b":[1,2]}"#));
        assert!(json_has_forbidden_controls(br#"{"a":"x\u0000"}"#));
        assert!(json_has_forbidden_controls(br#"{"a":"\u001F"}"#));
        assert!(json_has_forbidden_controls(br#"{"a\u0000":1}"#));
        assert!(json_has_forbidden_controls("{\"a\":\"\u{85}\"}".as_bytes()));
        assert!(json_has_forbidden_controls("{\"a\":\"\u{7f}\"}".as_bytes()));
        // An escaped backslash followed by text that looks like an escape is text.
        assert!(!json_has_forbidden_controls(br#"{"a":"C:\\u0000"}"#));
        assert!(!json_has_forbidden_controls(br#"{"a":"\"\u00e4\""}"#));
        assert!(!json_has_forbidden_controls("{\"a\":\"äöü\"}".as_bytes()));
    }
}
