//! Opening a format-3 log: the segment file is the truth, sled's indexes
//! follow it.
//!
//! sled's `Mindexed` marker says through which position (and segment
//! offset) the `B` and `T` entries and the stream count are in sled; it is
//! written in the same `sled::Batch` as them, and sled recovers a prefix of
//! its batches, so nothing after it is indexed. [`recover`] reads the
//! segment file from there: every whole commit is indexed again, and the
//! first unfinished one (records after the last end flag, a record cut
//! short, a damaged frame, or, in a log written by format 4, a secret
//! change sled does not confirm) is cut
//! off with everything after it. A record whose value is damaged but which
//! a good record follows is damage inside the log, not a torn tail: the
//! open fails with [`StoreError::Corrupt`] rather than drop good commits.
//! A commit's secrets record (format 5) is staged like the writer stages
//! it: the secrets it sets and destroys go to sled with the commit's other
//! entries, and the copies they make obsolete are listed for erasure, which
//! the open carries out once sled holds the list durably.
//! The event ids are not in sled: `idruns` indexes the ids after its runs
//! from the segment file once this is done.

use crate::StoreError;
use crate::batch;
use crate::envelope::{self, GENESIS_HASH};
use crate::keys::{INDEXED_KEY, STREAMS_KEY, storage};
use crate::secrets::{self as secrets_record, Change};
use crate::segment::{CONFIRM, END, FRAME, Next, Records, SECRETS};
use crate::sled_store::{
    BATCH, Body, Loc, STREAM, StagedSecrets, batch_key, be_u64, indexed_value, stream_key,
    stream_prefix,
};

/// Index entries removed per sled batch when clearing the index.
const CLEAR_STEP: usize = 16_384;
/// First read of the tail scan.
const TAIL_READ: usize = 1 << 20;

/// The state of an opened log.
pub(crate) struct Recovered {
    /// Last position.
    pub(crate) head: u64,
    /// Hash of the event at `head`.
    pub(crate) hash: [u8; 32],
    /// Bytes of the segment file.
    pub(crate) len: u64,
    /// Streams with at least one event.
    pub(crate) streams: u64,
}

/// Brings sled's indexes up to the segment file, cutting an unfinished
/// commit off its end. With `rebuild_if_ahead` (the store runs with
/// [`Durability::Interval`](crate::Durability::Interval), whose segment
/// syncs lag sled's), an index naming more of the segment file than there
/// is is rebuilt from the file instead of refused. Blocking.
pub(crate) fn recover(body: &Body, rebuild_if_ahead: bool) -> Result<Recovered, StoreError> {
    recover_from(body, rebuild_if_ahead, Secrets::Stage)
}

/// Whether re-indexing stages the secrets records it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secrets {
    /// Yes: they are after `Mindexed`, so sled does not hold them.
    Stage,
    /// No: sled was ahead of the whole segment file, so it durably holds
    /// every secret change the file has (a commit changing secrets syncs
    /// the file before sled sees it), and later ones (a re-wrapped key)
    /// must not be undone.
    Keep,
}

fn recover_from(
    body: &Body,
    rebuild_if_ahead: bool,
    secrets: Secrets,
) -> Result<Recovered, StoreError> {
    let db = &body.db;
    let (indexed, start) = match db.get(INDEXED_KEY).map_err(storage)? {
        None => (0, 0),
        Some(value) if value.len() == 16 => (be_u64(&value[..8], 0)?, be_u64(&value[8..], 0)?),
        Some(_) => {
            return Err(StoreError::Corrupt {
                position: 0,
                reason: "the index marker has the wrong length".into(),
            });
        }
    };
    let file_len = body.file.metadata()?.len();
    if start > file_len && rebuild_if_ahead {
        tracing::warn!(
            indexed,
            file_len,
            "the event log's index is ahead of its segment file (a power loss with \
             interval durability): indexing the segment file again from the start"
        );
        clear_index(&body.db)?;
        return recover_from(body, false, Secrets::Keep);
    }
    if start > file_len {
        return Err(StoreError::Corrupt {
            position: indexed,
            reason: format!(
                "the segment file has {file_len} bytes; its index names records up to byte {start}"
            ),
        });
    }
    let mut streams = match db.get(STREAMS_KEY).map_err(storage)? {
        None => 0,
        Some(value) => be_u64(&value, 0)?,
    };
    let (len, head) = reindex_tail(body, indexed, start, file_len, &mut streams, secrets)?;
    if len < file_len {
        tracing::warn!(
            cut = file_len - len,
            head,
            "cutting an unfinished commit off the end of the event log"
        );
        body.file.set_len(len)?;
        body.file.sync_all()?;
    }
    let hash = last_hash(body, head, len)?;
    Ok(Recovered {
        head,
        hash,
        len,
        streams,
    })
}

/// A run of one stream's events being rebuilt.
struct OpenRun {
    stream: String,
    first_version: u64,
    last_version: u64,
    loc: Loc,
    count: u32,
}

/// The sled writes of one commit being re-indexed.
#[derive(Default)]
struct Commit {
    writes: sled::Batch,
    run: Option<OpenRun>,
    new_streams: u64,
    secrets: StagedSecrets,
}

impl Commit {
    fn add(&mut self, loc: Loc, envelope: &[u8]) -> Result<(), StoreError> {
        let event = envelope::decode(envelope, loc.position())?;
        if let Some(open) = &mut self.run
            && open.stream == event.stream
            && open.last_version + 1 == event.version
        {
            open.last_version = event.version;
            open.count += 1;
            return Ok(());
        }
        self.close_run();
        self.run = Some(OpenRun {
            stream: event.stream,
            first_version: event.version,
            last_version: event.version,
            loc,
            count: 1,
        });
        Ok(())
    }

    fn close_run(&mut self) {
        if let Some(run) = self.run.take() {
            if run.first_version == 0 {
                self.new_streams += 1;
            }
            self.writes.insert(
                stream_key(&stream_prefix(&run.stream), run.first_version),
                &run.loc.encode_run(run.count),
            );
        }
    }
}

/// Indexes the whole commits after `indexed` (from segment offset
/// `start`); returns the segment length they end at and the last position.
fn reindex_tail(
    body: &Body,
    indexed: u64,
    start: u64,
    file_len: u64,
    streams: &mut u64,
    secrets: Secrets,
) -> Result<(u64, u64), StoreError> {
    let mut records = Records::new(&body.file, start, file_len, TAIL_READ);
    let mut commit = Commit::default();
    let mut next = indexed + 1;
    let mut end = start;
    let mut head = indexed;
    loop {
        let (place, flags, value) = match records.next()? {
            Next::End => break,
            Next::Torn { offset, reason } => {
                tracing::warn!(offset, reason, "a torn record ends the event log");
                break;
            }
            Next::Record {
                place,
                flags,
                value,
            } => (place, flags, value),
        };
        if flags & SECRETS != 0 {
            let entries = match secrets_record::parse(value) {
                Ok(entries) => entries,
                Err(reason) => {
                    if followed_by_a_good_record(&mut records)? {
                        return Err(StoreError::Corrupt {
                            position: next,
                            reason: format!("the secrets record before it: {reason}"),
                        });
                    }
                    break;
                }
            };
            if secrets == Secrets::Keep {
                continue;
            }
            let base = place.offset + FRAME as u64;
            for entry in entries {
                let change = match entry.change {
                    Change::Set { secret, at } => Some((secret, at)),
                    // Erased since: a later change replaced or destroyed it.
                    Change::Erased | Change::Destroy => None,
                };
                let writes = &mut commit.writes;
                commit
                    .secrets
                    .stage(&body.db, base, entry.stream, change, writes)?;
            }
            continue;
        }
        let parsed = match batch::parse(value, next) {
            Ok(parsed) => parsed,
            Err(error) => {
                if followed_by_a_good_record(&mut records)? {
                    return Err(error);
                }
                break;
            }
        };
        if flags & CONFIRM != 0 {
            // Its sled batch (the secret change) is not durable: never acknowledged.
            break;
        }
        for (offset, envelope) in parsed.envelopes.iter().enumerate() {
            let loc = Loc {
                batch: parsed.first,
                offset: offset as u32,
            };
            commit.add(loc, envelope)?;
        }
        commit
            .writes
            .insert(&batch_key(parsed.first), &place.encode());
        next = parsed.end();
        if flags & END != 0 {
            let mut done = std::mem::take(&mut commit);
            done.close_run();
            *streams += done.new_streams;
            done.writes.insert(STREAMS_KEY, &streams.to_be_bytes());
            done.writes
                .insert(INDEXED_KEY, &indexed_value(next - 1, place.end()));
            body.db.apply_batch(done.writes).map_err(storage)?;
            end = place.end();
            head = next - 1;
        }
    }
    Ok((end, head))
}

/// Whether the record after a damaged one is whole and checks.
fn followed_by_a_good_record(records: &mut Records<'_>) -> Result<bool, StoreError> {
    Ok(match records.next()? {
        Next::Record { flags, value, .. } if flags & SECRETS != 0 => {
            secrets_record::parse(value).is_ok()
        }
        Next::Record { value, .. } => batch::checksum_ok(value),
        Next::End | Next::Torn { .. } => false,
    })
}

/// The hash of the event at `head`.
fn last_hash(body: &Body, head: u64, limit: u64) -> Result<[u8; 32], StoreError> {
    if head == 0 {
        return Ok(GENESIS_HASH);
    }
    let mut hash = None;
    body.walk(head, head, limit, &mut |loc, envelope| {
        hash = Some(envelope::decode(envelope, loc.position())?.hash);
        Ok(false)
    })?;
    hash.ok_or(StoreError::Corrupt {
        position: head,
        reason: "the last event is missing".into(),
    })
}

/// Removes every index entry and marker, so that the whole segment file is
/// indexed again.
fn clear_index(db: &sled::Db) -> Result<(), StoreError> {
    for prefix in [BATCH, STREAM] {
        loop {
            let keys: Vec<sled::IVec> = db
                .scan_prefix([prefix])
                .keys()
                .take(CLEAR_STEP)
                .collect::<Result<_, _>>()
                .map_err(storage)?;
            if keys.is_empty() {
                break;
            }
            let mut batch = sled::Batch::default();
            for key in keys {
                batch.remove(key);
            }
            db.apply_batch(batch).map_err(storage)?;
        }
    }
    let mut markers = sled::Batch::default();
    for key in [INDEXED_KEY, STREAMS_KEY] {
        markers.remove(key);
    }
    db.apply_batch(markers).map_err(storage)?;
    Ok(())
}
