//! Live pages: `GET /dashboard/live` is a server-sent event stream of the
//! ledger's applied log position (event `applied`), sent at once and then
//! whenever the projection runner, which follows the log subscription,
//! applies more events. Bursts are coalesced to at most one message per
//! [`COALESCE`]; a comment every [`KEEP_ALIVE`] keeps proxies from closing
//! an idle stream. The page script ([`script`]) refetches the page when the
//! position differs from the one it was rendered at.
//!
//! Only a signed-in session may listen; the stream carries nothing but
//! positions.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use tokio::sync::watch;

use super::{Dashboard, layout::LIVE_JS};

/// Shortest time between two messages.
pub const COALESCE: Duration = Duration::from_millis(300);
/// Longest silence before a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One SSE message.
fn message(position: u64) -> String {
    format!("event: applied\ndata: {position}\n\n")
}

/// The stream's next chunk: the position when it moves, else a keep-alive;
/// `None` when the server stops.
async fn next(
    applied: &mut watch::Receiver<u64>,
    stop: &mut watch::Receiver<bool>,
) -> Option<String> {
    tokio::select! {
        () = async {
            // The guard `wait_for` returns is dropped at once, not held.
            let _ = stop.wait_for(|stopping| *stopping).await.is_ok();
        } => None,
        moved = tokio::time::timeout(KEEP_ALIVE, applied.changed()) => match moved {
            Ok(Ok(())) => {
                tokio::time::sleep(COALESCE).await;
                Some(message(*applied.borrow_and_update()))
            }
            Ok(Err(_)) => None,
            Err(_) => Some(": keep-alive\n\n".to_owned()),
        },
    }
}

/// `GET /dashboard/live`.
pub async fn feed(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if dashboard.identity(&headers).is_none() {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .body(Body::empty())
            .expect("a static response is valid");
    }
    let mut applied = dashboard.state.ledger.watch();
    let first = message(*applied.borrow_and_update());
    let stop = dashboard.stop.clone();
    let stream = futures::stream::unfold(
        (Some(first), applied, stop),
        |(pending, mut applied, mut stop)| async move {
            let chunk = match pending {
                Some(chunk) => chunk,
                None => next(&mut applied, &mut stop).await?,
            };
            Some((Ok::<_, std::io::Error>(chunk), (None, applied, stop)))
        },
    );
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from_stream(stream))
        .expect("a static response is valid")
}

/// `GET /dashboard/assets/live.js`: the page script, from the binary.
pub async fn script() -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/javascript; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from(LIVE_JS))
        .expect("a static response is valid")
}
