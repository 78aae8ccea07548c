//! Converting a format-1 log to format 2, in place and resumable.
//!
//! The conversion copies every format-1 envelope, byte for byte and checked
//! against the hash chain, into format-2 batch values with their `T` and
//! `X` index entries, a step of [`STEP`] events per atomic `sled::Batch`.
//! Stream secrets (`K`) and the stream count (`Mstreams`) are shared by
//! both formats and stay where they are. Until the format key is written
//! the directory is still format 1 (the format-1 keys are untouched, and
//! the store refuses to open it), so a run cut short is resumed by running
//! it again: it continues after the last batch value written. Writing
//! `Mformat` = 2 is the switch; the format-1 keys are removed after it (a
//! run cut short there finishes the removal when run again).

use std::path::Path;

use crate::StoreError;
use crate::envelope;
use crate::keys::{FORMAT_KEY, FORMAT_VERSION, storage, stored_format};
use crate::legacy_v1::{self, EVENT, ID, STREAM};
use crate::sled_store::{self, Loc, Values, batch_key, id_key, stream_key, stream_prefix};

/// Events converted per atomic step.
const STEP: u64 = 8_192;
/// Format-1 keys removed per batch after the switch.
const REMOVE_CHUNK: usize = 16_384;

/// What [`upgrade_store`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpgradeReport {
    /// Events in the log (the head position).
    pub events: u64,
    /// Events this run converted (fewer than `events` when it resumed an
    /// earlier run; 0 when the log was already in the current format).
    pub converted: u64,
    /// Streams with at least one event.
    pub streams: u64,
    /// The hash of the last event, the same before and after.
    pub last_hash: [u8; 32],
    /// True when the directory was already in the current format.
    pub already_current: bool,
}

/// Converts the format-1 event log in `path` to the current format, in
/// place; `progress(converted, head)` after each step. Resumable: run it
/// again after an interruption. No store may have the directory open
/// (sled's lock makes this fail at once if one does). Blocking.
pub fn upgrade_store(
    path: &Path,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<UpgradeReport, StoreError> {
    if !path.join("db").is_file() {
        return Err(StoreError::InvalidArgument(format!(
            "no event log in {}",
            path.display()
        )));
    }
    let db = sled::Config::new().path(path).open().map_err(storage)?;
    match stored_format(&db)? {
        Some(FORMAT_VERSION) => {
            remove_v1_keys(&db)?;
            return report(&db, 0, true);
        }
        Some(found) => {
            return Err(StoreError::Format {
                found,
                supported: FORMAT_VERSION,
            });
        }
        None => {}
    }
    if !legacy_v1::has_v1_keys(&db)? {
        return Err(StoreError::InvalidArgument(format!(
            "{} holds no format-1 event log",
            path.display()
        )));
    }
    let head = legacy_v1::head(&db)?;
    // Resume after the batch values an interrupted run wrote.
    let (mut done, mut hash, _) = sled_store::load_state(&db)?;
    if done > head {
        return Err(StoreError::Corrupt {
            position: done,
            reason: "converted events beyond the format-1 log's end".into(),
        });
    }
    let resumed_at = done;
    progress(done, head);
    while done < head {
        let to = head.min(done + STEP);
        hash = convert_step(&db, done + 1, to, hash)?;
        done = to;
        progress(done, head);
    }
    db.insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())
        .map_err(storage)?;
    flush(&db, path)?;
    remove_v1_keys(&db)?;
    flush(&db, path)?;
    report(&db, done - resumed_at, false)
}

fn report(
    db: &sled::Db,
    converted: u64,
    already_current: bool,
) -> Result<UpgradeReport, StoreError> {
    let (events, last_hash, streams) = sled_store::load_state(db)?;
    Ok(UpgradeReport {
        events,
        converted,
        streams,
        last_hash,
        already_current,
    })
}

/// sled's flush, then `fsync` of its data file (sled's flush does not reach
/// the disk's write cache on Linux).
fn flush(db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    db.flush().map_err(storage)?;
    std::fs::File::open(path.join("db"))?.sync_all()?;
    Ok(())
}

/// The `T` entry being built: consecutive events of one stream.
struct OpenRun {
    stream: String,
    first_version: u64,
    last_version: u64,
    loc: Loc,
    count: u32,
}

/// Converts format-1 positions `from..=to`, chaining from `hash`, in one
/// atomic write; returns the hash at `to`.
fn convert_step(
    db: &sled::Db,
    from: u64,
    to: u64,
    mut hash: [u8; 32],
) -> Result<[u8; 32], StoreError> {
    let mut writes = sled::Batch::default();
    let mut values = Values::default();
    let mut run: Option<OpenRun> = None;
    let mut expected = from;
    for entry in db.range(legacy_v1::event_key(from)..=legacy_v1::event_key(to)) {
        let (key, value) = entry.map_err(storage)?;
        let position =
            u64::from_be_bytes(key[1..].try_into().map_err(|_| StoreError::Corrupt {
                position: expected,
                reason: "format-1 key is not 9 bytes".into(),
            })?);
        if position != expected {
            return Err(StoreError::Corrupt {
                position: expected,
                reason: "event missing from the format-1 log".into(),
            });
        }
        hash = envelope::check_chain(&value, position, &hash)?;
        let event = envelope::decode(&value, position)?;
        let loc = values.push(position, &value);
        writes.insert(&id_key(event.id), &loc.encode());
        match &mut run {
            Some(open) if open.stream == event.stream && open.last_version + 1 == event.version => {
                open.last_version = event.version;
                open.count += 1;
            }
            _ => {
                if let Some(done) = run.take() {
                    close_run(&mut writes, done);
                }
                run = Some(OpenRun {
                    stream: event.stream,
                    first_version: event.version,
                    last_version: event.version,
                    loc,
                    count: 1,
                });
            }
        }
        expected += 1;
    }
    if expected <= to {
        return Err(StoreError::Corrupt {
            position: expected,
            reason: "event missing from the format-1 log".into(),
        });
    }
    if let Some(done) = run.take() {
        close_run(&mut writes, done);
    }
    for (first, value) in values.finish() {
        writes.insert(&batch_key(first), value);
    }
    db.apply_batch(writes).map_err(storage)?;
    Ok(hash)
}

fn close_run(writes: &mut sled::Batch, run: OpenRun) {
    writes.insert(
        stream_key(&stream_prefix(&run.stream), run.first_version),
        &run.loc.encode_run(run.count),
    );
}

/// Removes every format-1 record and index entry.
fn remove_v1_keys(db: &sled::Db) -> Result<(), StoreError> {
    for prefix in [EVENT, STREAM, ID] {
        loop {
            let keys: Vec<sled::IVec> = db
                .scan_prefix([prefix])
                .keys()
                .take(REMOVE_CHUNK)
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
    Ok(())
}
