//! Interned codes: the unit, task-area and district codes a ledger row
//! names, stored once for the whole process instead of once per row.
//!
//! A million rows name a few hundred distinct codes; as `String`s each
//! mention is its own heap allocation (24 bytes inline plus the text and
//! the allocator's overhead). A [`Code`] is a 4-byte number standing for
//! its text in a process-wide table: `Copy`, no allocation, compared for
//! equality by number, ordered and hashed by its text (so a map keyed by
//! codes is searched with a `&str`), and `Option<Code>` is 4 bytes too.
//!
//! **Invariant:** only codes are interned — values from bounded sets the
//! catalog defines (units, areas, districts). The table never shrinks, so
//! free text, ids and names must never become a `Code`. One text has one
//! number for the life of the process; numbers are never persisted (the
//! checkpoint encoding writes the text).

use std::{
    borrow::Borrow,
    cell::RefCell,
    fmt,
    hash::{Hash, Hasher},
    num::NonZeroU32,
    ops::Deref,
    sync::{OnceLock, RwLock},
};

use foldhash::HashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An interned code; derefs to its text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Code(NonZeroU32);

/// Texts by number, in chunks allocated as codes arrive, so reading a
/// code's text takes no lock: two acquire loads.
const CHUNK: usize = 1_024;
const CHUNKS: usize = 65_536;
type Chunk = [OnceLock<&'static str>; CHUNK];
static NAMES: [OnceLock<Box<Chunk>>; CHUNKS] = [const { OnceLock::new() }; CHUNKS];

/// Numbers by text, for interning (the only place that locks).
fn numbers() -> &'static RwLock<HashMap<&'static str, Code>> {
    static NUMBERS: OnceLock<RwLock<HashMap<&'static str, Code>>> = OnceLock::new();
    NUMBERS.get_or_init(RwLock::default)
}

thread_local! {
    /// The codes this thread has interned: a code's number never changes,
    /// so a thread that has seen a text finds it here without the shared
    /// table's lock (whose reader count every thread would otherwise write,
    /// as the two threads decoding a checkpoint do for every code of every
    /// row).
    static SEEN: RefCell<HashMap<&'static [u8], Code>> = RefCell::default();
}

impl Code {
    /// The interned code with this text.
    pub fn new(text: &str) -> Code {
        Code::seen(text.as_bytes()).unwrap_or_else(|| Code::first_seen(text))
    }

    /// The interned code whose text is `bytes`, or `None` when they are not
    /// UTF-8: a checkpoint's codes, whose bytes need no check when this
    /// thread has seen them already.
    pub(crate) fn from_utf8(bytes: &[u8]) -> Option<Code> {
        Code::seen(bytes).or_else(|| {
            let text = simdutf8::basic::from_utf8(bytes).ok()?;
            Some(Code::first_seen(text))
        })
    }

    /// The code of `text` if this thread has seen it.
    fn seen(text: &[u8]) -> Option<Code> {
        SEEN.with_borrow(|seen| seen.get(text).copied())
    }

    /// The code of `text`, new to this thread.
    fn first_seen(text: &str) -> Code {
        let code = Code::intern(text);
        SEEN.with_borrow_mut(|seen| seen.insert(code.as_str().as_bytes(), code));
        code
    }

    /// The code with this text from the shared table, entered if new.
    fn intern(text: &str) -> Code {
        if let Some(&code) = numbers()
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(text)
        {
            return code;
        }
        let mut numbers = numbers().write().unwrap_or_else(|p| p.into_inner());
        if let Some(&code) = numbers.get(text) {
            return code;
        }
        let index = numbers.len();
        assert!(
            index < CHUNK * CHUNKS,
            "more than {} distinct codes: free text is being interned",
            CHUNK * CHUNKS
        );
        let interned: &'static str = Box::leak(text.into());
        let chunk =
            NAMES[index / CHUNK].get_or_init(|| Box::new([const { OnceLock::new() }; CHUNK]));
        // Under the write lock, so no other thread names this index.
        let _ = chunk[index % CHUNK].set(interned);
        let number = u32::try_from(index + 1).expect("below the table's capacity");
        let code = Code(NonZeroU32::new(number).expect("index + 1 is not zero"));
        numbers.insert(interned, code);
        code
    }

    /// The code's text.
    pub fn as_str(&self) -> &'static str {
        let index = self.0.get() as usize - 1;
        // A `Code` exists only after `new` set its text.
        NAMES[index / CHUNK]
            .get()
            .and_then(|chunk| chunk[index % CHUNK].get())
            .copied()
            .expect("an interned code has its text")
    }
}

impl Hash for Code {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As its text hashes, as `Borrow<str>` requires.
        self.as_str().hash(state);
    }
}

impl PartialOrd for Code {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// By text, so listings sorted by code read alphabetically.
impl Ord for Code {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.0 == other.0 {
            return std::cmp::Ordering::Equal;
        }
        self.as_str().cmp(other.as_str())
    }
}

impl Deref for Code {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Code {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Code> for String {
    fn from(code: Code) -> String {
        code.as_str().to_owned()
    }
}

impl From<&str> for Code {
    fn from(text: &str) -> Code {
        Code::new(text)
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Code {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Code> for str {
    fn eq(&self, other: &Code) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Code> for &str {
    fn eq(&self, other: &Code) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Code> for String {
    fn eq(&self, other: &Code) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Code, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Code::new(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_text_is_one_code_shared_by_every_mention() {
        let a = Code::new("power-bureau");
        let b = Code::new(&String::from("power-bureau"));
        assert_eq!(a, b);
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert_eq!(a, "power-bureau");
        assert_eq!(*"power-bureau", a);
        assert_ne!(a, Code::new("gas-company"));
        assert_eq!(format!("{a} {a:?}"), "power-bureau \"power-bureau\"");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Code>(&json).unwrap(), a);
    }

    /// Numbers follow interning order; order and hashing follow the text,
    /// so sorted listings read alphabetically and maps are searched by text.
    #[test]
    fn codes_sort_and_hash_by_their_text() {
        let later = Code::new("zz-ordering-test");
        let earlier = Code::new("aa-ordering-test");
        let mut codes = vec![later, earlier];
        codes.sort();
        assert_eq!(codes, vec![earlier, later]);
        let map: std::collections::HashMap<Code, u8> = [(later, 1)].into();
        assert_eq!(map.get("zz-ordering-test"), Some(&1));
    }
}
