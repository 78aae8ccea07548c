//! Signed checkpoints: C2SP `tlog-checkpoint` bodies in C2SP signed notes,
//! with Ed25519 keys named and identified as the signed-note spec says.
//!
//! A checkpoint body is
//!
//! ```text
//! <origin>\n
//! <tree size, decimal>\n
//! <root hash, standard base64>\n
//! [<extension line>\n ...]
//! ```
//!
//! and a signed note is the body, a blank line, and one line per signature:
//! `— <key name> <base64(key id ‖ Ed25519 signature)>\n` (an em dash,
//! U+2014). The key id is the first four bytes, big-endian, of
//! `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`; `0x01` is the Ed25519
//! algorithm byte. Verifier keys are written `<name>+<key id, 8 hex
//! digits>+<base64(0x01 ‖ public key)>`, signer keys
//! `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>`, as Go's
//! `golang.org/x/mod/sumdb/note` writes them.
//!
//! Rotation: a new key under the same name has a new key id. During a
//! handover the log signs with both keys ([`sign_checkpoint`] takes several
//! signers) and clients accept either; once every client knows the new
//! key, the old one is dropped from both sides.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::leaf::Hash;
use crate::verify::{VerifyError, verify_consistency};

/// The algorithm byte of Ed25519 keys in signed notes.
const ALG_ED25519: u8 = 0x01;

/// The line prefix of a signature: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// The largest signed note [`open_checkpoint`] reads, in bytes.
pub const NOTE_MAX_BYTES: usize = 64 * 1024;

/// The most signature lines [`open_checkpoint`] reads (as Go's `note`).
pub const NOTE_MAX_SIGNATURES: usize = 100;

/// Why a key, a note or a checkpoint was refused; each variant is one kind
/// of failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A key name is empty or holds a space, a `+` or a control character.
    #[error("invalid key name {0:?}")]
    InvalidKeyName(String),
    /// A verifier or signer key string is not in the C2SP format.
    #[error("malformed key string: {0}")]
    MalformedKey(&'static str),
    /// A key string's key id is not the one its name and key give.
    #[error("key {name:?} says key id {stated:08x} but its key gives {computed:08x}")]
    KeyIdMismatch {
        /// The key name.
        name: String,
        /// The id in the string.
        stated: u32,
        /// The id computed from the name and key.
        computed: u32,
    },
    /// The note is larger than [`NOTE_MAX_BYTES`].
    #[error("note is {actual} bytes, over the {NOTE_MAX_BYTES}-byte limit")]
    TooLarge {
        /// The note's size.
        actual: usize,
    },
    /// The note is not a signed note: the reason says where.
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    /// More signature lines than [`NOTE_MAX_SIGNATURES`].
    #[error("note has more than {NOTE_MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// No signature is by a key the reader knows.
    #[error("no signature by a known key (signed by: {signed_by:?})")]
    UnknownKey {
        /// The `name+keyid` of each signature found.
        signed_by: Vec<String>,
    },
    /// A known key's signature does not verify: the note was changed or the
    /// signature forged.
    #[error("signature by {name}+{key_id:08x} does not verify")]
    BadSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// The note's text is not a checkpoint body: the reason says where.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    /// Signing was asked for with no signer.
    #[error("a note needs at least one signer")]
    NoSigner,
}

/// A C2SP `tlog-checkpoint`: the log's origin, a tree size and its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name, unique to it (e.g. `rectify.example.gov.cn/log`).
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The root of the tree of `size` leaves.
    pub root: Hash,
    /// Optional further lines, each non-empty, signed with the body.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint body, the text that is signed.
    pub fn body(&self) -> Result<String, NoteError> {
        check_line(
            &self.origin,
            "the origin is empty or holds a control character",
        )?;
        for line in &self.extensions {
            check_line(
                line,
                "an extension line is empty or holds a control character",
            )?;
        }
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        Ok(body)
    }

    /// Reads a checkpoint body.
    pub fn parse(body: &str) -> Result<Checkpoint, NoteError> {
        let malformed = NoteError::MalformedCheckpoint;
        let lines = body
            .strip_suffix('\n')
            .ok_or(malformed("the body does not end with a newline"))?;
        let mut lines = lines.split('\n');
        let origin = lines.next().unwrap_or_default();
        check_line(origin, "the origin is empty or holds a control character")?;
        let size = lines.next().ok_or(malformed("no tree size line"))?;
        let canonical = size == "0" || (!size.starts_with('0') && !size.is_empty());
        if !canonical || !size.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("the tree size is not a canonical decimal"));
        }
        let size = size
            .parse()
            .map_err(|_| malformed("the tree size is out of range"))?;
        let root = lines.next().ok_or(malformed("no root hash line"))?;
        let root = BASE64
            .decode(root)
            .ok()
            .and_then(|bytes| Hash::try_from(bytes).ok())
            .ok_or(malformed("the root hash is not 32 bytes of base64"))?;
        let extensions = lines.map(str::to_owned).collect::<Vec<_>>();
        for line in &extensions {
            check_line(
                line,
                "an extension line is empty or holds a control character",
            )?;
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

impl Checkpoint {
    /// Checks that this checkpoint's tree extends `older`'s, given a
    /// consistency proof between their sizes: a smaller size is a removal
    /// ([`VerifyError::Shrunk`]), the same size with another root a fork
    /// ([`VerifyError::Fork`]), a prefix that does not rebuild the older
    /// root a rewrite ([`VerifyError::OldRootMismatch`]).
    pub fn verify_extends(&self, older: &Checkpoint, proof: &[Hash]) -> Result<(), VerifyError> {
        if self.origin != older.origin {
            return Err(VerifyError::OriginMismatch {
                old: older.origin.clone(),
                new: self.origin.clone(),
            });
        }
        verify_consistency(older.size, self.size, &older.root, &self.root, proof)
    }
}

/// A note line: non-empty, no control characters (so no newline either).
fn check_line(line: &str, reason: &'static str) -> Result<(), NoteError> {
    if line.is_empty() || line.chars().any(char::is_control) {
        Err(NoteError::MalformedCheckpoint(reason))
    } else {
        Ok(())
    }
}

/// A signed-note key name: non-empty, no whitespace, `+` or control
/// character.
fn check_name(name: &str) -> Result<(), NoteError> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || c == '+';
    if name.is_empty() || name.chars().any(bad) {
        Err(NoteError::InvalidKeyName(name.to_owned()))
    } else {
        Ok(())
    }
}

/// The C2SP key id of an Ed25519 key: the first four bytes of
/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`, big-endian.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ALG_ED25519]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A named Ed25519 signing key: the log's checkpoint and receipt signer.
pub struct Signer {
    /// The key name, e.g. the log's origin.
    name: String,
    /// The private key.
    key: SigningKey,
    /// The C2SP key id of the name and public key.
    key_id: u32,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from a name and a 32-byte Ed25519 seed. The caller draws
    /// the seed; this crate draws no random numbers.
    pub fn new(name: &str, seed: [u8; 32]) -> Result<Signer, NoteError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(name, key.verifying_key().as_bytes());
        Ok(Signer {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    /// Reads `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>`.
    pub fn from_key_string(text: &str) -> Result<Signer, NoteError> {
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::MalformedKey(
                "a signer key starts with PRIVATE+KEY+",
            ))?;
        let (name, stated, seed) = split_key(rest)?;
        let signer = Signer::new(name, seed)?;
        if signer.key_id != stated {
            return Err(NoteError::KeyIdMismatch {
                name: name.to_owned(),
                stated,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// Writes the key as [`Signer::from_key_string`] reads it. The string
    /// is secret.
    pub fn to_key_string(&self) -> String {
        let mut key = vec![ALG_ED25519];
        key.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(key)
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The C2SP key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier, for clients.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            key_id: self.key_id,
        }
    }

    /// An Ed25519 signature over `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer as _;
        self.key.sign(message).to_bytes()
    }
}

/// A named Ed25519 public key that checks signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    /// The key name.
    name: String,
    /// The public key.
    key: VerifyingKey,
    /// The C2SP key id of the name and public key.
    key_id: u32,
}

impl Verifier {
    /// A verifier from a name and a 32-byte Ed25519 public key.
    pub fn new(name: &str, public_key: [u8; 32]) -> Result<Verifier, NoteError> {
        check_name(name)?;
        let key = VerifyingKey::from_bytes(&public_key)
            .map_err(|_| NoteError::MalformedKey("not an Ed25519 public key"))?;
        Ok(Verifier {
            name: name.to_owned(),
            key,
            key_id: key_id(name, &public_key),
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The C2SP key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Whether `signature` is this key's signature of `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        Signature::from_slice(signature)
            .is_ok_and(|signature| self.key.verify_strict(message, &signature).is_ok())
    }
}

impl FromStr for Verifier {
    type Err = NoteError;

    /// Reads `<name>+<key id, 8 hex digits>+<base64(0x01 ‖ public key)>`.
    fn from_str(text: &str) -> Result<Verifier, NoteError> {
        let (name, stated, key) = split_key(text)?;
        let verifier = Verifier::new(name, key)?;
        if verifier.key_id != stated {
            return Err(NoteError::KeyIdMismatch {
                name: name.to_owned(),
                stated,
                computed: verifier.key_id,
            });
        }
        Ok(verifier)
    }
}

impl fmt::Display for Verifier {
    /// Writes the C2SP verifier key string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = vec![ALG_ED25519];
        key.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(key)
        )
    }
}

/// Splits `<name>+<8 hex>+<base64(0x01 ‖ 32 bytes)>`.
fn split_key(text: &str) -> Result<(&str, u32, [u8; 32]), NoteError> {
    let malformed = NoteError::MalformedKey;
    // Base64 may hold '+', so the key is everything after the second one.
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("a key is <name>+<key id>+<key>"));
    };
    check_name(name)?;
    let hex = id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let id = u32::from_str_radix(id, 16)
        .ok()
        .filter(|_| hex)
        .ok_or(malformed("the key id is not 8 hex digits"))?;
    let key = BASE64
        .decode(key)
        .map_err(|_| malformed("the key is not base64"))?;
    match key.split_first() {
        Some((&ALG_ED25519, rest)) => Ok((
            name,
            id,
            rest.try_into()
                .map_err(|_| malformed("an Ed25519 key is 32 bytes"))?,
        )),
        Some(_) => Err(malformed("the key is not an Ed25519 key (algorithm 0x01)")),
        None => Err(malformed("the key is empty")),
    }
}

/// Signs a note's text with each signer. The text must end with a newline
/// and hold no control characters but newlines and no blank line.
pub fn sign_note(text: &str, signers: &[&Signer]) -> Result<String, NoteError> {
    check_note_text(text)?;
    if signers.is_empty() {
        return Err(NoteError::NoSigner);
    }
    let mut note = format!("{text}\n");
    for signer in signers {
        let mut sig = signer.key_id.to_be_bytes().to_vec();
        sig.extend_from_slice(&signer.sign(text.as_bytes()));
        note.push_str(&format!(
            "{SIG_PREFIX}{} {}\n",
            signer.name,
            BASE64.encode(sig)
        ));
    }
    Ok(note)
}

fn check_note_text(text: &str) -> Result<(), NoteError> {
    let malformed = NoteError::MalformedNote;
    if !text.ends_with('\n') {
        return Err(malformed("the text does not end with a newline"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(malformed("the text holds a control character"));
    }
    if text.starts_with('\n') || text.contains("\n\n") {
        return Err(malformed("the text holds a blank line"));
    }
    Ok(())
}

/// A signed note whose signatures were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The signed text, ending with a newline.
    pub text: String,
    /// The `(name, key id)` of each known key that signed it.
    pub verified_by: Vec<(String, u32)>,
}

/// Opens a signed note: every signature by a known key must verify, and at
/// least one must be there. Signatures by unknown keys are skipped, as the
/// C2SP spec asks, so a log can add a witness without breaking clients.
pub fn open_note(note: &str, verifiers: &[Verifier]) -> Result<OpenedNote, NoteError> {
    let malformed = NoteError::MalformedNote;
    if note.len() > NOTE_MAX_BYTES {
        return Err(NoteError::TooLarge { actual: note.len() });
    }
    let split = note
        .rfind("\n\n")
        .ok_or(malformed("no blank line before the signatures"))?;
    let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
    check_note_text(text)?;
    let signatures = signatures
        .strip_suffix('\n')
        .ok_or(malformed("the signatures do not end with a newline"))?;
    let mut verified_by: Vec<(String, u32)> = Vec::new();
    let mut signed_by = Vec::new();
    for (count, line) in signatures.split('\n').enumerate() {
        if count >= NOTE_MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let (name, id, signature) = parse_signature_line(line)?;
        signed_by.push(format!("{name}+{id:08x}"));
        let Some(verifier) = verifiers.iter().find(|v| v.name == name && v.key_id == id) else {
            continue;
        };
        if !verifier.verifies(text.as_bytes(), &signature) {
            return Err(NoteError::BadSignature {
                name: name.to_owned(),
                key_id: id,
            });
        }
        if !verified_by.iter().any(|(n, k)| n == name && *k == id) {
            verified_by.push((name.to_owned(), id));
        }
    }
    if verified_by.is_empty() {
        return Err(NoteError::UnknownKey { signed_by });
    }
    Ok(OpenedNote {
        text: text.to_owned(),
        verified_by,
    })
}

/// Splits `— <name> <base64(key id ‖ signature)>`.
fn parse_signature_line(line: &str) -> Result<(&str, u32, Vec<u8>), NoteError> {
    let malformed = NoteError::MalformedNote;
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(malformed("a signature line does not start with an em dash"))?;
    let (name, encoded) = rest
        .split_once(' ')
        .ok_or(malformed("a signature line has no signature"))?;
    check_name(name).map_err(|_| malformed("a signature line has an invalid key name"))?;
    let bytes = BASE64
        .decode(encoded)
        .map_err(|_| malformed("a signature is not base64"))?;
    if bytes.len() < 5 {
        return Err(malformed(
            "a signature is shorter than a key id and one byte",
        ));
    }
    let id = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    Ok((name, id, bytes[4..].to_vec()))
}

/// The signed note of a checkpoint, signed by each signer (several during a
/// key rotation).
pub fn sign_checkpoint(checkpoint: &Checkpoint, signers: &[&Signer]) -> Result<String, NoteError> {
    sign_note(&checkpoint.body()?, signers)
}

/// Opens a signed checkpoint: the note must be signed by a known key, every
/// known key's signature must verify, and the text must be a checkpoint.
pub fn open_checkpoint(note: &str, verifiers: &[Verifier]) -> Result<Checkpoint, NoteError> {
    Checkpoint::parse(&open_note(note, verifiers)?.text)
}
