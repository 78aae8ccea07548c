//! Log format 2, kept to read it (`upgrade`) and to write it (tests of the
//! upgrade): one checksummed sled value per committed batch.
//!
//! | key | value |
//! | --- | --- |
//! | `Mformat` | `2` (u32, big-endian) |
//! | `B` first position:u64 | a batch value (see `batch`): the envelopes of consecutive positions and their chain hashes |
//! | `T` len:u16 stream first version:u64 | a run of the stream's events: batch:u64, offset:u32, count:u32 |
//! | `X` event-id:[16] | batch:u64, offset:u32 |
//! | `M` `streams` | number of streams:u64 |
//! | `K` stream name | the stream's secret (outside the hash chain) |
//!
//! Format 3 keeps the `T`, `X`, `Mstreams` and `K` entries as they are and
//! moves the batch values into the segment file (its `B` values say where).
//! [`V2Writer`] writes exactly what the format-2 store wrote for one append:
//! the batch values, both indexes, the stream count and the secret change
//! in one `sled::Batch`, then a flush. It is single-threaded and has no
//! group commit; it is not a store.

use std::path::Path;

use crate::batch;
use crate::envelope::{self, GENESIS_HASH};
use crate::keys::{FORMAT_KEY, STREAMS_KEY, secret_key, storage, stored_format};
use crate::sled_store::{BATCH, Values, batch_key, id_key, stream_key, stream_prefix};
use crate::{AppendOutcome, ExpectedVersion, NewEvent, SecretChange, StoreError};

/// The format number of format 2.
pub(crate) const FORMAT_2: u32 = 2;

fn be_u64(bytes: &[u8]) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        position: 0,
        reason: "format-2 key or value is not 8 bytes".into(),
    })?;
    Ok(u64::from_be_bytes(array))
}

/// Head position, last hash and stream count of a format-2 log (also of a
/// format-1 log part-way through its conversion to format 2). The last
/// batch value is checked whole.
pub(crate) fn load_state(db: &sled::Db) -> Result<(u64, [u8; 32], u64), StoreError> {
    let (head, hash) = match db.scan_prefix([BATCH]).next_back() {
        None => (0, GENESIS_HASH),
        Some(entry) => {
            let (key, value) = entry.map_err(storage)?;
            let first = be_u64(&key[1..])?;
            let batch = batch::parse(&value, first)?;
            let last = batch.end() - 1;
            let envelope = batch.envelopes.last().expect("parse refuses empty values");
            (last, envelope::decode(envelope, last)?.hash)
        }
    };
    let streams = match db.get(STREAMS_KEY).map_err(storage)? {
        None => 0,
        Some(value) => be_u64(&value)?,
    };
    Ok((head, hash, streams))
}

/// Writes format-2 directories, as the format-2 store did.
#[derive(Debug)]
pub struct V2Writer {
    db: sled::Db,
    head: u64,
    last_hash: [u8; 32],
    streams: u64,
}

impl V2Writer {
    /// Opens (or creates) a format-2 store in `path`. Refuses a directory
    /// that holds another format. Blocking.
    pub fn open(path: &Path) -> Result<V2Writer, StoreError> {
        std::fs::create_dir_all(path)?;
        let db = sled::Config::new().path(path).open().map_err(storage)?;
        match stored_format(&db)? {
            Some(FORMAT_2) => {}
            None if db.iter().next().is_none() => {
                db.insert(FORMAT_KEY, &FORMAT_2.to_be_bytes())
                    .map_err(storage)?;
            }
            _ => {
                return Err(StoreError::InvalidArgument(format!(
                    "{} is not a format-2 store",
                    path.display()
                )));
            }
        }
        let (head, last_hash, streams) = load_state(&db)?;
        Ok(V2Writer {
            db,
            head,
            last_hash,
            streams,
        })
    }

    /// Appends `events` to `stream` if `expected` holds, with the secret
    /// change, durably, as one commit. Blocking.
    pub fn append(
        &mut self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        secret: SecretChange,
    ) -> Result<AppendOutcome, StoreError> {
        if stream.is_empty() || events.is_empty() {
            return Err(StoreError::InvalidArgument(
                "an append needs a stream and events".into(),
            ));
        }
        let prefix = stream_prefix(stream);
        let actual = match self.db.scan_prefix(&prefix).next_back() {
            None => None,
            Some(entry) => {
                let (key, value) = entry.map_err(storage)?;
                let first = be_u64(&key[prefix.len()..])?;
                let count = value
                    .get(12..16)
                    .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
                    .ok_or_else(|| StoreError::Corrupt {
                        position: 0,
                        reason: "format-2 stream index entry has no count".into(),
                    })?;
                Some(first + u64::from(count) - 1)
            }
        };
        if !expected.admits(actual) {
            return Err(StoreError::Conflict {
                stream: stream.to_owned(),
                expected,
                actual,
            });
        }
        let mut writes = sled::Batch::default();
        let mut values = Values::default();
        let first_version = actual.map_or(0, |v| v + 1);
        let first_position = self.head + 1;
        let mut head = self.head;
        let mut hash = self.last_hash;
        let mut first_loc = None;
        for (i, new) in events.iter().enumerate() {
            head += 1;
            let (event, value) = envelope::seal(stream, new, first_version + i as u64, head, &hash);
            hash = event.hash;
            let loc = values.push(head, &value);
            first_loc.get_or_insert(loc);
            writes.insert(&id_key(new.id), &loc.encode());
        }
        let count = u32::try_from(events.len()).map_err(|_| {
            StoreError::InvalidArgument("too many events in one format-2 append".into())
        })?;
        let loc = first_loc.expect("an append has events");
        writes.insert(stream_key(&prefix, first_version), &loc.encode_run(count));
        for (first, value) in values.finish() {
            writes.insert(&batch_key(first), value);
        }
        let streams = self.streams + u64::from(actual.is_none());
        if actual.is_none() {
            writes.insert(STREAMS_KEY, &streams.to_be_bytes());
        }
        match secret {
            SecretChange::Keep => {}
            SecretChange::Set(bytes) => writes.insert(secret_key(stream), bytes),
            SecretChange::Destroy => writes.remove(secret_key(stream)),
        }
        self.db.apply_batch(writes).map_err(storage)?;
        self.db.flush().map_err(storage)?;
        self.head = head;
        self.last_hash = hash;
        self.streams = streams;
        Ok(AppendOutcome {
            first_version,
            last_version: first_version + u64::from(count) - 1,
            first_position,
            last_position: head,
            deduplicated: false,
        })
    }
}
