//! Log format 1, kept to read it (`upgrade`) and to write it (tests of the
//! upgrade): one sled key per event.
//!
//! | key | value |
//! | --- | --- |
//! | `E` position:u64 | the envelope (see `envelope`) with its chain hash |
//! | `S` len:u16 stream version:u64 | position:u64 |
//! | `I` event-id:[16] | position:u64 |
//! | `M` `streams` | number of streams:u64 |
//! | `K` stream name | the stream's secret (outside the hash chain) |
//!
//! Format 1 has no format key: a directory with `E`, `S` or `I` keys and no
//! `Mformat` is format 1. [`V1Writer`] writes exactly what the format-1
//! store's writer wrote for one append: the envelopes, both indexes, the
//! stream count and the secret change, in one `sled::Batch`, then a flush.
//! It is single-threaded and has no group commit; it is not a store.

use std::path::Path;

use crate::envelope::{self, GENESIS_HASH};
use crate::keys::{FORMAT_KEY, STREAMS_KEY, secret_key, storage};
use crate::{AppendOutcome, ExpectedVersion, NewEvent, RecordedEvent, SecretChange, StoreError};

/// Prefix of format 1's event records.
pub(crate) const EVENT: u8 = b'E';
/// Prefix of format 1's stream index.
pub(crate) const STREAM: u8 = b'S';
/// Prefix of format 1's id index.
pub(crate) const ID: u8 = b'I';

pub(crate) fn event_key(position: u64) -> [u8; 9] {
    let mut key = [EVENT; 9];
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

fn stream_prefix(stream: &str) -> Vec<u8> {
    let len = u16::try_from(stream.len()).unwrap_or(u16::MAX);
    let mut key = Vec::with_capacity(3 + stream.len() + 8);
    key.push(STREAM);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(stream.as_bytes());
    key
}

fn be_u64(bytes: &[u8]) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        position: 0,
        reason: "format-1 index value is not 8 bytes".into(),
    })?;
    Ok(u64::from_be_bytes(array))
}

/// Whether `db` holds any format-1 record or index entry.
pub(crate) fn has_v1_keys(db: &sled::Db) -> Result<bool, StoreError> {
    for prefix in [EVENT, STREAM, ID] {
        if db
            .scan_prefix([prefix])
            .next()
            .transpose()
            .map_err(storage)?
            .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The last position of the format-1 log in `db` (0: none).
pub(crate) fn head(db: &sled::Db) -> Result<u64, StoreError> {
    match db
        .scan_prefix([EVENT])
        .next_back()
        .transpose()
        .map_err(storage)?
    {
        None => Ok(0),
        Some((key, _)) => be_u64(&key[1..]),
    }
}

/// Writes format-1 directories, as the format-1 store did.
#[derive(Debug)]
pub struct V1Writer {
    db: sled::Db,
    head: u64,
    last_hash: [u8; 32],
    streams: u64,
}

impl V1Writer {
    /// Opens (or creates) a format-1 store in `path`. Refuses a directory
    /// that holds another format. Blocking.
    pub fn open(path: &Path) -> Result<V1Writer, StoreError> {
        std::fs::create_dir_all(path)?;
        let db = sled::Config::new().path(path).open().map_err(storage)?;
        if db.get(FORMAT_KEY).map_err(storage)?.is_some() {
            return Err(StoreError::InvalidArgument(format!(
                "{} is not a format-1 store",
                path.display()
            )));
        }
        let (head, last_hash) = match db.scan_prefix([EVENT]).next_back() {
            None => (0, GENESIS_HASH),
            Some(entry) => {
                let (key, value) = entry.map_err(storage)?;
                let position = be_u64(&key[1..])?;
                (position, envelope::decode(&value, position)?.hash)
            }
        };
        let streams = match db.get(STREAMS_KEY).map_err(storage)? {
            None => 0,
            Some(value) => be_u64(&value)?,
        };
        Ok(V1Writer {
            db,
            head,
            last_hash,
            streams,
        })
    }

    /// Every event of the format-1 log, in position order, checked as the
    /// format-1 store read them. Blocking.
    pub fn events(&self) -> Result<Vec<RecordedEvent>, StoreError> {
        self.db
            .scan_prefix([EVENT])
            .map(|entry| {
                let (key, value) = entry.map_err(storage)?;
                envelope::decode(&value, be_u64(&key[1..])?)
            })
            .collect()
    }

    /// The stream's secret.
    pub fn secret(&self, stream: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get(secret_key(stream))
            .map_err(storage)?
            .map(|v| v.to_vec()))
    }

    /// Appends `events` to `stream` if `expected` holds, with the secret
    /// change, durably. Blocking.
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
                let (key, _) = entry.map_err(storage)?;
                Some(be_u64(&key[prefix.len()..])?)
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
        let first_version = actual.map_or(0, |v| v + 1);
        let first_position = self.head + 1;
        let mut head = self.head;
        let mut hash = self.last_hash;
        for (i, new) in events.iter().enumerate() {
            head += 1;
            let (event, value) = envelope::seal(stream, new, first_version + i as u64, head, &hash);
            hash = event.hash;
            writes.insert(&event_key(head), value);
            let mut key = prefix.clone();
            key.extend_from_slice(&event.version.to_be_bytes());
            writes.insert(key, &head.to_be_bytes());
            let mut id_key = vec![ID];
            id_key.extend_from_slice(new.id.as_bytes());
            writes.insert(id_key, &head.to_be_bytes());
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
            last_version: first_version + events.len() as u64 - 1,
            first_position,
            last_position: head,
            deduplicated: false,
        })
    }
}
