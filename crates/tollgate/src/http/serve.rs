//! The accept loop. Each connection is served by hyper (HTTP/1.1, and HTTP/2 without TLS) on a
//! task of its own, with `TCP_NODELAY` (without it a stream's small writes wait on the client's
//! delayed ACK, ~40 ms).
//!
//! A connection's task is polled through [`Latched`]: hyper's connection and the request's
//! handler hand each other the request body and the response through channels, and the handler
//! drives its upstream connection in the same task, so every request has the task wake itself
//! a few times. Left to tokio, each such wake reschedules the task and wakes the runtime's other
//! worker thread to come and take it; latched, the task is polled again on the spot.

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tollgate_llm::wake::Latched;

use super::layer::Front;

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, asks every
/// connection to close once its requests are answered, and waits until they have.
pub async fn serve(listener: TcpListener, app: Front, shutdown: impl Future<Output = ()>) {
    let connections = GracefulShutdown::new();
    let builder = Builder::new(TokioExecutor::new());
    let service = TowerToHyperService::new(app);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    refused(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY on a connection: {e}");
        }
        let conn = builder
            .serve_connection(TokioIo::new(tcp), service.clone())
            .into_owned();
        let conn = connections.watch(conn);
        tokio::spawn(Latched::new(async move {
            if let Err(e) = conn.await {
                tracing::trace!("connection ended: {e}");
            }
        }));
    }
    drop(listener);
    connections.shutdown().await;
}

/// After a failed accept: one that concerns only that connection is skipped; any other (out of
/// file descriptors, out of memory) is logged and the loop pauses a second before accepting again.
async fn refused(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("cannot accept a connection: {e}; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
