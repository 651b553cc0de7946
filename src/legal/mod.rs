//! The civic frame every public service in Germany owes its citizens: Impressum (§ 5 DDG),
//! Datenschutzerklärung (Art. 13 DSGVO), Erklärung zur Barrierefreiheit with its feedback
//! mechanism and the Schlichtungsstelle (BITV 2.0 § 7, BGG § 16), Leichte Sprache and
//! Gebärdensprache (BITV 2.0 § 4), and help/contact.
//!
//! The content is the operator's: Markdown files in the configured folder
//! (`BUERGERKONTO_LEGAL_DIR`), `impressum.md` (German) and `impressum.en.md` (English), and so on
//! for each page. A page without a file shows the shipped German template, which says plainly
//! what the operator must fill in. Markdown is rendered safely: raw HTML is shown as text, links
//! and images only to http(s), mailto, tel or paths of this site.

pub mod feedback;

use crate::domain::lang::Lang;
use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use std::collections::HashMap;
use std::path::Path;

/// One of the legal pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Page {
    Impressum,
    Datenschutz,
    Barrierefreiheit,
    LeichteSprache,
    Gebaerdensprache,
    Hilfe,
}

impl Page {
    pub const ALL: [Page; 6] = [
        Page::Impressum,
        Page::Datenschutz,
        Page::Barrierefreiheit,
        Page::LeichteSprache,
        Page::Gebaerdensprache,
        Page::Hilfe,
    ];

    /// The file name without `.md`, and the page's path without its slash.
    #[must_use]
    pub fn slug(self) -> &'static str {
        match self {
            Page::Impressum => "impressum",
            Page::Datenschutz => "datenschutz",
            Page::Barrierefreiheit => "barrierefreiheit",
            Page::LeichteSprache => "leichte-sprache",
            Page::Gebaerdensprache => "gebaerdensprache",
            Page::Hilfe => "hilfe",
        }
    }

    fn default_de(self) -> &'static str {
        match self {
            Page::Impressum => include_str!("defaults/impressum.md"),
            Page::Datenschutz => include_str!("defaults/datenschutz.md"),
            Page::Barrierefreiheit => include_str!("defaults/barrierefreiheit.md"),
            Page::LeichteSprache => include_str!("defaults/leichte-sprache.md"),
            Page::Gebaerdensprache => include_str!("defaults/gebaerdensprache.md"),
            Page::Hilfe => include_str!("defaults/hilfe.md"),
        }
    }
}

/// A page's content, rendered.
#[derive(Clone, Debug)]
pub struct Content {
    /// Safe HTML (headings start at `h2`: the page has its own `h1`).
    pub html: String,
    /// The language the content is written in: German when a page has no English version,
    /// so that assistive technology reads it as German (WCAG 3.1.2).
    pub lang: Lang,
    /// Whether this is the shipped template (the operator has not provided the page).
    pub is_template: bool,
}

/// The largest operator file accepted (1 MiB).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// All legal pages, read once at start.
#[derive(Debug)]
pub struct LegalPages(HashMap<(Page, Lang), Content>);

impl LegalPages {
    /// Reads the operator's files from `dir` (a missing folder or file means the template).
    ///
    /// # Errors
    /// When a file exists but cannot be read, is larger than [`MAX_FILE_BYTES`] or is not
    /// UTF-8.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let read = |name: String| -> anyhow::Result<Option<String>> {
            let path = dir.join(&name);
            // A legal page is text: a file beyond this is a mistake (a wrong path, a PDF),
            // said at start rather than served.
            if let Ok(meta) = std::fs::metadata(&path)
                && meta.len() > MAX_FILE_BYTES
            {
                anyhow::bail!(
                    "{} is {} bytes; a legal page may have at most {MAX_FILE_BYTES}",
                    path.display(),
                    meta.len()
                );
            }
            match std::fs::read_to_string(&path) {
                // An empty file is no content: the template (which says what is missing) stays.
                Ok(s) if s.trim().is_empty() => Ok(None),
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
            }
        };
        let mut pages = HashMap::new();
        for page in Page::ALL {
            let de = read(format!("{}.md", page.slug()))?;
            let en = read(format!("{}.en.md", page.slug()))?;
            let german = Content {
                html: render_markdown(de.as_deref().unwrap_or(page.default_de())),
                lang: Lang::De,
                is_template: de.is_none(),
            };
            let english = match en {
                Some(text) => Content {
                    html: render_markdown(&text),
                    lang: Lang::En,
                    is_template: false,
                },
                None => german.clone(),
            };
            pages.insert((page, Lang::De), german);
            pages.insert((page, Lang::En), english);
        }
        Ok(Self(pages))
    }

    /// The shipped templates only.
    #[must_use]
    pub fn templates() -> Self {
        Self::load(Path::new("/nonexistent-legal-folder")).unwrap_or_else(|_| Self(HashMap::new()))
    }

    /// A page in the reader's language, or in German when there is no translation.
    #[must_use]
    pub fn get(&self, page: Page, lang: Lang) -> Option<&Content> {
        self.0.get(&(page, lang))
    }
}

/// Whether a link or image target is allowed: http(s), mailto, tel, or a path or fragment of
/// this site. Anything else (`javascript:`, `data:`, ...) is dropped.
fn safe_target(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("//") {
        return false;
    }
    match lower.split_once(':') {
        None => true,
        // A colon after a slash, `?` or `#` is part of a path, not a scheme.
        Some((scheme, _)) if scheme.contains(['/', '?', '#']) => true,
        Some((scheme, _)) => matches!(scheme, "http" | "https" | "mailto" | "tel"),
    }
}

/// A link or image target as it may stand in the page: itself if safe, `#` otherwise.
fn safe_dest(dest: CowStr<'_>) -> CowStr<'_> {
    if safe_target(&dest) {
        dest
    } else {
        CowStr::Borrowed("#")
    }
}

/// Moves a heading by `by` levels (at most `h6`).
fn shift(level: HeadingLevel, by: usize) -> HeadingLevel {
    HeadingLevel::try_from((level as usize + by).min(6)).unwrap_or(HeadingLevel::H6)
}

/// Markdown to HTML that can be put into a page as it is: raw HTML becomes text, unsafe link
/// and image targets become `#`, and headings move so that the highest is an `h2` (the page
/// has its own `h1`), keeping their order.
#[must_use]
pub fn render_markdown(md: &str) -> String {
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    let top = Parser::new_ext(md, opts)
        .filter_map(|e| match e {
            Event::Start(Tag::Heading { level, .. }) => Some(level as usize),
            _ => None,
        })
        .min()
        .unwrap_or(2);
    let by = 2usize.saturating_sub(top);
    let lower = |level| shift(level, by);
    let events = Parser::new_ext(md, opts).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level: lower(level),
            id,
            classes,
            attrs,
        }),
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(lower(level))),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_dest(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_dest(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_rendered_without_raw_html_or_script_links() {
        let html = render_markdown(
            "# Titel\n\n## Teil\n\n<script>alert(1)</script>\n\nText <b onclick=x>fett</b> [a](javascript:alert(1)) [b](https://example.de) [c](/hilfe) [d](mailto:a@b.de) [e](//evil.example) ![i](data:image/png;base64,AA)",
        );
        assert!(
            html.contains("<h2>Titel</h2>") && html.contains("<h3>Teil</h3>"),
            "{html}"
        );
        assert!(render_markdown("## A\n\n### B").contains("<h2>A</h2>\n<h3>B</h3>"));
        assert!(
            !html.contains("<script") && html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(
            !html.contains("<b ") && !html.contains("javascript:"),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="https://example.de">b</a>"#),
            "{html}"
        );
        assert!(html.contains(r#"<a href="/hilfe">c</a>"#), "{html}");
        assert!(html.contains(r#"<a href="mailto:a@b.de">d</a>"#), "{html}");
        assert!(
            !html.contains("evil.example") && !html.contains("data:"),
            "{html}"
        );
    }

    #[test]
    fn every_page_has_a_template_that_names_what_to_fill_in() {
        let pages = LegalPages::templates();
        for p in Page::ALL {
            let de = pages.get(p, Lang::De).expect("de");
            assert!(de.is_template && de.lang == Lang::De);
            assert!(de.html.contains("Betreiber"), "{p:?}");
            let en = pages.get(p, Lang::En).expect("en");
            assert_eq!(
                en.lang,
                Lang::De,
                "no English file: German content, marked German"
            );
        }
    }

    #[test]
    fn operator_files_replace_the_templates_per_language() {
        let dir = tempfile_dir();
        std::fs::write(dir.join("impressum.md"), "Landkreis Muster, Amtsstraße 1").ok();
        std::fs::write(dir.join("impressum.en.md"), "District of Muster").ok();
        let pages = LegalPages::load(&dir).expect("load");
        let de = pages.get(Page::Impressum, Lang::De).expect("de");
        assert!(!de.is_template && de.html.contains("Amtsstraße 1"));
        let en = pages.get(Page::Impressum, Lang::En).expect("en");
        assert!(en.lang == Lang::En && en.html.contains("District of Muster"));
        assert!(pages.get(Page::Hilfe, Lang::De).expect("hilfe").is_template);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn an_oversized_file_stops_the_start_with_its_name() {
        let dir = tempfile_dir();
        let big = "a".repeat(usize::try_from(MAX_FILE_BYTES).unwrap_or(0) + 1);
        std::fs::write(dir.join("datenschutz.md"), big).ok();
        let err = LegalPages::load(&dir).expect_err("too big");
        assert!(err.to_string().contains("datenschutz.md"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("bk-legal-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).ok();
        d
    }
}
