//! The HTTP/1.1 accept loop, with the limits a public server needs and `axum::serve` does
//! not set:
//!
//! - **Header read and idle timeout.** A connection that does not complete a request head
//!   within `header_timeout` (also while idle between keep-alive requests) is closed. Slow or
//!   silent clients cannot hold connections for minutes.
//! - **A connection cap** below the open-file limit (which is raised to its hard limit at
//!   start). At the cap no further connection is accepted until one closes: new clients
//!   wait in the kernel's backlog instead of the process running out of file descriptors.
//! - **Bounded shutdown.** On the signal, the listener closes, idle connections close, running
//!   requests may finish within `grace`; then whatever is left is dropped and the process
//!   exits.
//!
//! - **Stalled bodies.** A request body that pauses longer than `body_timeout` ends with an
//!   error, which the extractors answer with `400` ([`StallTimeout`]). The timer exists only
//!   while the body is actually waiting: a body already in the buffer costs none.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// File descriptors kept free of connections: database and Redis pools, outgoing HTTP, files.
const RESERVED_FDS: u64 = 128;

/// The server's limits (from the configuration).
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    /// Longest wait for a complete request head, and longest idle keep-alive.
    pub header_timeout: Duration,
    /// Longest pause within a request body.
    pub body_timeout: Duration,
    /// Most connections open at once (lowered to fit the open-file limit).
    pub max_connections: usize,
    /// How long running requests may take to finish after the shutdown signal.
    pub grace: Duration,
}

/// Raises the soft open-file limit to the hard one where allowed, and returns how many
/// connections fit under it.
fn connection_cap(wanted: usize) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => limit = getrlimit(Resource::Nofile),
            Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
        }
    }
    let fits = limit.current.map_or(usize::MAX, |n| {
        usize::try_from(n.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX)
    });
    let cap = wanted.min(fits).max(1);
    if cap < wanted {
        tracing::warn!(
            open_file_limit = limit.current,
            connections = cap,
            "the open-file limit allows fewer connections than configured"
        );
    }
    cap
}

/// Serves `router` on `listener` until `shutdown` completes, then drains as described in
/// the module doc.
///
/// # Errors
/// Never at present; accept errors are logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(connection_cap(limits.max_connections)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .max_headers(100);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a little.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let body_timeout = limits.body_timeout;
        let service = router
            .clone()
            .map_request(move |req: axum::extract::Request<Incoming>| {
                let mut req =
                    req.map(|b| axum::body::Body::new(StallTimeout::new(b, body_timeout)));
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing running requests");
    if tokio::time::timeout(limits.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = limits.grace.as_secs(),
            "requests still running after the grace period were cut"
        );
    }
    Ok(())
}

/// A request body that fails when it pauses longer than its timeout between two frames.
pub struct StallTimeout {
    body: Incoming,
    timeout: Duration,
    /// Armed only while the body is waiting for data.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl StallTimeout {
    #[must_use]
    pub fn new(body: Incoming, timeout: Duration) -> Self {
        Self {
            body,
            timeout,
            sleep: None,
        }
    }
}

/// The error of a stalled body.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled")]
pub struct Stalled;

impl HttpBody for StallTimeout {
    type Data = axum::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(Stalled)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
