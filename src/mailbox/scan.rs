//! Attachment scanning with a ClamAV daemon (`clamd`, Debian's `clamav-daemon`), over its
//! TCP port or Unix socket, by its `INSTREAM` command: the file travels in length-prefixed
//! chunks, clamd answers `stream: OK` or `stream: NAME FOUND`. Every attachment, in both
//! directions, is scanned before it is accepted; a scanner that cannot be reached refuses
//! the upload (503) unless the operator chose fail-open.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long one scan may take, connection included.
const SCAN_TIMEOUT: Duration = Duration::from_secs(30);
/// Chunk size for `INSTREAM` (below clamd's `StreamMaxLength` chunking limits).
const CHUNK: usize = 64 * 1024;
/// Longest answer read.
const MAX_REPLY: usize = 1024;

/// Where clamd listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClamdAddr {
    Tcp(String),
    Unix(std::path::PathBuf),
}

impl ClamdAddr {
    /// `tcp://HOST:PORT` or `unix:///PATH`.
    ///
    /// # Errors
    /// A sentence naming the accepted forms.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(hp) = s.strip_prefix("tcp://") {
            if hp
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            {
                return Ok(Self::Tcp(hp.to_owned()));
            }
        } else if let Some(path) = s.strip_prefix("unix://")
            && path.starts_with('/')
        {
            return Ok(Self::Unix(path.into()));
        }
        Err(format!(
            "clamd address {s:?} must be tcp://HOST:PORT or unix:///PATH"
        ))
    }
}

/// The scanner, as configured.
#[derive(Clone, Debug, Default)]
pub enum Scanner {
    /// No scanner configured: attachments are accepted unscanned.
    #[default]
    Off,
    Clamd {
        addr: ClamdAddr,
        /// Accept attachments when clamd cannot be reached (logged), instead of refusing.
        fail_open: bool,
    },
}

/// What a scan found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// clamd's signature name.
    Infected(String),
    /// No scanner configured, or it was unreachable with fail-open.
    NotScanned,
}

/// The scanner cannot answer.
#[derive(Debug, thiserror::Error)]
#[error("the virus scanner cannot be reached: {0}")]
pub struct ScanUnavailable(pub String);

impl Scanner {
    /// Scans one file.
    ///
    /// # Errors
    /// When clamd cannot be reached or answers with an error (and fail-open is off).
    pub async fn scan(&self, data: &[u8]) -> Result<Verdict, ScanUnavailable> {
        let Scanner::Clamd { addr, fail_open } = self else {
            return Ok(Verdict::NotScanned);
        };
        let outcome = tokio::time::timeout(SCAN_TIMEOUT, async {
            match addr {
                ClamdAddr::Tcp(hp) => {
                    let s = tokio::net::TcpStream::connect(hp.as_str()).await?;
                    instream(s, data).await
                }
                ClamdAddr::Unix(path) => {
                    let s = tokio::net::UnixStream::connect(path).await?;
                    instream(s, data).await
                }
            }
        })
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("timed out")));
        let failure = match outcome {
            Ok(reply) => match parse_reply(&reply) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            },
            Err(e) => e.to_string(),
        };
        if *fail_open {
            tracing::warn!(error = %failure, "virus scanner unavailable: accepted unscanned (fail-open)");
            Ok(Verdict::NotScanned)
        } else {
            tracing::error!(error = %failure, "virus scanner unavailable: upload refused");
            Err(ScanUnavailable(failure))
        }
    }
}

async fn instream<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    data: &[u8],
) -> std::io::Result<String> {
    s.write_all(b"zINSTREAM\0").await?;
    for chunk in data.chunks(CHUNK) {
        let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        s.write_all(&len.to_be_bytes()).await?;
        s.write_all(chunk).await?;
    }
    s.write_all(&0u32.to_be_bytes()).await?;
    s.flush().await?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    while !reply.ends_with(b"\0") && reply.len() < MAX_REPLY {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&reply)
        .trim_end_matches('\0')
        .trim()
        .to_owned())
}

/// `stream: OK`, `stream: NAME FOUND`, or an error (`... ERROR`, a size limit, nothing).
fn parse_reply(reply: &str) -> Result<Verdict, String> {
    let rest = reply.strip_prefix("stream:").map(str::trim);
    match rest {
        Some("OK") => Ok(Verdict::Clean),
        Some(r) if r.ends_with(" FOUND") => Ok(Verdict::Infected(
            r.trim_end_matches(" FOUND").chars().take(200).collect(),
        )),
        _ => Err(format!("clamd answered {reply:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_addresses() {
        assert_eq!(parse_reply("stream: OK"), Ok(Verdict::Clean));
        assert_eq!(
            parse_reply("stream: Eicar-Test-Signature FOUND"),
            Ok(Verdict::Infected("Eicar-Test-Signature".into()))
        );
        assert!(parse_reply("INSTREAM size limit exceeded. ERROR").is_err());
        assert!(parse_reply("").is_err());
        assert_eq!(
            ClamdAddr::parse("tcp://127.0.0.1:3310"),
            Ok(ClamdAddr::Tcp("127.0.0.1:3310".into()))
        );
        assert!(ClamdAddr::parse("unix:///run/clamav/clamd.ctl").is_ok());
        assert!(ClamdAddr::parse("127.0.0.1:3310").is_err());
        assert!(ClamdAddr::parse("tcp://:x").is_err());
    }
}
