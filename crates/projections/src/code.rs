//! Interned codes: the unit, task-area and district codes a ledger row
//! names, stored once for the whole process instead of once per row.
//!
//! A million rows name a few hundred distinct codes; as `String`s each
//! mention is its own heap allocation (24 bytes inline plus the text and
//! the allocator's overhead). A [`Code`] is a shared `&'static str`: 16
//! bytes, `Copy`, no allocation, compared and hashed by its text.
//!
//! **Invariant:** only codes are interned — values from bounded sets the
//! catalog defines (units, areas, districts). The table never shrinks, so
//! free text, ids and names must never become a `Code`.

use std::{
    borrow::Borrow,
    fmt,
    ops::Deref,
    sync::{OnceLock, RwLock},
};

use foldhash::HashSet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An interned code; derefs to its text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(&'static str);

fn table() -> &'static RwLock<HashSet<&'static str>> {
    static TABLE: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    TABLE.get_or_init(RwLock::default)
}

impl Code {
    /// The interned code with this text.
    pub fn new(text: &str) -> Code {
        if let Some(&interned) = table().read().unwrap_or_else(|p| p.into_inner()).get(text) {
            return Code(interned);
        }
        let mut table = table().write().unwrap_or_else(|p| p.into_inner());
        if let Some(&interned) = table.get(text) {
            return Code(interned);
        }
        let interned: &'static str = Box::leak(text.into());
        table.insert(interned);
        Code(interned)
    }

    /// The code's text.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl Deref for Code {
    type Target = str;

    fn deref(&self) -> &str {
        self.0
    }
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl Borrow<str> for Code {
    fn borrow(&self) -> &str {
        self.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl From<Code> for String {
    fn from(code: Code) -> String {
        code.0.to_owned()
    }
}

impl From<&str> for Code {
    fn from(text: &str) -> Code {
        Code::new(text)
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Code {
    fn eq(&self, other: &String) -> bool {
        self.0 == other.as_str()
    }
}

impl PartialEq<Code> for str {
    fn eq(&self, other: &Code) -> bool {
        self == other.0
    }
}

impl PartialEq<Code> for &str {
    fn eq(&self, other: &Code) -> bool {
        *self == other.0
    }
}

impl PartialEq<Code> for String {
    fn eq(&self, other: &Code) -> bool {
        self.as_str() == other.0
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
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
}
