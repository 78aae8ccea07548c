//! `rectify watch`: follows the event log live, catch-up first, one line
//! (or one JSON object) per event; `rectify complaint watch ID` follows one
//! complaint's stream through [`follow`].

use clap::Args;
use futures::StreamExt as _;

use super::{
    connect::{Connection, client},
    output::{call, print_event, status_error, to_json},
};
use crate::pb::{self, event_service_client::EventServiceClient};

/// `rectify watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Server and identity.
    #[command(flatten)]
    conn: Connection,
    /// First position to show.
    #[arg(long, default_value_t = 1)]
    from: u64,
    /// Only streams starting with this, e.g. `complaint-`.
    #[arg(long)]
    stream_prefix: Option<String>,
    /// Only these event types (repeatable).
    #[arg(long = "type")]
    event_types: Vec<String>,
    /// Stop after this many events.
    #[arg(long)]
    limit: Option<u64>,
}

/// `rectify watch`.
pub(super) async fn run(args: WatchArgs) -> anyhow::Result<()> {
    let filter = pb::EventFilter {
        stream_prefix: args.stream_prefix.unwrap_or_default(),
        event_types: args.event_types,
    };
    follow(&args.conn, args.from, filter, args.limit).await
}

/// Prints the events `filter` lets through from position `from` on, live,
/// until `limit` events were seen (or forever).
pub(super) async fn follow(
    conn: &Connection,
    from: u64,
    filter: pb::EventFilter,
    limit: Option<u64>,
) -> anyhow::Result<()> {
    let mut client = client(conn, EventServiceClient::new).await?;
    let mut stream = call(client.subscribe(pb::SubscribeRequest {
        from_position: from,
        filter: Some(filter),
    }))
    .await?;
    let mut seen = 0u64;
    while let Some(item) = stream.next().await {
        let response = item.map_err(status_error)?;
        if let Some(event) = response.event {
            if conn.json {
                println!("{}", to_json("rectify.v1.Event", &event)?.replace('\n', ""));
            } else {
                print_event(&event);
            }
        }
        seen += 1;
        if limit.is_some_and(|limit| seen >= limit) {
            break;
        }
    }
    Ok(())
}
