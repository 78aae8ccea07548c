//! The binary envelope: how one event is laid out in storage.
//!
//! ```text
//! format u8 (=1) | position u64 | version u64 | schema_version u32 |
//! recorded_at_ms i64 | id [16] | present-flags u8 |
//! stream, event_type, payload, then each present optional string as
//!   (len u32, bytes) |
//! crc32 u32 over everything before it | chain hash [32]
//! ```
//!
//! Numbers are little-endian inside the value (keys are big-endian). The
//! "stored bytes" the hash chain covers are everything before the hash. The
//! CRC lets a reader reject a damaged record without knowing its
//! predecessor's hash; the chain is checked by `verify`.

use crate::{Metadata, NewEvent, RecordedEvent, StoreError, Uuid};

const FORMAT: u8 = 1;
/// Bytes of the fixed part before the variable fields.
const FIXED: usize = 1 + 8 + 8 + 4 + 8 + 16 + 1;
/// Bytes after the variable fields: CRC and hash.
const TRAILER: usize = 4 + 32;

/// The hash chain's value before position 1.
pub(crate) const GENESIS_HASH: [u8; 32] = [0; 32];

/// Encoded size of an event's variable data, used for limits.
pub(crate) fn variable_len(
    stream: &str,
    event_type: &str,
    payload: &[u8],
    metadata: &Metadata,
) -> usize {
    let optional = [
        &metadata.correlation_id,
        &metadata.causation_id,
        &metadata.actor,
        &metadata.request_id,
    ];
    12 + stream.len()
        + event_type.len()
        + payload.len()
        + optional
            .iter()
            .map(|o| o.as_ref().map_or(0, |s| 4 + s.len()))
            .sum::<usize>()
}

/// `new` recorded as `version` of `stream` at `position`, chained after
/// `prev_hash`: the event with its hash set, and its stored bytes. Every
/// backend's writer seals events here, so their bytes and hashes agree.
pub(crate) fn seal(
    stream: &str,
    new: &NewEvent,
    version: u64,
    position: u64,
    prev_hash: &[u8; 32],
) -> (RecordedEvent, Vec<u8>) {
    let mut event = RecordedEvent {
        stream: stream.to_owned(),
        version,
        position,
        id: new.id,
        event_type: new.event_type.clone(),
        schema_version: new.schema_version,
        payload: new.payload.clone(),
        metadata: new.metadata.clone(),
        hash: GENESIS_HASH,
    };
    let (value, hash) = encode(&event, prev_hash);
    event.hash = hash;
    debug_assert_eq!(decode(&value, position).ok(), Some(event.clone()));
    (event, value)
}

/// Encodes `event` (its `hash` field is ignored), computes the chain hash
/// from `prev_hash`, and returns the stored value and that hash.
pub(crate) fn encode(event: &RecordedEvent, prev_hash: &[u8; 32]) -> (Vec<u8>, [u8; 32]) {
    let m = &event.metadata;
    let len = FIXED + variable_len(&event.stream, &event.event_type, &event.payload, m) + TRAILER;
    let mut out = Vec::with_capacity(len);
    out.push(FORMAT);
    out.extend_from_slice(&event.position.to_le_bytes());
    out.extend_from_slice(&event.version.to_le_bytes());
    out.extend_from_slice(&event.schema_version.to_le_bytes());
    out.extend_from_slice(&m.recorded_at_ms.to_le_bytes());
    out.extend_from_slice(event.id.as_bytes());
    let optional = [&m.correlation_id, &m.causation_id, &m.actor, &m.request_id];
    let flags = optional
        .iter()
        .enumerate()
        .fold(0u8, |f, (i, o)| if o.is_some() { f | (1 << i) } else { f });
    out.push(flags);
    put_bytes(&mut out, event.stream.as_bytes());
    put_bytes(&mut out, event.event_type.as_bytes());
    put_bytes(&mut out, &event.payload);
    for s in optional.into_iter().flatten() {
        put_bytes(&mut out, s.as_bytes());
    }
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    let hash = chain_hash(prev_hash, &out);
    out.extend_from_slice(&hash);
    debug_assert_eq!(out.len(), len);
    (out, hash)
}

/// `BLAKE3(prev_hash || stored)`.
pub(crate) fn chain_hash(prev_hash: &[u8; 32], stored: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(prev_hash);
    hasher.update(stored);
    *hasher.finalize().as_bytes()
}

/// Splits a stored value into (stored bytes, hash) after checking its length.
pub(crate) fn split(value: &[u8], position: u64) -> Result<(&[u8], [u8; 32]), StoreError> {
    if value.len() < FIXED + 12 + TRAILER {
        return Err(corrupt(position, "record too short"));
    }
    let (stored, hash) = value.split_at(value.len() - 32);
    let mut out = [0; 32];
    out.copy_from_slice(hash);
    Ok((stored, out))
}

/// Checks a stored value found under global `position` and its link to
/// the previous event's hash; returns its hash.
pub(crate) fn check_chain(
    value: &[u8],
    position: u64,
    prev_hash: &[u8; 32],
) -> Result<[u8; 32], StoreError> {
    // Every check of `decode`, without building the event.
    let (stored, hash) = split(value, position)?;
    let (body, crc) = stored.split_at(stored.len() - 4);
    if crc32(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(corrupt(position, "checksum mismatch"));
    }
    parse_body(body, position)?;
    if chain_hash(prev_hash, stored) != hash {
        return Err(corrupt(position, "hash chain broken"));
    }
    Ok(hash)
}

/// Decodes and checks a stored value found under global `position`.
pub(crate) fn decode(value: &[u8], position: u64) -> Result<RecordedEvent, StoreError> {
    let (stored, hash) = split(value, position)?;
    let (body, crc) = stored.split_at(stored.len() - 4);
    let crc = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    if crc32(body) != crc {
        return Err(corrupt(position, "checksum mismatch"));
    }
    decode_body(body, hash, position)
}

/// Like [`decode`] for a value inside a batch value whose checksum, which
/// covers this value's bytes, has just been checked: the record's own
/// checksum is not computed again; every other check is made.
pub(crate) fn decode_checked(value: &[u8], position: u64) -> Result<RecordedEvent, StoreError> {
    let (stored, hash) = split(value, position)?;
    decode_body(&stored[..stored.len() - 4], hash, position)
}

/// The fields of an envelope's body, borrowed and checked.
struct Fields<'a> {
    version: u64,
    schema_version: u32,
    recorded_at_ms: i64,
    id: Uuid,
    stream: &'a str,
    event_type: &'a str,
    payload: &'a [u8],
    optional: [Option<&'a str>; 4],
}

fn parse_body(body: &[u8], position: u64) -> Result<Fields<'_>, StoreError> {
    let mut r = Reader {
        buf: body,
        at: 0,
        position,
    };
    if r.u8()? != FORMAT {
        return Err(corrupt(position, "unknown record format"));
    }
    let stored_position = r.u64()?;
    if stored_position != position {
        return Err(corrupt(
            position,
            &format!("record claims position {stored_position}"),
        ));
    }
    let version = r.u64()?;
    let schema_version = u32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes"));
    let recorded_at_ms = i64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
    let id = Uuid::from_bytes(r.take(16)?.try_into().expect("16 bytes"));
    let flags = r.u8()?;
    let stream = r.string()?;
    let event_type = r.string()?;
    let payload = r.bytes()?;
    let mut optional: [Option<&str>; 4] = Default::default();
    for (i, slot) in optional.iter_mut().enumerate() {
        if flags & (1 << i) != 0 {
            *slot = Some(r.string()?);
        }
    }
    if r.at != body.len() {
        return Err(corrupt(position, "trailing bytes"));
    }
    Ok(Fields {
        version,
        schema_version,
        recorded_at_ms,
        id,
        stream,
        event_type,
        payload,
        optional,
    })
}

fn decode_body(body: &[u8], hash: [u8; 32], position: u64) -> Result<RecordedEvent, StoreError> {
    let fields = parse_body(body, position)?;
    let [correlation_id, causation_id, actor, request_id] =
        fields.optional.map(|o| o.map(str::to_owned));
    Ok(RecordedEvent {
        stream: fields.stream.to_owned(),
        version: fields.version,
        position,
        id: fields.id,
        event_type: fields.event_type.to_owned(),
        schema_version: fields.schema_version,
        payload: fields.payload.to_vec(),
        metadata: Metadata {
            correlation_id,
            causation_id,
            actor,
            recorded_at_ms: fields.recorded_at_ms,
            request_id,
        },
        hash,
    })
}

fn corrupt(position: u64, reason: &str) -> StoreError {
    StoreError::Corrupt {
        position,
        reason: reason.to_owned(),
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("field length checked against limits");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    position: u64,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| corrupt(self.position, "field runs past the record"))?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
        self.take(len as usize)
    }
    fn string(&mut self) -> Result<&'a str, StoreError> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes).map_err(|_| corrupt(self.position, "invalid UTF-8"))
    }
}

/// CRC-32 (IEEE).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RecordedEvent {
        RecordedEvent {
            stream: "complaint-1".into(),
            version: 3,
            position: 42,
            id: Uuid::from_u128(7),
            event_type: "ComplaintReceived".into(),
            schema_version: 2,
            payload: br#"{"a":1}"#.to_vec(),
            metadata: Metadata {
                correlation_id: Some("c".into()),
                causation_id: None,
                actor: Some("officer".into()),
                recorded_at_ms: -5,
                request_id: Some("r".into()),
            },
            hash: [0; 32],
        }
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn round_trips_and_chains() {
        let event = sample();
        let (value, hash) = encode(&event, &GENESIS_HASH);
        let decoded = decode(&value, 42).expect("decodes");
        assert_eq!(decoded, RecordedEvent { hash, ..event });
        let (stored, _) = split(&value, 42).expect("splits");
        assert_eq!(chain_hash(&GENESIS_HASH, stored), hash);
    }

    #[test]
    fn rejects_damage_and_misplacement() {
        let (value, _) = encode(&sample(), &GENESIS_HASH);
        for i in 0..value.len() - 32 {
            let mut damaged = value.clone();
            damaged[i] ^= 0x40;
            assert!(
                matches!(
                    decode(&damaged, 42),
                    Err(StoreError::Corrupt { position: 42, .. })
                ),
                "flip at byte {i} went unnoticed"
            );
        }
        assert!(decode(&value, 43).is_err());
        assert!(decode(&value[..10], 42).is_err());
    }
}
