//! Metrics in the Prometheus text format (exposition format 0.0.4), without a metrics crate:
//! counters with a few static labels, latency histograms per route, and gauges that the
//! scrape reads from their owners (database, Redis, backlogs, keys) at the time of the scrape.
//!
//! One [`Metrics`] handle per application (no globals): the web layer and the services record
//! into it, `/metrics` renders it. Label values are `&'static str` (route templates are
//! interned), so the number of series is bounded by the code, never by what a client sends.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// Upper bounds (seconds) of the request latency buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Up to three label pairs; unused pairs have an empty name.
pub type Labels = [(&'static str, &'static str); 3];

/// The metrics of one application; cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    counters: RwLock<HashMap<(&'static str, Labels), AtomicU64>>,
    http: RwLock<HashMap<RequestKey, Arc<Histogram>>>,
    routes: RwLock<HashMap<String, &'static str>>,
    help: Mutex<HashMap<&'static str, &'static str>>,
}

/// Route template, method, status.
type RequestKey = (&'static str, &'static str, u16);

/// A latency histogram (counts per bucket, not cumulative until rendered).
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// Builds the label array of a counter from one to three pairs.
#[must_use]
pub fn labels(pairs: &[(&'static str, &'static str)]) -> Labels {
    let mut l = [("", ""); 3];
    for (slot, pair) in l.iter_mut().zip(pairs) {
        *slot = *pair;
    }
    l
}

impl Metrics {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one to the counter `name` with these labels (`name` ends in `_total`).
    pub fn inc(&self, name: &'static str, pairs: &[(&'static str, &'static str)]) {
        self.add(name, pairs, 1);
    }

    /// Adds `n` to the counter `name` with these labels. Counting a known series takes a
    /// shared lock only (hot paths count from every core at once).
    pub fn add(&self, name: &'static str, pairs: &[(&'static str, &'static str)], n: u64) {
        let key = (name, labels(pairs));
        if let Some(c) = self
            .inner
            .counters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            c.fetch_add(n, Ordering::Relaxed);
            return;
        }
        self.inner
            .counters
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .fetch_add(n, Ordering::Relaxed);
    }

    /// The help line of a metric (shown once in the output).
    pub fn describe(&self, name: &'static str, help: &'static str) {
        self.inner
            .help
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, help);
    }

    /// The value of a counter (for tests and the scrape's own checks).
    #[must_use]
    pub fn counter(&self, name: &'static str, pairs: &[(&'static str, &'static str)]) -> u64 {
        self.inner
            .counters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(name, labels(pairs)))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Records one HTTP request: its route template (`None`: no route matched), method,
    /// status and duration.
    pub fn observe_request(&self, route: Option<&str>, method: &str, status: u16, d: Duration) {
        let method = static_method(method);
        let route = self.intern(route.unwrap_or("unmatched"));
        let key = (route, method, status);
        if let Some(h) = self
            .inner
            .http
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            h.observe(d);
            return;
        }
        let h = Arc::clone(
            self.inner
                .http
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key)
                .or_default(),
        );
        h.observe(d);
    }

    /// One static copy of each route template, usable as a label value. Route templates are
    /// few and fixed by the code (unmatched paths are all `unmatched`), so what is kept for
    /// the process's lifetime is bounded.
    #[must_use]
    pub fn intern(&self, route: &str) -> &'static str {
        if let Some(a) = self
            .inner
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
        {
            return a;
        }
        self.inner
            .routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(route.to_owned())
            .or_insert_with(|| Box::leak(route.to_owned().into_boxed_str()))
    }

    /// The counters and histograms in the text format; `gauges` are appended as given.
    #[must_use]
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let help = self
            .inner
            .help
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Counters, grouped by name.
        let mut counters: Vec<_> = self
            .inner
            .counters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (*k, v.load(Ordering::Relaxed)))
            .collect();
        counters.sort_unstable();
        let mut last = "";
        for ((name, labels), value) in counters {
            if name != last {
                header(&mut out, name, help.get(name).copied(), "counter");
                last = name;
            }
            let _ = writeln!(out, "{name}{} {value}", render_labels(&labels, None));
        }
        // Requests: one histogram per route, method and status.
        let mut http: Vec<_> = self
            .inner
            .http
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (*k, Arc::clone(v)))
            .collect();
        http.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let name = "buergerkonto_http_request_duration_seconds";
        header(
            &mut out,
            name,
            Some("HTTP requests by route template, method and status, and their duration."),
            "histogram",
        );
        for ((route, method, status), h) in http {
            let base = format!(
                "route=\"{}\",method=\"{method}\",status=\"{status}\"",
                escape(route)
            );
            let mut cumulative = 0u64;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(out, "{name}_bucket{{{base},le=\"{bound}\"}} {cumulative}");
            }
            cumulative += h.buckets[BUCKETS.len()].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{base},le=\"+Inf\"}} {cumulative}");
            #[allow(clippy::cast_precision_loss)]
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "{name}_sum{{{base}}} {sum}");
            let _ = writeln!(out, "{name}_count{{{base}}} {cumulative}");
        }
        // Gauges, grouped by name in the order given.
        let mut last = "";
        for g in gauges {
            if g.name != last {
                header(&mut out, g.name, Some(g.help), "gauge");
                last = g.name;
            }
            let _ = writeln!(
                out,
                "{}{} {}",
                g.name,
                render_labels(&g.labels, None),
                g.value
            );
        }
        out
    }
}

/// A gauge read at scrape time.
#[derive(Clone, Debug)]
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: Labels,
    pub value: f64,
}

impl Gauge {
    #[must_use]
    pub fn new(name: &'static str, help: &'static str, value: f64) -> Self {
        Self {
            name,
            help,
            labels: labels(&[]),
            value,
        }
    }

    #[must_use]
    pub fn with(mut self, pairs: &[(&'static str, &'static str)]) -> Self {
        self.labels = labels(pairs);
        self
    }
}

fn header(out: &mut String, name: &str, help: Option<&str>, kind: &str) {
    if let Some(h) = help {
        let _ = writeln!(out, "# HELP {name} {h}");
    }
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn render_labels(labels: &Labels, extra: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(e) = extra {
        parts.push(e.to_owned());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Label values escape backslash, quote and newline (the text format's rule).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The standard methods as static strings; anything else is `other` (bounded series).
fn static_method(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_the_text_format() {
        let m = Metrics::new();
        m.describe("buergerkonto_logins_total", "Logins by outcome.");
        m.inc("buergerkonto_logins_total", &[("outcome", "success")]);
        m.inc("buergerkonto_logins_total", &[("outcome", "success")]);
        m.inc("buergerkonto_logins_total", &[("outcome", "invalid")]);
        m.observe_request(Some("/token"), "POST", 200, Duration::from_millis(3));
        m.observe_request(Some("/token"), "POST", 200, Duration::from_secs(20));
        m.observe_request(None, "BREW", 404, Duration::from_micros(10));
        let text = m.render(&[Gauge::new("buergerkonto_up", "Up.", 1.0).with(&[("db", "a\"b")])]);
        assert!(text.contains("# HELP buergerkonto_logins_total Logins by outcome.\n"));
        assert!(text.contains("# TYPE buergerkonto_logins_total counter\n"));
        assert!(text.contains("buergerkonto_logins_total{outcome=\"success\"} 2\n"));
        assert!(text.contains("buergerkonto_logins_total{outcome=\"invalid\"} 1\n"));
        let b = "buergerkonto_http_request_duration_seconds_bucket{route=\"/token\",method=\"POST\",status=\"200\"";
        assert!(text.contains(&format!("{b},le=\"0.0025\"}} 0\n")), "{text}");
        assert!(text.contains(&format!("{b},le=\"0.005\"}} 1\n")));
        assert!(text.contains(&format!("{b},le=\"10\"}} 1\n")));
        assert!(text.contains(&format!("{b},le=\"+Inf\"}} 2\n")));
        assert!(text.contains("_count{route=\"/token\",method=\"POST\",status=\"200\"} 2\n"));
        assert!(text.contains("_sum{route=\"/token\",method=\"POST\",status=\"200\"} 20.003\n"));
        assert!(text.contains("route=\"unmatched\",method=\"other\",status=\"404\""));
        assert!(text.contains("buergerkonto_up{db=\"a\\\"b\"} 1\n"));
        assert_eq!(
            m.counter("buergerkonto_logins_total", &[("outcome", "success")]),
            2
        );
    }
}
