//! The batch value of log formats 2 and 3 (a sled value in format 2, a
//! segment-file record in format 3): the envelopes of consecutive
//! positions, contiguous, under one checksum.
//!
//! ```text
//! format u8 (=2) | first position u64 | count u32 |
//! count × (len u32, envelope with its chain hash) |
//! crc32 u32 over everything before it
//! ```
//!
//! Numbers are little-endian. Each envelope is byte for byte the value
//! format 1 stored under its own key (see `envelope`), so the hash chain is
//! the same in both formats. A value whose checksum fails is never read in
//! part: the reader names the first event of it whose own envelope check
//! fails (or the batch's first position when none does) and returns
//! [`StoreError::Corrupt`]. Since the value's checksum covers the
//! envelopes, reads skip each envelope's own checksum; `verify` checks both.

use crate::StoreError;
use crate::envelope;

const FORMAT: u8 = 2;
/// Format, first position, count.
const HEADER: usize = 1 + 8 + 4;
/// Bytes of the length before each envelope.
const LEN: usize = 4;
/// The checksum at the end.
const CRC: usize = 4;

/// Builds one batch value.
pub(crate) struct BatchBuilder {
    first: u64,
    count: u32,
    buf: Vec<u8>,
}

impl BatchBuilder {
    /// A value whose first envelope will be at `first`.
    pub(crate) fn new(first: u64, capacity: usize) -> BatchBuilder {
        let mut buf = Vec::with_capacity(capacity.max(HEADER + CRC));
        buf.push(FORMAT);
        buf.extend_from_slice(&first.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        BatchBuilder {
            first,
            count: 0,
            buf,
        }
    }

    /// The first position of the value.
    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    /// Envelopes pushed so far.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// Bytes the value would have if finished now.
    pub(crate) fn len(&self) -> usize {
        self.buf.len() + CRC
    }

    /// Appends the envelope of position `first + count`.
    pub(crate) fn push(&mut self, envelope: &[u8]) {
        let len = u32::try_from(envelope.len()).expect("event size checked against limits");
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(envelope);
        self.count += 1;
    }

    /// The finished value and its first position.
    pub(crate) fn finish(mut self) -> (u64, Vec<u8>) {
        self.buf[9..HEADER].copy_from_slice(&self.count.to_le_bytes());
        let crc = envelope::crc32(&self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        (self.first, self.buf)
    }
}

/// A checked batch value: its first position and its envelopes in order.
pub(crate) struct Batch<'a> {
    pub(crate) first: u64,
    pub(crate) envelopes: Vec<&'a [u8]>,
}

impl Batch<'_> {
    /// The position after the last envelope.
    pub(crate) fn end(&self) -> u64 {
        self.first + self.envelopes.len() as u64
    }
}

fn corrupt(position: u64, reason: &str) -> StoreError {
    StoreError::Corrupt {
        position,
        reason: reason.to_owned(),
    }
}

/// Splits the value stored under first position `first` into its
/// envelopes, after checking its framing and checksum.
pub(crate) fn parse(value: &[u8], first: u64) -> Result<Batch<'_>, StoreError> {
    if value.len() < HEADER + CRC {
        return Err(corrupt(first, "batch value too short"));
    }
    let (body, crc) = value.split_at(value.len() - CRC);
    let crc = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    if envelope::crc32(body) != crc {
        return Err(locate_damage(body, first));
    }
    let framed = frame(body, first)?;
    if framed.first != first {
        return Err(corrupt(
            first,
            &format!("batch value claims position {}", framed.first),
        ));
    }
    Ok(framed)
}

/// Whether a value's checksum holds (its framing unchecked).
pub(crate) fn checksum_ok(value: &[u8]) -> bool {
    value.len() >= HEADER + CRC && {
        let (body, crc) = value.split_at(value.len() - CRC);
        envelope::crc32(body) == u32::from_le_bytes(crc.try_into().expect("4 bytes"))
    }
}

/// The envelopes of `body` (a value without its checksum), by their lengths.
fn frame(body: &[u8], key_first: u64) -> Result<Batch<'_>, StoreError> {
    if body.len() < HEADER || body[0] != FORMAT {
        return Err(corrupt(key_first, "unknown batch format"));
    }
    let first = u64::from_le_bytes(body[1..9].try_into().expect("8 bytes"));
    let count = u32::from_le_bytes(body[9..HEADER].try_into().expect("4 bytes"));
    if count == 0 {
        return Err(corrupt(key_first, "empty batch value"));
    }
    let mut envelopes = Vec::with_capacity(count as usize);
    let mut at = HEADER;
    for i in 0..u64::from(count) {
        let position = key_first + i;
        let len = body
            .get(at..at + LEN)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
            .ok_or_else(|| corrupt(position, "batch value ends inside a length"))?;
        at += LEN;
        let envelope = at
            .checked_add(len)
            .and_then(|end| body.get(at..end))
            .ok_or_else(|| corrupt(position, "envelope runs past the batch value"))?;
        at += len;
        envelopes.push(envelope);
    }
    if at != body.len() {
        return Err(corrupt(
            key_first + u64::from(count),
            "trailing bytes in a batch value",
        ));
    }
    Ok(Batch { first, envelopes })
}

/// The error for a value whose checksum failed: at the first envelope that
/// fails its own check, else at the batch's first position.
fn locate_damage(body: &[u8], first: u64) -> StoreError {
    let mut at = HEADER;
    let mut position = first;
    while let Some(len) = body.get(at..at + LEN) {
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        at += LEN;
        let Some(envelope) = at.checked_add(len).and_then(|end| body.get(at..end)) else {
            return corrupt(position, "batch checksum mismatch (damaged length)");
        };
        if envelope::decode(envelope, position).is_err() {
            return corrupt(position, "batch checksum mismatch (damaged event)");
        }
        at += len;
        position += 1;
    }
    corrupt(first, "batch checksum mismatch")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Metadata, RecordedEvent, Uuid};

    fn envelope_at(position: u64, prev: &[u8; 32]) -> (Vec<u8>, [u8; 32]) {
        let event = RecordedEvent {
            stream: "s".into(),
            version: position - 1,
            position,
            id: Uuid::from_u128(u128::from(position)),
            event_type: "E".into(),
            schema_version: 1,
            payload: format!("{{\"n\":{position}}}").into_bytes(),
            metadata: Metadata::default(),
            hash: [0; 32],
        };
        envelope::encode(&event, prev)
    }

    fn sample(first: u64, count: u64) -> Vec<u8> {
        let mut builder = BatchBuilder::new(first, 0);
        let mut hash = envelope::GENESIS_HASH;
        for position in first..first + count {
            let (value, next) = envelope_at(position, &hash);
            hash = next;
            builder.push(&value);
        }
        let (at, value) = builder.finish();
        assert_eq!(at, first);
        value
    }

    #[test]
    fn round_trips() {
        let value = sample(5, 3);
        let batch = parse(&value, 5).expect("parses");
        assert_eq!((batch.first, batch.end()), (5, 8));
        for (i, envelope) in batch.envelopes.iter().enumerate() {
            let event = envelope::decode(envelope, 5 + i as u64).expect("decodes");
            assert_eq!(event.position, 5 + i as u64);
        }
    }

    #[test]
    fn every_flipped_bit_is_caught_and_placed() {
        let value = sample(10, 3);
        let bounds: Vec<usize> = {
            let batch = parse(&value, 10).expect("parses");
            batch
                .envelopes
                .iter()
                .map(|e| e.as_ptr() as usize - value.as_ptr() as usize)
                .collect()
        };
        for i in 0..value.len() {
            let mut damaged = value.clone();
            damaged[i] ^= 0x10;
            let Err(StoreError::Corrupt { position, .. }) = parse(&damaged, 10) else {
                panic!("flip at byte {i} went unnoticed");
            };
            // Inside an envelope's checked bytes: named by that envelope's position.
            if let Some(n) = bounds.iter().rposition(|&start| i >= start) {
                let envelope_len = parse(&value, 10).expect("parses").envelopes[n].len();
                if i < bounds[n] + envelope_len - 32 {
                    assert_eq!(position, 10 + n as u64, "flip at byte {i}");
                }
            }
            assert!((10..13).contains(&position), "flip at byte {i}: {position}");
        }
        assert!(parse(&value, 11).is_err());
        assert!(parse(&value[..value.len() - 1], 10).is_err());
        assert!(parse(&value[..HEADER], 10).is_err());
    }
}
