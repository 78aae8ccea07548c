//! Leaves: what of an event the tree commits to, and the RFC 6962 hashes.
//!
//! A leaf is the event's place and identity, never its payload: the global
//! position, the event id, the stream name, the event type and the stored
//! BLAKE3 chain hash. Streams are named by ids and event types by code
//! names, so no personal data is in a leaf, and erasing a complaint's
//! personal data (destroying its key) leaves every proof valid.
//!
//! # Encoding, version 1
//!
//! | offset      | size | field                                   |
//! |-------------|------|-----------------------------------------|
//! | 0           | 1    | version, `0x01`                         |
//! | 1           | 8    | position, big-endian `u64`, ≥ 1         |
//! | 9           | 16   | event id (UUID bytes, RFC 9562 order)   |
//! | 25          | 2    | stream length `s`, big-endian `u16`     |
//! | 27          | `s`  | stream, UTF-8                           |
//! | 27+s        | 2    | event type length `t`, big-endian `u16` |
//! | 29+s        | `t`  | event type, UTF-8                       |
//! | 29+s+t      | 32   | the event's stored BLAKE3 chain hash    |
//!
//! The encoding is canonical: every leaf has exactly one encoding, and
//! [`Leaf::decode`] accepts only bytes that [`Leaf::encode`] produces (no
//! trailing bytes, no other version, no position 0, valid UTF-8).

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf hash, a node hash or a tree root.
pub type Hash = [u8; 32];

/// The version byte of the leaf encoding this crate writes.
pub const LEAF_VERSION: u8 = 1;

/// The longest stream name or event type a leaf can hold, in bytes
/// (the width of its length prefix).
pub const LEAF_TEXT_MAX_BYTES: usize = u16::MAX as usize;

/// The root of the empty tree: SHA-256 of no bytes (RFC 6962 §2.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// `SHA-256(0x00 ‖ bytes)`: the hash of a leaf's encoding (RFC 6962 §2.1).
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(bytes);
    hasher.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
///
/// The input is always 65 bytes, so it is padded here once and given to the
/// compression function as two blocks: most of the tree's hashing is this,
/// and it then skips the streaming layer (which, being generic, is compiled
/// unoptimised in debug builds of this crate and took most of the time).
/// A test checks it against the streaming SHA-256.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    use sha2::digest::generic_array::GenericArray;
    /// SHA-256's initial state (FIPS 180-4 §5.3.3).
    const IV: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut first = [0u8; 64];
    first[0] = 0x01;
    first[1..33].copy_from_slice(left);
    first[33..].copy_from_slice(&right[..31]);
    // The last input byte, the 0x80 terminator, zeros, and the input length
    // in bits (65 · 8 = 520) as a big-endian u64.
    let mut second = [0u8; 64];
    second[0] = right[31];
    second[1] = 0x80;
    second[56..].copy_from_slice(&520u64.to_be_bytes());
    let mut state = IV;
    sha2::compress256(
        &mut state,
        &[GenericArray::from(first), GenericArray::from(second)],
    );
    let mut out = [0u8; 32];
    for i in 0..8 {
        out[4 * i..4 * i + 4].copy_from_slice(&state[i].to_be_bytes());
    }
    out
}

/// What the tree commits to for one event of the global log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// The event's global position, from 1; its leaf index is `position − 1`.
    pub position: u64,
    /// The event id (a UUID's 16 bytes), the log's idempotency key.
    pub event_id: [u8; 16],
    /// The stream the event belongs to.
    pub stream: String,
    /// The event's type name.
    pub event_type: String,
    /// The event's stored BLAKE3 chain hash, which commits to its payload
    /// and to every earlier event.
    pub event_hash: [u8; 32],
}

/// Why bytes are not a leaf encoding, or a leaf cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    /// The first byte is not a version this crate reads.
    #[error("unknown leaf encoding version {0}")]
    UnknownVersion(u8),
    /// The bytes end before the field does.
    #[error("leaf encoding truncated in {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// Bytes follow the last field.
    #[error("{0} bytes after the end of the leaf encoding")]
    TrailingBytes(usize),
    /// A string field is not UTF-8.
    #[error("leaf {field} is not UTF-8")]
    NotUtf8 {
        /// The field.
        field: &'static str,
    },
    /// Positions start at 1.
    #[error("leaf position 0 (positions start at 1)")]
    ZeroPosition,
    /// A string field is longer than its length prefix can say.
    #[error("leaf {field} is {actual} bytes, over the {LEAF_TEXT_MAX_BYTES}-byte limit")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length in bytes.
        actual: usize,
    },
}

impl Leaf {
    /// The leaf's index in the tree, `position − 1` (`None` for the
    /// invalid position 0).
    pub fn index(&self) -> Option<u64> {
        self.position.checked_sub(1)
    }

    /// The canonical version-1 encoding (see the module doc's table).
    pub fn encode(&self) -> Result<Vec<u8>, LeafError> {
        if self.position == 0 {
            return Err(LeafError::ZeroPosition);
        }
        let stream = text_len("stream", &self.stream)?;
        let event_type = text_len("event type", &self.event_type)?;
        let mut out =
            Vec::with_capacity(1 + 8 + 16 + 2 + self.stream.len() + 2 + self.event_type.len() + 32);
        out.push(LEAF_VERSION);
        out.extend_from_slice(&self.position.to_be_bytes());
        out.extend_from_slice(&self.event_id);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(self.stream.as_bytes());
        out.extend_from_slice(&event_type.to_be_bytes());
        out.extend_from_slice(self.event_type.as_bytes());
        out.extend_from_slice(&self.event_hash);
        Ok(out)
    }

    /// The leaf hash, `SHA-256(0x00 ‖ encode())`.
    pub fn hash(&self) -> Result<Hash, LeafError> {
        Ok(leaf_hash(&self.encode()?))
    }

    /// Reads a canonical encoding; anything else is an error.
    pub fn decode(bytes: &[u8]) -> Result<Leaf, LeafError> {
        let mut reader = Reader { rest: bytes };
        let [version] = reader.array::<1>("version")?;
        if version != LEAF_VERSION {
            return Err(LeafError::UnknownVersion(version));
        }
        let position = u64::from_be_bytes(reader.array("position")?);
        if position == 0 {
            return Err(LeafError::ZeroPosition);
        }
        let event_id = reader.array("event id")?;
        let stream = reader.text("stream")?;
        let event_type = reader.text("event type")?;
        let event_hash = reader.array("event hash")?;
        if !reader.rest.is_empty() {
            return Err(LeafError::TrailingBytes(reader.rest.len()));
        }
        Ok(Leaf {
            position,
            event_id,
            stream,
            event_type,
            event_hash,
        })
    }
}

fn text_len(field: &'static str, text: &str) -> Result<u16, LeafError> {
    u16::try_from(text.len()).map_err(|_| LeafError::TooLong {
        field,
        actual: text.len(),
    })
}

/// A cursor over the bytes being decoded.
struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, field: &'static str, len: usize) -> Result<&[u8], LeafError> {
        if self.rest.len() < len {
            return Err(LeafError::Truncated { field });
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], LeafError> {
        let bytes = self.take(field, N)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }

    fn text(&mut self, field: &'static str) -> Result<String, LeafError> {
        let len = u16::from_be_bytes(self.array(field)?);
        let bytes = self.take(field, usize::from(len))?;
        String::from_utf8(bytes.to_vec()).map_err(|_| LeafError::NotUtf8 { field })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Leaf {
        Leaf {
            position: 7,
            event_id: [0x11; 16],
            stream: "complaint-0001".into(),
            event_type: "ComplaintReceived".into(),
            event_hash: [0xab; 32],
        }
    }

    #[test]
    fn encoding_follows_the_table() {
        let bytes = sample().encode().unwrap();
        assert_eq!(bytes[0], 1);
        assert_eq!(bytes[1..9], 7u64.to_be_bytes());
        assert_eq!(bytes[9..25], [0x11; 16]);
        assert_eq!(bytes[25..27], 14u16.to_be_bytes());
        assert_eq!(&bytes[27..41], b"complaint-0001");
        assert_eq!(bytes[41..43], 17u16.to_be_bytes());
        assert_eq!(&bytes[43..60], b"ComplaintReceived");
        assert_eq!(bytes[60..], [0xab; 32]);
    }

    #[test]
    fn decode_inverts_encode_and_rejects_everything_else() {
        let bytes = sample().encode().unwrap();
        assert_eq!(Leaf::decode(&bytes).unwrap(), sample());
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Leaf::decode(&longer), Err(LeafError::TrailingBytes(1)));
        for cut in 0..bytes.len() {
            assert!(matches!(
                Leaf::decode(&bytes[..cut]),
                Err(LeafError::Truncated { .. })
            ));
        }
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(Leaf::decode(&v2), Err(LeafError::UnknownVersion(2)));
        let mut zero = bytes.clone();
        zero[1..9].copy_from_slice(&0u64.to_be_bytes());
        assert_eq!(Leaf::decode(&zero), Err(LeafError::ZeroPosition));
        let mut bad_utf8 = bytes;
        bad_utf8[27] = 0xff;
        assert_eq!(
            Leaf::decode(&bad_utf8),
            Err(LeafError::NotUtf8 { field: "stream" })
        );
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = sample().hash().unwrap();
        let changes: [fn(&mut Leaf); 5] = [
            |l| l.position += 1,
            |l| l.event_id[15] ^= 1,
            |l| l.stream.push('x'),
            |l| l.event_type.push('x'),
            |l| l.event_hash[0] ^= 1,
        ];
        for change in changes {
            let mut leaf = sample();
            change(&mut leaf);
            assert_ne!(leaf.hash().unwrap(), base);
        }
    }

    #[test]
    fn unencodable_leaves_are_refused() {
        let mut leaf = sample();
        leaf.position = 0;
        assert_eq!(leaf.encode(), Err(LeafError::ZeroPosition));
        let mut leaf = sample();
        leaf.stream = "s".repeat(LEAF_TEXT_MAX_BYTES + 1);
        assert!(matches!(leaf.encode(), Err(LeafError::TooLong { .. })));
    }

    proptest::proptest! {
        #[test]
        fn every_leaf_round_trips(
            position in 1..=u64::MAX,
            event_id: [u8; 16],
            stream in ".{0,40}",
            event_type in "[A-Za-z]{0,40}",
            event_hash: [u8; 32],
        ) {
            let leaf = Leaf { position, event_id, stream, event_type, event_hash };
            let bytes = leaf.encode().unwrap();
            proptest::prop_assert_eq!(Leaf::decode(&bytes).unwrap(), leaf);
        }
    }

    #[test]
    fn node_hash_is_streaming_sha256() {
        let mut left = [0u8; 32];
        let mut right = [0u8; 32];
        for i in 0..200u8 {
            left[usize::from(i) % 32] ^= i.wrapping_mul(31);
            right[usize::from(i) % 7] ^= i.wrapping_mul(17) ^ 0x5a;
            let mut h = Sha256::new();
            h.update([0x01]);
            h.update(left);
            h.update(right);
            assert_eq!(node_hash(&left, &right), <[u8; 32]>::from(h.finalize()));
        }
    }

    #[test]
    fn hashes_are_rfc6962() {
        assert_eq!(leaf_hash(b""), {
            let mut h = Sha256::new();
            h.update([0u8]);
            <[u8; 32]>::from(h.finalize())
        });
        assert_eq!(<[u8; 32]>::from(Sha256::digest(b"")), EMPTY_ROOT);
    }
}
