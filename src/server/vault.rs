//! Personal data at rest: per-complaint data keys wrapped by a master key,
//! and crypto-shredding.
//!
//! Every complaint gets its own random 256-bit data key at intake. The
//! submitter's name, phone and ID number are sealed with it
//! (XChaCha20-Poly1305, a random 192-bit nonce, the stream name as associated
//! data) and only the sealed token enters the event; the data key itself is
//! wrapped with the master key the same way and kept as the stream's secret
//! beside the log (see `rectify_eventlog`'s invariant 8), written in the same
//! atomic append as the intake event.
//!
//! Erasure (`ErasePersonalData`) appends `PersonalDataErased` and destroys
//! the stream's secret in one write. The sealed token stays in the log, so
//! every event and every chain hash is unchanged and `verify` still passes,
//! but nothing can open it any more.
//!
//! Invariants:
//!
//! 1. No event written by this module's callers holds a submitter in clear;
//!    the clear copy exists only in memory while a request is served.
//! 2. A token opens only under the stream it was sealed for (associated
//!    data), and only with the data key of that stream: moving tokens or
//!    wrapped keys between complaints fails authentication.
//! 3. Keys are tagged with the master key's id, so a wrapped key made under
//!    a retired master key is still opened while that key is configured
//!    (rotation), and a missing master key is named, not guessed.
//!
//! Wire formats (version byte first, so they can change):
//!
//! - wrapped data key: `0x01 ‖ master key id (8) ‖ nonce (24) ‖ AEAD(data key)`;
//! - sealed token: `"s1." ‖ base64url(nonce (24) ‖ AEAD(JSON of the submitter))`.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::{
    Key, KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Generate, Payload},
};
use rectify_domain::complaint::Submitter;
use zeroize::Zeroizing;

/// Version byte of a wrapped data key.
const WRAPPED_V1: u8 = 1;
/// Prefix of a sealed token.
const SEALED_V1: &str = "s1.";
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
const ID_LEN: usize = 8;

/// What can go wrong with keys and sealed data.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The master key file is missing, unreadable or malformed.
    #[error("master key {path}: {reason}")]
    MasterKey {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A wrapped key names a master key that is not configured.
    #[error("the data key was wrapped by master key {0}, which is not configured")]
    UnknownMasterKey(String),
    /// Bytes that should be a wrapped key or a sealed token are not.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// Authentication failed: wrong key, wrong stream or altered bytes.
    #[error("{0} failed authentication (altered, moved from another complaint, or a wrong key)")]
    Authentication(&'static str),
    /// The system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// A master key and its id.
struct MasterKey {
    id: [u8; ID_LEN],
    cipher: XChaCha20Poly1305,
}

impl MasterKey {
    fn new(bytes: &[u8; KEY_LEN]) -> MasterKey {
        let digest = blake3::derive_key("rectify 2026 master key id", bytes);
        let mut id = [0; ID_LEN];
        id.copy_from_slice(&digest[..ID_LEN]);
        MasterKey {
            id,
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }
}

/// The master keys: the current one wraps new data keys; retired ones only
/// unwrap.
pub struct Vault {
    current: MasterKey,
    retired: Vec<MasterKey>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("current", &self.current_id())
            .field("retired", &self.retired.len())
            .finish_non_exhaustive()
    }
}

/// A fresh random 256-bit key from the system's generator.
pub(crate) fn random_key() -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
    let key = Key::try_generate().map_err(|e| VaultError::Random(e.to_string()))?;
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    out.copy_from_slice(&key);
    Ok(out)
}

fn new_nonce() -> Result<XNonce, VaultError> {
    XNonce::try_generate().map_err(|e| VaultError::Random(e.to_string()))
}

/// Parses 64 hex digits (surrounding whitespace ignored).
fn parse_key(text: &str) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    let text = text.trim();
    if text.len() != 2 * KEY_LEN {
        return None;
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

fn read_key_file(path: &Path) -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
    let error = |reason: String| VaultError::MasterKey {
        path: path.display().to_string(),
        reason,
    };
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?);
    parse_key(&text).ok_or_else(|| error("expected 64 hexadecimal digits (256 bits)".to_owned()))
}

/// A new master key as 64 hex digits.
pub fn new_master_key_hex() -> Result<Zeroizing<String>, VaultError> {
    let key = random_key()?;
    Ok(Zeroizing::new(
        key.iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

/// Creates the key file at `path` (mode 0600) with a new random master key,
/// unless it exists. Returns whether it was created.
pub fn create_key_file(path: &Path) -> Result<bool, VaultError> {
    if path.exists() {
        return Ok(false);
    }
    let hex = new_master_key_hex()?;
    write_private(path, hex.as_bytes()).map_err(|e| VaultError::MasterKey {
        path: path.display().to_string(),
        reason: format!("cannot create: {e}"),
    })?;
    Ok(true)
}

impl Vault {
    /// A vault over raw keys (tests and tools).
    pub fn from_keys(current: &[u8; KEY_LEN], retired: &[[u8; KEY_LEN]]) -> Vault {
        Vault {
            current: MasterKey::new(current),
            retired: retired.iter().map(MasterKey::new).collect(),
        }
    }

    /// Loads the current master key from `current` and retired ones from
    /// `retired`; each file holds 64 hex digits.
    pub fn from_files(current: &Path, retired: &[impl AsRef<Path>]) -> Result<Vault, VaultError> {
        let key = read_key_file(current)?;
        let retired = retired
            .iter()
            .map(|path| read_key_file(path.as_ref()).map(|key| MasterKey::new(&key)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Vault {
            current: MasterKey::new(&key),
            retired,
        })
    }

    /// The current master key's id, as hex (logged at start; not secret).
    pub fn current_id(&self) -> String {
        hex(&self.current.id)
    }

    /// Seals `submitter` for `stream` under a new data key. Returns the
    /// token for the event and the wrapped data key for the stream's secret.
    pub fn seal(
        &self,
        stream: &str,
        submitter: &Submitter,
    ) -> Result<(String, Vec<u8>), VaultError> {
        let data_key = random_key()?;
        let cipher = XChaCha20Poly1305::new((&*data_key).into());
        let plaintext = Zeroizing::new(
            serde_json::to_vec(submitter).map_err(|_| VaultError::Malformed("submitter"))?,
        );
        let nonce = new_nonce()?;
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plaintext,
                    aad: stream.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Authentication("sealing"))?;
        let mut token_bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        token_bytes.extend_from_slice(&nonce);
        token_bytes.extend_from_slice(&sealed);
        let token = format!("{SEALED_V1}{}", URL_SAFE_NO_PAD.encode(&token_bytes));
        Ok((token, self.wrap(stream, &data_key)?))
    }

    /// Opens a sealed token of `stream` with the stream's secret. `Ok(None)`
    /// when the secret is gone (the data was erased).
    pub fn open(
        &self,
        stream: &str,
        secret: Option<&[u8]>,
        token: &str,
    ) -> Result<Option<Submitter>, VaultError> {
        let Some(secret) = secret else {
            return Ok(None);
        };
        let data_key = self.unwrap(stream, secret)?;
        let bytes = token
            .strip_prefix(SEALED_V1)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .filter(|bytes| bytes.len() > NONCE_LEN)
            .ok_or(VaultError::Malformed("sealed token"))?;
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| VaultError::Malformed("sealed token"))?;
        let cipher = XChaCha20Poly1305::new((&*data_key).into());
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: sealed,
                        aad: stream.as_bytes(),
                    },
                )
                .map_err(|_| VaultError::Authentication("sealed token"))?,
        );
        serde_json::from_slice(&plaintext)
            .map(Some)
            .map_err(|_| VaultError::Malformed("sealed submitter"))
    }

    /// Re-wraps a stream's secret under the current master key (rotation).
    pub fn rewrap(&self, stream: &str, secret: &[u8]) -> Result<Vec<u8>, VaultError> {
        let data_key = self.unwrap(stream, secret)?;
        self.wrap(stream, &data_key)
    }

    /// The id of the master key `secret` is wrapped under, when it is not
    /// one of this vault's keys.
    pub fn foreign_key_id(&self, secret: &[u8]) -> Option<String> {
        let id = secret.get(1..1 + ID_LEN)?;
        let known = std::iter::once(&self.current)
            .chain(&self.retired)
            .any(|m| m.id[..] == *id);
        (!known).then(|| hex(id))
    }

    /// Whether `secret` is wrapped under the current master key.
    pub fn is_current(&self, secret: &[u8]) -> bool {
        secret.get(1..1 + ID_LEN) == Some(&self.current.id[..])
    }

    fn wrap(&self, stream: &str, data_key: &[u8; KEY_LEN]) -> Result<Vec<u8>, VaultError> {
        let nonce = new_nonce()?;
        let wrapped = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: data_key,
                    aad: stream.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Authentication("wrapping"))?;
        let mut out = Vec::with_capacity(1 + ID_LEN + NONCE_LEN + wrapped.len());
        out.push(WRAPPED_V1);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&wrapped);
        Ok(out)
    }

    fn unwrap(&self, stream: &str, secret: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
        let malformed = VaultError::Malformed("wrapped data key");
        let (&version, rest) = secret.split_first().ok_or(malformed)?;
        if version != WRAPPED_V1 || rest.len() != ID_LEN + NONCE_LEN + KEY_LEN + 16 {
            return Err(VaultError::Malformed("wrapped data key"));
        }
        let (id, rest) = rest.split_at(ID_LEN);
        let (nonce, wrapped) = rest.split_at(NONCE_LEN);
        let master = std::iter::once(&self.current)
            .chain(&self.retired)
            .find(|m| m.id[..] == *id)
            .ok_or_else(|| VaultError::UnknownMasterKey(hex(id)))?;
        let nonce =
            XNonce::try_from(nonce).map_err(|_| VaultError::Malformed("wrapped data key"))?;
        let key = Zeroizing::new(
            master
                .cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: wrapped,
                        aad: stream.as_bytes(),
                    },
                )
                .map_err(|_| VaultError::Authentication("wrapped data key"))?,
        );
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        out.copy_from_slice(&key);
        Ok(out)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies a master key file to `to` (a new file, mode 0600), checking that
/// it holds a key.
pub fn copy_key_file(from: &Path, to: &Path) -> Result<(), VaultError> {
    let key = read_key_file(from)?;
    let hex = Zeroizing::new(hex(&key[..]));
    write_private(to, hex.as_bytes()).map_err(|e| VaultError::MasterKey {
        path: to.display().to_string(),
        reason: format!("cannot create: {e}"),
    })
}

/// Writes a new file readable only by its owner.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submitter() -> Submitter {
        Submitter {
            name: "王小明".into(),
            phone: "13812345678".into(),
            id_number: Some("15270119900101123X".into()),
        }
    }

    #[test]
    fn sealed_data_opens_only_with_its_key_and_stream() {
        let vault = Vault::from_keys(&[7; 32], &[]);
        let (token, secret) = vault.seal("complaint-A", &submitter()).unwrap();
        assert!(!token.contains("13812345678") && !token.contains("王小明"));
        assert_eq!(
            vault.open("complaint-A", Some(&secret), &token).unwrap(),
            Some(submitter())
        );
        // Erased: no secret, no data.
        assert_eq!(vault.open("complaint-A", None, &token).unwrap(), None);
        // Moved to another complaint: both the key and the token refuse.
        assert!(matches!(
            vault.open("complaint-B", Some(&secret), &token),
            Err(VaultError::Authentication(_))
        ));
        let (other_token, other_secret) = vault.seal("complaint-B", &submitter()).unwrap();
        assert!(
            vault
                .open("complaint-A", Some(&secret), &other_token)
                .is_err()
        );
        assert!(
            vault
                .open("complaint-B", Some(&other_secret), &token)
                .is_err()
        );
        // Altered bytes.
        let mut altered = secret.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(vault.open("complaint-A", Some(&altered), &token).is_err());
        assert!(matches!(
            vault.open("complaint-A", Some(&secret), "s1.AAAA"),
            Err(VaultError::Malformed(_))
        ));
        // Another master key cannot unwrap, and says which key it needs.
        let stranger = Vault::from_keys(&[8; 32], &[]);
        assert!(matches!(
            stranger.open("complaint-A", Some(&secret), &token),
            Err(VaultError::UnknownMasterKey(id)) if id == vault.current_id()
        ));
    }

    #[test]
    fn rotation_rewraps_under_the_new_key_and_retires_the_old() {
        let old = Vault::from_keys(&[1; 32], &[]);
        let (token, secret) = old.seal("complaint-A", &submitter()).unwrap();
        let rotating = Vault::from_keys(&[2; 32], &[[1; 32]]);
        assert!(!rotating.is_current(&secret));
        assert_eq!(
            rotating.open("complaint-A", Some(&secret), &token).unwrap(),
            Some(submitter())
        );
        let rewrapped = rotating.rewrap("complaint-A", &secret).unwrap();
        assert!(rotating.is_current(&rewrapped));
        let new_only = Vault::from_keys(&[2; 32], &[]);
        assert_eq!(
            new_only
                .open("complaint-A", Some(&rewrapped), &token)
                .unwrap(),
            Some(submitter())
        );
        assert!(new_only.open("complaint-A", Some(&secret), &token).is_err());
    }

    #[test]
    fn key_files_are_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        assert!(create_key_file(&path).unwrap());
        let vault = Vault::from_files(&path, &[] as &[&Path]).unwrap();
        assert!(!create_key_file(&path).unwrap());
        let again = Vault::from_files(&path, &[&path]).unwrap();
        assert_eq!(vault.current_id(), again.current_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            Vault::from_files(&path, &[] as &[&Path]),
            Err(VaultError::MasterKey { .. })
        ));
        assert!(matches!(
            Vault::from_files(&dir.path().join("missing.key"), &[] as &[&Path]),
            Err(VaultError::MasterKey { .. })
        ));
    }
}
