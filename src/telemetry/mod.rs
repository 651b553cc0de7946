//! Tracing: `RUST_LOG` filter (default `info`), human-readable or JSON (`BUERGERKONTO_LOG_FORMAT=json`).

pub mod metrics;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are ignored (tests call it per app).
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = std::env::var("BUERGERKONTO_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// An internal failure kept with its causes until it is logged.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shows an error with every cause below it (`outer: inner: root`), for the log.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_chain_shows_every_cause() {
        let e = Outer(std::io::Error::other("root"));
        assert_eq!(Chain(&e).to_string(), "outer: root");
        let boxed: Cause = "just text".into();
        assert_eq!(Chain(boxed.as_ref()).to_string(), "just text");
    }
}
