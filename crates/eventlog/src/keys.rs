//! Keys both log formats share, and the one conversion of engine errors.

use crate::StoreError;

/// The key of the on-disk format version (absent in format 1).
pub(crate) const FORMAT_KEY: &[u8] = b"Mformat";
/// The on-disk format of the event log this build reads and writes
/// (format 1: one sled key per event; format 2: one sled value per batch;
/// format 3: the batches in an append-only segment file, sled for the
/// indexes; format 4: the event ids indexed in runs beside sled, see
/// `idruns`; format 5: stream secrets also written in the segment file, see
/// `secrets`).
pub const FORMAT_VERSION: u32 = 5;
/// Format 4: format 5 without secrets records (opened as format 5 after
/// the marker is rewritten: nothing else differs).
pub(crate) const FORMAT_4: u32 = 4;
/// Format 3: the id index in sled (`X` entries and `Mids`).
pub(crate) const FORMAT_3: u32 = 3;
/// Formats 3 and 4: the last position whose batch and stream index entries
/// (`B`, `T`, `Mstreams`) sled holds, and the segment offset after it:
/// u64, u64, big-endian.
pub(crate) const INDEXED_KEY: &[u8] = b"Mindexed";
/// Format 3 only: the last position whose event ids sled's `X` index
/// holds: u64, big-endian. Never beyond `Mindexed`.
pub(crate) const IDS_KEY: &[u8] = b"Mids";
/// The key of the stream count.
pub(crate) const STREAMS_KEY: &[u8] = b"Mstreams";
/// Prefix of the stream secrets.
pub(crate) const SECRET: u8 = b'K';

/// Prefix of where each stream's secret is in the segment file.
pub(crate) const SECRET_COPY: u8 = b'L';
/// Prefix of the secret copies in the segment file still to be erased.
pub(crate) const ERASE: u8 = b'Z';

pub(crate) fn secret_key(stream: &str) -> Vec<u8> {
    prefixed(SECRET, stream)
}

pub(crate) fn secret_copy_key(stream: &str) -> Vec<u8> {
    prefixed(SECRET_COPY, stream)
}

fn prefixed(prefix: u8, stream: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + stream.len());
    key.push(prefix);
    key.extend_from_slice(stream.as_bytes());
    key
}

/// A storage engine error as the store reports it.
pub(crate) fn storage(error: sled::Error) -> StoreError {
    match error {
        sled::Error::Io(io) => StoreError::Io(io),
        other => StoreError::Storage(Box::new(other)),
    }
}

/// The format version stored in `db`, `None` when the key is absent.
pub(crate) fn stored_format(db: &sled::Db) -> Result<Option<u32>, StoreError> {
    match db.get(FORMAT_KEY).map_err(storage)? {
        None => Ok(None),
        Some(value) => {
            let bytes: [u8; 4] = value.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                position: 0,
                reason: "the format version is not 4 bytes".into(),
            })?;
            Ok(Some(u32::from_be_bytes(bytes)))
        }
    }
}
