//! The segment file of log format 3: the log body, append-only.
//!
//! The file is a sequence of records, each one batch value (see `batch`)
//! with a small frame:
//!
//! ```text
//! value len u32 | flags u8 | crc32 u32 over the five bytes before it | batch value
//! ```
//!
//! Numbers are little-endian. The batch value carries its own checksum, so
//! a record is read only whole and checked: a frame whose checksum fails,
//! or whose value runs past the end of the file, is torn. Flags:
//!
//! - [`END`]: the last record of a commit. A commit of many events writes
//!   several records in one `write`, and only a commit whose last record
//!   is on disk counts; records after the last `END` are an unfinished
//!   commit and are cut when the store opens.
//! - [`CONFIRM`]: the commit changes stream secrets, which live in sled. It
//!   counts only once sled durably holds its index entries (the `Mindexed`
//!   marker covers it); an unconfirmed one is cut when the store opens, so a
//!   secret and its events are written together or not at all. Format 4
//!   wrote it; format 5 writes [`SECRETS`] records instead and only reads
//!   this flag in logs written before.
//! - [`SECRETS`]: the record's value is a secrets record (see `secrets`),
//!   the first record of a commit that changes stream secrets. Reads of
//!   events skip it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::StoreError;
use crate::envelope;

/// The segment file's name in the data directory.
pub(crate) const SEGMENT_FILE: &str = "events.seg";
/// Flag: the record ends a commit.
pub(crate) const END: u8 = 1;
/// Flag: the commit counts only once sled confirms it.
pub(crate) const CONFIRM: u8 = 2;
/// Flag: the record holds the commit's secret changes, not events.
pub(crate) const SECRETS: u8 = 4;
/// Bytes of a record's frame.
pub(crate) const FRAME: usize = 4 + 1 + 4;
/// Largest read of a sequential walk.
const READ_CHUNK: usize = 1 << 20;
/// Smallest read after the first one of a walk.
const MIN_CHUNK: usize = 64 * 1024;

/// Where a record is in the segment file: the `B` value of format 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    /// Byte offset of the record's frame.
    pub(crate) offset: u64,
    /// Bytes of frame and value.
    pub(crate) len: u32,
}

impl Place {
    pub(crate) fn encode(self) -> [u8; 12] {
        let mut out = [0; 12];
        out[..8].copy_from_slice(&self.offset.to_le_bytes());
        out[8..].copy_from_slice(&self.len.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8], position: u64) -> Result<Place, StoreError> {
        if bytes.len() != 12 {
            return Err(StoreError::Corrupt {
                position,
                reason: "batch index entry has the wrong length".into(),
            });
        }
        Ok(Place {
            offset: u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
            len: u32::from_le_bytes(bytes[8..].try_into().expect("4 bytes")),
        })
    }

    /// The offset after the record.
    pub(crate) fn end(self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

/// Appends the record of `value` with `flags` to `out`; returns its length.
pub(crate) fn frame(out: &mut Vec<u8>, value: &[u8], flags: u8) -> u32 {
    let len = u32::try_from(value.len()).expect("batch values are far below 4 GiB");
    let start = out.len();
    out.extend_from_slice(&len.to_le_bytes());
    out.push(flags);
    let crc = envelope::crc32(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(value);
    len + FRAME as u32
}

/// A record's frame, checked; `None` when its checksum fails.
fn parse_frame(bytes: &[u8]) -> Option<(u32, u8)> {
    let crc = u32::from_le_bytes(bytes[5..FRAME].try_into().expect("4 bytes"));
    if envelope::crc32(&bytes[..5]) != crc {
        return None;
    }
    let len = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
    Some((len, bytes[4]))
}

/// Opens (creating if needed) the segment file of `dir` for reading and
/// writing; a new file's directory entry is made durable.
pub(crate) fn open(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(SEGMENT_FILE);
    let existed = path.exists();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    if !existed {
        file.sync_all()?;
        File::open(dir)?.sync_all()?;
    }
    Ok(file)
}

/// What [`Records::next`] found.
pub(crate) enum Next<'a> {
    /// A whole record (its frame checked, its value not yet).
    Record {
        place: Place,
        flags: u8,
        value: &'a [u8],
    },
    /// The end of the readable bytes, between records.
    End,
    /// A record that is cut short or whose frame is damaged, at `offset`.
    Torn { offset: u64, reason: &'static str },
}

/// Reads records one after another with large sequential reads.
pub(crate) struct Records<'f> {
    file: &'f File,
    /// Read bytes in `buf[..filled]`; the buffer only grows, so its bytes
    /// are zeroed once, not on every read.
    buf: Vec<u8>,
    filled: usize,
    /// File offset of `buf[0]`.
    buf_at: u64,
    /// Cursor in `buf`.
    pos: usize,
    /// Bytes of the file that may be read.
    limit: u64,
    /// Size of the next read.
    chunk: usize,
}

impl<'f> Records<'f> {
    /// Records from `offset`, reading no byte at or after `limit`; the
    /// first read is `first_read` bytes (e.g. exactly the first record).
    pub(crate) fn new(file: &'f File, offset: u64, limit: u64, first_read: usize) -> Records<'f> {
        Records {
            file,
            buf: Vec::new(),
            filled: 0,
            buf_at: offset,
            pos: 0,
            limit,
            chunk: first_read.max(FRAME),
        }
    }

    /// Sets the size of later reads (clamped to sensible bounds).
    pub(crate) fn read_ahead(&mut self, bytes: usize) {
        self.chunk = bytes.clamp(MIN_CHUNK, READ_CHUNK);
    }

    /// Makes `n` bytes from the cursor available; false at the limit.
    fn ensure(&mut self, n: usize) -> std::io::Result<bool> {
        if self.filled - self.pos >= n {
            return Ok(true);
        }
        let cursor = self.buf_at + self.pos as u64;
        if self.limit.saturating_sub(cursor) < n as u64 {
            return Ok(false);
        }
        self.buf.copy_within(self.pos..self.filled, 0);
        self.filled -= self.pos;
        self.buf_at = cursor;
        self.pos = 0;
        // have < n ≤ target, and the limit leaves at least n bytes after the cursor.
        let have = self.filled;
        let target = n.max(self.chunk);
        let read_at = cursor + have as u64;
        let want = ((target - have) as u64).min(self.limit - read_at) as usize;
        if self.buf.len() < have + want {
            self.buf.resize(have + want, 0);
        }
        self.file
            .read_exact_at(&mut self.buf[have..have + want], read_at)?;
        self.filled = have + want;
        if self.chunk < READ_CHUNK {
            self.chunk = (self.chunk * 2).clamp(MIN_CHUNK, READ_CHUNK);
        }
        Ok(true)
    }

    /// The offset of the next record.
    pub(crate) fn offset(&self) -> u64 {
        self.buf_at + self.pos as u64
    }

    pub(crate) fn next(&mut self) -> std::io::Result<Next<'_>> {
        let offset = self.offset();
        if offset >= self.limit {
            return Ok(Next::End);
        }
        if !self.ensure(FRAME)? {
            return Ok(Next::Torn {
                offset,
                reason: "the log ends inside a record's frame",
            });
        }
        let Some((len, flags)) = parse_frame(&self.buf[self.pos..self.pos + FRAME]) else {
            return Ok(Next::Torn {
                offset,
                reason: "damaged record frame",
            });
        };
        let total = FRAME + len as usize;
        if !self.ensure(total)? {
            return Ok(Next::Torn {
                offset,
                reason: "the log ends inside a record",
            });
        }
        let start = self.pos + FRAME;
        self.pos += total;
        Ok(Next::Record {
            place: Place {
                offset,
                len: total as u32,
            },
            flags,
            value: &self.buf[start..self.pos],
        })
    }
}

/// The value of the record at `place`, read whole and its frame checked.
pub(crate) fn read_record(file: &File, place: Place, position: u64) -> Result<Vec<u8>, StoreError> {
    let mut buf = vec![0; place.len as usize];
    if (place.len as usize) < FRAME {
        return Err(StoreError::Corrupt {
            position,
            reason: "batch index entry names a record too short".into(),
        });
    }
    match file.read_exact_at(&mut buf, place.offset) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(StoreError::Corrupt {
                position,
                reason: "the log ends inside an indexed record".into(),
            });
        }
        Err(e) => return Err(e.into()),
    }
    match parse_frame(&buf[..FRAME]) {
        Some((len, _)) if len as usize + FRAME == buf.len() => {
            buf.drain(..FRAME);
            Ok(buf)
        }
        _ => Err(StoreError::Corrupt {
            position,
            reason: "damaged record frame".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(values: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, value) in values.iter().enumerate() {
            frame(&mut out, value, if i + 1 == values.len() { END } else { 0 });
        }
        out
    }

    fn all(file: &File, limit: u64, first: usize) -> (Vec<(Vec<u8>, u8)>, Option<u64>) {
        let mut reader = Records::new(file, 0, limit, first);
        let mut out = Vec::new();
        loop {
            match reader.next().expect("read") {
                Next::Record { value, flags, .. } => out.push((value.to_vec(), flags)),
                Next::End => return (out, None),
                Next::Torn { offset, .. } => return (out, Some(offset)),
            }
        }
    }

    #[test]
    fn reads_records_back_across_refills_and_finds_a_torn_tail() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = open(dir.path()).expect("open");
        let big = vec![7u8; 200_000];
        let bytes = records(&[b"one", &big, b"three"]);
        file.write_all_at(&bytes, 0).expect("write");
        let len = bytes.len() as u64;
        for first in [1, 12, 100, 1 << 20] {
            let (got, torn) = all(&file, len, first);
            assert_eq!(torn, None);
            assert_eq!(got.len(), 3);
            assert_eq!(got[1].0, big);
            assert_eq!((got[0].1, got[2].1), (0, END));
        }
        // Every cut inside the last record is torn, at the record's start.
        let last_start = len - (FRAME as u64 + 5);
        for cut in last_start + 1..len {
            let (got, torn) = all(&file, cut, 64);
            assert_eq!((got.len(), torn), (2, Some(last_start)), "cut at {cut}");
        }
        // A damaged frame is torn too.
        let mut damaged = bytes.clone();
        damaged[last_start as usize + 1] ^= 1;
        file.write_all_at(&damaged, 0).expect("write");
        assert_eq!(all(&file, len, 64).1, Some(last_start));
    }

    #[test]
    fn places_round_trip_and_records_read_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = open(dir.path()).expect("open");
        let mut bytes = Vec::new();
        let a = frame(&mut bytes, b"first", 0);
        let b = frame(&mut bytes, b"second", END);
        file.write_all_at(&bytes, 0).expect("write");
        let place = Place {
            offset: u64::from(a),
            len: b,
        };
        assert_eq!(Place::decode(&place.encode(), 0).expect("decode"), place);
        assert_eq!(read_record(&file, place, 9).expect("read"), b"second");
        let short = Place {
            len: b + 1,
            ..place
        };
        assert!(matches!(
            read_record(&file, short, 9),
            Err(StoreError::Corrupt { position: 9, .. })
        ));
    }
}
