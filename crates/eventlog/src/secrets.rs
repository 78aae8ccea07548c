//! The secrets record of log format 5: the stream secrets one commit sets
//! or destroys, in the segment file just before the commit's batch
//! records, so a commit that changes secrets is durable with the same
//! `fdatasync` as its events.
//!
//! ```text
//! format u8 (=1) | count u32 |
//! count × (kind u8 | stream len u16 | stream | secret len u32 | secret | secret crc32 u32) |
//! crc32 u32 over everything before it except the secrets and their crc32s
//! ```
//!
//! Numbers are little-endian. Kind 1 sets the stream's secret, kind 2
//! destroys it (secret length 0). A secret that is destroyed or replaced
//! later is erased in place: its bytes and its crc32 are overwritten with
//! zeros. The record's own checksum leaves them out, so it still checks
//! after an erasure, and a secret that is all zeros, crc32 included, reads
//! as erased. Any other secret must match its crc32.
//!
//! sled's `K` entries stay what reads consult; a record here matters when an
//! open re-indexes the commits sled lost, and is checked then. It is outside
//! the hash chain, so `verify` (which checks the chain) skips it.

use crate::envelope;

const FORMAT: u8 = 1;
const SET: u8 = 1;
const DESTROY: u8 = 2;
const CRC: usize = 4;

/// One change of a secrets record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    pub(crate) stream: &'a str,
    pub(crate) change: Change<'a>,
}

/// What an entry does to its stream's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change<'a> {
    /// Sets it to these bytes, found at `at` in the value.
    Set { secret: &'a [u8], at: usize },
    /// Set it to bytes erased since.
    Erased,
    /// Destroys it.
    Destroy,
}

/// The value of a secrets record of `changes` (stream, `Some(secret)` to
/// set or `None` to destroy) and, for each change that sets, where its
/// secret's bytes start in the value. Every part fits its length field
/// (stream names and secrets are bounded by the store's limits).
pub(crate) fn encode(changes: &[(&str, Option<&[u8]>)]) -> (Vec<u8>, Vec<Option<usize>>) {
    let mut out = Vec::new();
    let mut crc = crc32fast::Hasher::new();
    let mut covered = 0;
    // A commit holds fewer requests than `u32::MAX` (its events are counted in u32).
    let count = u32::try_from(changes.len()).expect("secret changes per commit fit u32");
    out.push(FORMAT);
    out.extend_from_slice(&count.to_le_bytes());
    let mut places = Vec::with_capacity(changes.len());
    for (stream, secret) in changes {
        out.push(if secret.is_some() { SET } else { DESTROY });
        let len = u16::try_from(stream.len()).expect("stream names fit u16");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(stream.as_bytes());
        let bytes = secret.unwrap_or_default();
        let len = u32::try_from(bytes.len()).expect("secrets fit u32");
        out.extend_from_slice(&len.to_le_bytes());
        crc.update(&out[covered..]);
        places.push(secret.map(|_| out.len()));
        out.extend_from_slice(bytes);
        out.extend_from_slice(&envelope::crc32(bytes).to_le_bytes());
        covered = out.len();
    }
    crc.update(&out[covered..]);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    (out, places)
}

/// The changes of a secrets record, each checked; a reason when the value
/// is damaged.
pub(crate) fn parse(value: &[u8]) -> Result<Vec<Entry<'_>>, &'static str> {
    let mut cursor = Cursor {
        value,
        at: 0,
        covered: 0,
        crc: crc32fast::Hasher::new(),
    };
    if cursor.take(1)? != [FORMAT] {
        return Err("unknown secrets record format");
    }
    let count = u32::from_le_bytes(cursor.array()?);
    // Each entry takes at least 11 bytes: no more room than the value holds.
    let mut entries = Vec::with_capacity((count as usize).min(value.len() / 11));
    for _ in 0..count {
        let [kind] = cursor.array()?;
        let len = u16::from_le_bytes(cursor.array()?);
        let stream = std::str::from_utf8(cursor.take(usize::from(len))?)
            .map_err(|_| "a secret's stream name is not UTF-8")?;
        let len = u32::from_le_bytes(cursor.array()?);
        let len = usize::try_from(len).map_err(|_| "a secret too long")?;
        cursor.skip_from_crc();
        let at = cursor.at;
        let secret = cursor.take(len)?;
        let stored = u32::from_le_bytes(cursor.array()?);
        cursor.covered = cursor.at;
        let change = match kind {
            SET if stored == 0 && secret.iter().all(|&b| b == 0) => Change::Erased,
            SET if envelope::crc32(secret) == stored => Change::Set { secret, at },
            SET => return Err("a secret does not match its checksum"),
            DESTROY if len == 0 => Change::Destroy,
            _ => return Err("unknown secret change"),
        };
        entries.push(Entry { stream, change });
    }
    cursor.skip_from_crc();
    let stored = u32::from_le_bytes(cursor.array()?);
    if cursor.at != value.len() {
        return Err("bytes after the secrets record's checksum");
    }
    if cursor.crc.finalize() != stored {
        return Err("the secrets record's checksum fails");
    }
    Ok(entries)
}

/// Bytes to overwrite with zeros to erase a secret of `len` bytes.
pub(crate) fn erased_len(len: usize) -> usize {
    len + CRC
}

struct Cursor<'a> {
    value: &'a [u8],
    at: usize,
    /// Bytes `..covered` are fed to `crc` (or left out of it).
    covered: usize,
    crc: crc32fast::Hasher,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let bytes = self
            .value
            .get(self.at..self.at.saturating_add(n))
            .ok_or("the secrets record ends early")?;
        self.at += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    /// Feeds the bytes read since the last covered point to the checksum.
    fn skip_from_crc(&mut self) {
        self.crc.update(&self.value[self.covered..self.at]);
        self.covered = self.at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_an_erased_secret_as_erased() {
        let changes: [(&str, Option<&[u8]>); 3] = [
            ("complaint-a", Some(b"key one")),
            ("complaint-b", None),
            ("complaint-c", Some(b"key three")),
        ];
        let (mut value, places) = encode(&changes);
        let entries = parse(&value).expect("parses");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].stream, "complaint-a");
        assert_eq!(
            entries[0].change,
            Change::Set {
                secret: b"key one",
                at: places[0].expect("set")
            }
        );
        assert_eq!(entries[1].change, Change::Destroy);
        assert_eq!(places[1], None);
        // Erasing the first secret in place leaves a record that checks.
        let at = places[0].expect("set");
        value[at..at + erased_len(7)].fill(0);
        let entries = parse(&value).expect("parses after an erasure");
        assert_eq!(entries[0].change, Change::Erased);
        assert!(matches!(
            entries[2].change,
            Change::Set {
                secret: b"key three",
                ..
            }
        ));
    }

    #[test]
    fn damage_is_named() {
        let (value, places) = encode(&[("s", Some(b"secret"))]);
        let at = places[0].expect("set");
        let mut bad = value.clone();
        bad[at] ^= 1;
        assert_eq!(parse(&bad), Err("a secret does not match its checksum"));
        // The stream name's byte: format, count, kind and length come first.
        let mut bad = value.clone();
        bad[8] ^= 1;
        assert_eq!(parse(&bad), Err("the secrets record's checksum fails"));
        // Half an erasure: neither the secret nor erased.
        let mut bad = value.clone();
        bad[at..at + 3].fill(0);
        assert!(parse(&bad).is_err());
        for cut in 0..value.len() {
            assert!(parse(&value[..cut]).is_err(), "cut at {cut}");
        }
    }
}
