//! Copying a log into another store: online backup and restore.
//!
//! The copy replays every event up to a position, in order, with its
//! original stream, version, id, type, schema version, payload and metadata,
//! into an empty store. Because positions, versions and bytes are the same,
//! the copy's hash chain is the source's: the last hash of the copy equals
//! the source's hash at that position, which [`copy_log`] checks before it
//! reports success. It reads through [`EventStore::read_all`], so the source
//! keeps serving appends while it runs; events after the chosen position are
//! not copied.
//!
//! Stream secrets go with their streams: each stream's secret, as the source
//! holds it when the stream's first event is copied, is set with that first
//! append. A secret destroyed before the copy began is therefore not copied,
//! and one destroyed while it runs may be (its destruction is then after the
//! copied position, so the copy is the store as it was at that position).

use crate::{
    EventStore, ExpectedVersion, Filter, NewEvent, RecordedEvent, SecretChange, StoreError,
};

/// Events read per page while copying.
pub const COPY_PAGE: usize = 4_096;

/// What a copy wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyReport {
    /// Events copied (= the last position copied).
    pub events: u64,
    /// The hash of the last event copied, equal in source and copy.
    pub last_hash: [u8; 32],
}

/// Copies events `1..=upto` of `source` into the empty store `dest`;
/// `progress(copied, upto)` after each page.
pub async fn copy_log<S: EventStore, D: EventStore>(
    source: &S,
    dest: &D,
    upto: u64,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<CopyReport, StoreError> {
    if dest.head_position().await? != 0 {
        return Err(StoreError::InvalidArgument(
            "the destination store is not empty".to_owned(),
        ));
    }
    let head = source.head_position().await?;
    if upto > head {
        return Err(StoreError::InvalidArgument(format!(
            "cannot copy up to position {upto}: the log ends at {head}"
        )));
    }
    let mut copied = 0u64;
    let mut last_hash = [0; 32];
    while copied < upto {
        let page = source
            .read_all(copied + 1, COPY_PAGE, &Filter::default())
            .await?;
        let page: Vec<RecordedEvent> = page
            .into_iter()
            .take_while(|e| e.position <= upto)
            .collect();
        if page.is_empty() {
            return Err(StoreError::Corrupt {
                position: copied + 1,
                reason: "the source log ended before the copy's end".to_owned(),
            });
        }
        // Consecutive events of one stream go in one append, as they were
        // (most likely) written; each append states the version it expects.
        let mut start = 0;
        while start < page.len() {
            let stream = &page[start].stream;
            let mut end = start + 1;
            while end < page.len() && page[end].stream == *stream && end - start < 100 {
                end += 1;
            }
            let run = &page[start..end];
            let expected = match run[0].version {
                0 => ExpectedVersion::NoStream,
                v => ExpectedVersion::Exact(v - 1),
            };
            let events = run
                .iter()
                .map(|e| NewEvent {
                    id: e.id,
                    event_type: e.event_type.clone(),
                    schema_version: e.schema_version,
                    payload: e.payload.clone(),
                    metadata: e.metadata.clone(),
                })
                .collect();
            let secret = match run[0].version {
                0 => source
                    .stream_secret(stream)
                    .await?
                    .map_or(SecretChange::Keep, SecretChange::Set),
                _ => SecretChange::Keep,
            };
            let outcome = dest
                .append_with_secret(stream, expected, events, secret)
                .await?;
            let last = &run[run.len() - 1];
            if outcome.last_position != last.position || outcome.last_version != last.version {
                return Err(StoreError::Corrupt {
                    position: last.position,
                    reason: format!(
                        "the copy placed it at position {} version {}",
                        outcome.last_position, outcome.last_version
                    ),
                });
            }
            start = end;
        }
        let last = &page[page.len() - 1];
        copied = last.position;
        last_hash = last.hash;
        progress(copied, upto);
    }
    if copied > 0 {
        let check = dest.read_all(copied, 1, &Filter::default()).await?;
        if check.first().map(|e| e.hash) != Some(last_hash) {
            return Err(StoreError::Corrupt {
                position: copied,
                reason: "the copy's hash chain differs from the source's".to_owned(),
            });
        }
    }
    Ok(CopyReport {
        events: copied,
        last_hash,
    })
}
