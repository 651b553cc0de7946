//! Languages of pages and mail: German first, English second.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    De,
    En,
}

impl Lang {
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    /// The first supported language in a list of language tags (`ui_locales` is
    /// space-separated, `Accept-Language` comma-separated with q-values, which we take in
    /// order as browsers send them by preference).
    #[must_use]
    pub fn pick(tags: &str) -> Option<Lang> {
        tags.split([' ', ','])
            .map(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .find_map(|t| match t.split('-').next() {
                Some("de") => Some(Lang::De),
                Some("en") => Some(Lang::En),
                _ => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_first_supported() {
        assert_eq!(Lang::pick("fr-CA en de"), Some(Lang::En));
        assert_eq!(Lang::pick("de-DE,de;q=0.9,en;q=0.8"), Some(Lang::De));
        assert_eq!(Lang::pick("fr"), None);
        assert_eq!(Lang::pick(""), None);
    }
}
