//! Converting a format-1, 2, 3 or 4 log to format 5, in place.
//!
//! Format 5 reads format 4 as it is (it only adds secrets records), so
//! converting format 4 rewrites the format marker and nothing else; the
//! steps below end in format 4's layout, written with the format-5 marker.
//!
//! **Format 1 to 2**, resumable: the conversion copies every format-1
//! envelope, byte for byte and checked against the hash chain, into
//! format-2 batch values with their `T` and `X` index entries, a step of
//! [`STEP`] events per atomic `sled::Batch`. Stream secrets (`K`) and the
//! stream count (`Mstreams`) are shared by all formats and stay where they
//! are. Until the format key is written the directory is still format 1
//! (the format-1 keys are untouched, and the store refuses to open it), so
//! a run cut short is resumed by running it again: it continues after the
//! last batch value written. Writing `Mformat` = 2 is the switch; the
//! format-1 keys are removed after it (a run cut short there finishes the
//! removal when run again).
//!
//! **Format 2 to 3**, all or nothing: every batch value, checked against
//! the hash chain, is written as a record into a new segment file
//! (`events.seg.partial`), which is synced and renamed to `events.seg`.
//! Then one `sled::Batch` replaces each `B` value by the record's place and
//! writes `Mindexed`, `Mids` and `Mformat` = 3; the `T`, `X`, `K` and
//! `Mstreams` entries are the same in both formats. Until that batch the
//! directory is format 2 and the store refuses it; a run cut short writes
//! the segment file again from the start.
//!
//! **Format 3 to 4**, resumable: the `X` entries and `Mids` are removed
//! from sled in steps, then `Mformat` = 4 is written; a run cut short is
//! still format 3 and removes the rest when run again. Then the event ids
//! are indexed into the runs of `idruns` from the segment file, as the
//! store's open would do (so the first start after the upgrade need not).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use crate::batch;
use crate::envelope::{self, GENESIS_HASH};
use crate::idruns::{IDS_DIR, RunWriter, Unindexed};
use crate::keys::{
    FORMAT_3, FORMAT_4, FORMAT_KEY, FORMAT_VERSION, IDS_KEY, INDEXED_KEY, storage, stored_format,
};
use crate::legacy_v1::{self, EVENT, ID, STREAM};
use crate::legacy_v2::{self, FORMAT_2};
use crate::recover;
use crate::segment::{self, END, Place, SEGMENT_FILE};
use crate::sled_store::{
    BATCH, Body, ID as ID_V3, Loc, Values, batch_key, be_u64, erase_pending, id_key, indexed_value,
    stream_key, stream_prefix,
};
use crate::{StoreConfig, StoreError};

/// Events converted per atomic step.
const STEP: u64 = 8_192;
/// Format-1 keys removed per batch after the switch.
const REMOVE_CHUNK: usize = 16_384;
/// The segment file while format 2 is converted.
const PARTIAL: &str = "events.seg.partial";

/// What [`upgrade_store`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpgradeReport {
    /// Events in the log (the head position).
    pub events: u64,
    /// Events this run converted: from a format-1 log, those it converted
    /// from format 1 (fewer than `events` when it resumed an earlier run);
    /// from a format-2 log, all of them; 0 when the log was already in the
    /// current format.
    pub converted: u64,
    /// Streams with at least one event.
    pub streams: u64,
    /// The hash of the last event, the same before and after.
    pub last_hash: [u8; 32],
    /// True when the directory was already in the current format.
    pub already_current: bool,
}

/// Converts the format-1, 2 or 3 event log in `path` to the current
/// format, in place; `progress(converted, head)` after each step (a
/// format-1 log goes through format 2: the count runs to the head twice).
/// Run it again after an interruption. No store may have the directory
/// open (sled's lock makes this fail at once if one does). Blocking.
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
    let converted = match stored_format(&db)? {
        Some(FORMAT_VERSION) => {
            remove_v1_keys(&db)?;
            return current_report(db, path, 0, true);
        }
        Some(FORMAT_4) => {
            // Format 5 is format 4 that may also hold secrets records.
            db.insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())
                .map_err(storage)?;
            flush(&db, path)?;
            return current_report(db, path, 0, false);
        }
        Some(FORMAT_3) => {
            let head = v3_to_v4(&db, path)?;
            return current_report(db, path, head, false);
        }
        Some(FORMAT_2) => None,
        Some(found) => {
            return Err(StoreError::Format {
                found,
                supported: FORMAT_VERSION,
            });
        }
        None => Some(v1_to_v2(&db, path, progress)?),
    };
    remove_v1_keys(&db)?;
    flush(&db, path)?;
    let head = v2_to_v3(&db, path, progress)?;
    v3_to_v4(&db, path)?;
    current_report(db, path, converted.unwrap_or(head), false)
}

/// Converts format 1 to format 2 (resuming an interrupted run); returns
/// the events this run converted.
fn v1_to_v2(
    db: &sled::Db,
    path: &Path,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<u64, StoreError> {
    if !legacy_v1::has_v1_keys(db)? {
        return Err(StoreError::InvalidArgument(format!(
            "{} holds no format-1 event log",
            path.display()
        )));
    }
    let head = legacy_v1::head(db)?;
    // Resume after the batch values an interrupted run wrote.
    let (mut done, mut hash, _) = legacy_v2::load_state(db)?;
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
        hash = convert_step(db, done + 1, to, hash)?;
        done = to;
        progress(done, head);
    }
    db.insert(FORMAT_KEY, &FORMAT_2.to_be_bytes())
        .map_err(storage)?;
    flush(db, path)?;
    Ok(done - resumed_at)
}

/// Converts format 2 to format 3, all or nothing; returns the head.
fn v2_to_v3(
    db: &sled::Db,
    path: &Path,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<u64, StoreError> {
    let (head, _, _) = legacy_v2::load_state(db)?;
    progress(0, head);
    let partial = path.join(PARTIAL);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&partial)?);
    let mut writes = sled::Batch::default();
    let mut record = Vec::new();
    let (mut expected, mut hash, mut offset, mut reported) = (1, GENESIS_HASH, 0u64, 0);
    for entry in db.scan_prefix([BATCH]) {
        let (key, value) = entry.map_err(storage)?;
        let first = be_u64(&key[1..], expected)?;
        if first != expected {
            return Err(StoreError::Corrupt {
                position: expected,
                reason: "event missing from the format-2 log".into(),
            });
        }
        let parsed = batch::parse(&value, first)?;
        for (i, envelope) in parsed.envelopes.iter().enumerate() {
            hash = envelope::check_chain(envelope, first + i as u64, &hash)?;
        }
        expected = parsed.end();
        record.clear();
        let len = segment::frame(&mut record, &value, END);
        out.write_all(&record)?;
        writes.insert(&key, &Place { offset, len }.encode());
        offset += u64::from(len);
        if expected - 1 - reported >= STEP {
            reported = expected - 1;
            progress(reported, head);
        }
    }
    if expected != head + 1 {
        return Err(StoreError::Corrupt {
            position: expected,
            reason: "event missing from the format-2 log".into(),
        });
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&partial, path.join(SEGMENT_FILE))?;
    std::fs::File::open(path)?.sync_all()?;
    writes.insert(INDEXED_KEY, &indexed_value(head, offset));
    writes.insert(IDS_KEY, &head.to_be_bytes());
    writes.insert(FORMAT_KEY, &FORMAT_3.to_be_bytes());
    db.apply_batch(writes).map_err(storage)?;
    flush(db, path)?;
    progress(head, head);
    Ok(head)
}

/// Converts format 3 to format 4 (resuming an interrupted run): drops
/// sled's id index; returns the head.
fn v3_to_v4(db: &sled::Db, path: &Path) -> Result<u64, StoreError> {
    remove_prefixes(db, &[ID_V3])?;
    let mut writes = sled::Batch::default();
    writes.remove(IDS_KEY);
    writes.insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes());
    db.apply_batch(writes).map_err(storage)?;
    flush(db, path)?;
    match db.get(INDEXED_KEY).map_err(storage)? {
        Some(value) if value.len() == 16 => be_u64(&value[..8], 0),
        _ => Ok(0),
    }
}

/// The report of a current directory, opened as the store opens it (the
/// id index's runs included).
fn current_report(
    db: sled::Db,
    path: &Path,
    converted: u64,
    already_current: bool,
) -> Result<UpgradeReport, StoreError> {
    let body = Body {
        db,
        file: Arc::new(segment::open(path)?),
    };
    let recovered = recover::recover(&body, false)?;
    flush(&body.db, path)?;
    erase_pending(&body, recovered.len)?;
    RunWriter::open(
        &path.join(IDS_DIR),
        StoreConfig::default().id_run_events,
        &body,
        recovered.head,
        recovered.len,
        &Unindexed::default(),
    )?;
    Ok(UpgradeReport {
        events: recovered.head,
        converted,
        streams: recovered.streams,
        last_hash: recovered.hash,
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
    remove_prefixes(db, &[EVENT, STREAM, ID])
}

/// Removes every key starting with one of `prefixes`, in steps.
fn remove_prefixes(db: &sled::Db, prefixes: &[u8]) -> Result<(), StoreError> {
    for &prefix in prefixes {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::new_event;
    use crate::legacy_v2::V2Writer;
    use crate::{EventStore, ExpectedVersion, NewEvent, SecretChange, SledStore};

    /// Event `n`, its id scattered so that runs are not written in id order.
    fn event(n: u128) -> NewEvent {
        new_event(
            n.wrapping_mul(0x2545_f491_4f6c_dd1d_9e37_79b9_7f4a_7c15),
            "Noted",
            "{}",
        )
    }

    /// A format-3 directory as the format-3 code wrote it: a format-2 log
    /// converted by the format-2-to-3 step, with its ids in sled.
    fn write_v3(path: &Path, events: u128) -> Vec<(u128, u64)> {
        let mut writer = V2Writer::open(path).expect("format-2 writer");
        let placed = (1..=events)
            .map(|n| {
                let outcome = writer
                    .append(
                        &format!("s{}", n % 7),
                        ExpectedVersion::Any,
                        vec![event(n)],
                        SecretChange::Keep,
                    )
                    .expect("append");
                (n, outcome.first_position)
            })
            .collect();
        drop(writer);
        let db = sled::Config::new().path(path).open().expect("sled");
        v2_to_v3(&db, path, &mut |_, _| {}).expect("to format 3");
        assert_eq!(stored_format(&db).expect("format"), Some(FORMAT_3));
        assert_eq!(db.scan_prefix([ID_V3]).count() as u128, events);
        placed
    }

    #[tokio::test]
    async fn a_format_3_log_upgrades_with_every_id_found() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        let placed = write_v3(&path, 300);
        let config = || StoreConfig {
            path: path.clone(),
            id_run_events: 16,
            ..StoreConfig::default()
        };
        assert!(matches!(
            SledStore::open(config()),
            Err(StoreError::Format {
                found: FORMAT_3,
                supported: FORMAT_VERSION
            })
        ));
        let report = upgrade_store(&path, &mut |_, _| {}).expect("upgrade");
        assert_eq!((report.events, report.already_current), (300, false));
        {
            let db = sled::Config::new().path(&path).open().expect("sled");
            assert_eq!(db.scan_prefix([ID_V3]).count(), 0);
            assert!(db.get(IDS_KEY).expect("get").is_none());
        }
        // The upgrade made the runs' directory (300 ids fill no run of the
        // default size: the open reads them from the segment file).
        assert!(path.join(IDS_DIR).is_dir());
        let store = SledStore::open(config()).expect("open");
        assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
        for (n, position) in placed {
            let found = store.find_event(event(n).id).await.expect("find");
            assert_eq!(found.map(|e| e.position), Some(position), "event {n}");
        }
        let again = store
            .append("s3", ExpectedVersion::Any, vec![event(3)])
            .await
            .expect("a retry");
        assert_eq!(again.first_position, 3);
        assert_eq!(store.stats().expect("stats").events, 300);
        store.shutdown().expect("shutdown");
        drop(store);
        let report = upgrade_store(&path, &mut |_, _| {}).expect("again");
        assert!(report.already_current);
    }

    /// A format-4 directory upgrades by its marker alone: the events and a
    /// secret format 4 kept in sled are there after, and a second run finds
    /// it current.
    #[tokio::test]
    async fn a_format_4_log_upgrades_by_its_marker() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        let config = || StoreConfig {
            path: path.clone(),
            ..StoreConfig::default()
        };
        let store = SledStore::open(config()).expect("open");
        store
            .append("s", ExpectedVersion::NoStream, vec![event(1), event(2)])
            .await
            .expect("append");
        store.shutdown().expect("shutdown");
        drop(store);
        {
            let db = sled::Config::new().path(&path).open().expect("sled");
            db.insert(FORMAT_KEY, &FORMAT_4.to_be_bytes())
                .expect("marker");
            db.insert(crate::keys::secret_key("s"), b"a format-4 key".as_slice())
                .expect("secret");
            db.flush().expect("flush");
        }
        let report = upgrade_store(&path, &mut |_, _| {}).expect("upgrade");
        assert_eq!(
            (report.events, report.converted, report.already_current),
            (2, 0, false)
        );
        let store = SledStore::open(config()).expect("open");
        assert_eq!(
            store.stream_secret("s").await.expect("secret").as_deref(),
            Some(&b"a format-4 key"[..])
        );
        assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
        store.shutdown().expect("shutdown");
        drop(store);
        // Already current: the marker says format 5.
        assert!(
            upgrade_store(&path, &mut |_, _| {})
                .expect("again")
                .already_current
        );
    }
}
