//! Keys both log formats share, and the one conversion of engine errors.

use crate::StoreError;

/// The key of the on-disk format version (absent in format 1).
pub(crate) const FORMAT_KEY: &[u8] = b"Mformat";
/// The on-disk format of the event log this build reads and writes
/// (format 1: one sled key per event; format 2: one sled value per batch;
/// format 3: the batches in an append-only segment file, sled for the
/// indexes; format 4: the event ids indexed in runs beside sled, see
/// `idruns`).
pub const FORMAT_VERSION: u32 = 4;
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

pub(crate) fn secret_key(stream: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + stream.len());
    key.push(SECRET);
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
