//! The unified social credit code (统一社会信用代码) of GB 32100-2015.
//!
//! Eighteen characters from a 31-character alphabet (the digits and the
//! capital letters without I, O, Z, S and V): the registering authority
//! (1), the organisation category (1), the administrative division where it
//! registered (6 digits), the organisation code (9) and a check character
//! computed from the first seventeen with weights 3^i mod 31. A value of
//! [`CreditCode`] always passes that check.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// The alphabet of the code, in value order (`0` = 0 … `Y` = 30).
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1 to 17 (3^(i-1) mod 31).
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
/// Length of a code.
pub const CREDIT_CODE_LEN: usize = 18;

fn value(byte: u8) -> Option<u32> {
    ALPHABET.iter().position(|&c| c == byte).map(|v| v as u32)
}

/// The check character the first seventeen characters call for; `None`
/// when one of them is outside the alphabet.
pub fn check_character(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != CREDIT_CODE_LEN - 1 {
        return None;
    }
    let mut sum = 0;
    for (byte, weight) in bytes.iter().zip(WEIGHTS) {
        sum += value(*byte)? * weight;
    }
    let check = (31 - sum % 31) % 31;
    Some(char::from(ALPHABET[check as usize]))
}

/// A unified social credit code whose check character is right.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CreditCode(String);

impl CreditCode {
    /// Validates a code. Lowercase letters are taken as capitals (people
    /// type them so); anything else wrong is refused, the reason naming the
    /// position and what it should be.
    pub fn new(raw: &str) -> Result<Self, DomainError> {
        let code = raw.trim().to_ascii_uppercase();
        let invalid = |reason: String| DomainError::Invalid {
            field: "credit_code",
            reason,
        };
        let length = code.chars().count();
        if length != CREDIT_CODE_LEN {
            return Err(invalid(format!(
                "{raw:?} has {length} characters; a unified social credit code has {CREDIT_CODE_LEN}"
            )));
        }
        if let Some((at, c)) = code
            .chars()
            .enumerate()
            .find(|(_, c)| !c.is_ascii() || value(*c as u8).is_none())
        {
            return Err(invalid(format!(
                "{raw:?}: character {} ({c:?}) is not one of {}",
                at + 1,
                String::from_utf8_lossy(ALPHABET)
            )));
        }
        if let Some(at) = code[2..8].bytes().position(|b| !b.is_ascii_digit()) {
            return Err(invalid(format!(
                "{raw:?}: character {} must be a digit (characters 3 to 8 are the administrative division code)",
                at + 3
            )));
        }
        let expected = check_character(&code[..17]).unwrap_or('?');
        let found = char::from(code.as_bytes()[17]);
        if found != expected {
            return Err(invalid(format!(
                "{raw:?}: check character is {found:?}, GB 32100-2015 calls for {expected:?}"
            )));
        }
        Ok(Self(code))
    }

    /// The code as text (capitals).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CreditCode {
    type Error = DomainError;
    fn try_from(raw: String) -> Result<Self, DomainError> {
        Self::new(&raw)
    }
}

impl From<CreditCode> for String {
    fn from(code: CreditCode) -> String {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_codes_pass() {
        // Codes printed on public business licences and in the standard's
        // commentary.
        for code in ["91350100M000100Y43", "91110000802100433B"] {
            assert!(CreditCode::new(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn a_wrong_check_character_is_named() {
        let error = CreditCode::new("91350100M000100Y44").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid credit_code: \"91350100M000100Y44\": check character is '4', GB 32100-2015 calls for '3'"
        );
    }

    #[test]
    fn length_alphabet_and_division_are_checked() {
        assert!(CreditCode::new("9135010").is_err());
        let letter_o = CreditCode::new("91350100MO00100Y43").unwrap_err();
        assert!(letter_o.to_string().contains("character 10"), "{letter_o}");
        let division = CreditCode::new("913A0100M000100Y43").unwrap_err();
        assert!(
            division.to_string().contains("character 4 must be a digit"),
            "{division}"
        );
    }

    #[test]
    fn lowercase_is_read_as_capitals() {
        let code = CreditCode::new("91350100m000100y43").unwrap();
        assert_eq!(code.as_str(), "91350100M000100Y43");
    }

    #[test]
    fn every_check_character_is_reachable() {
        // Changing the last body character moves the check through the alphabet.
        let mut seen = std::collections::BTreeSet::new();
        for c in ALPHABET {
            let body = format!("9115060000000000{}", char::from(*c));
            seen.insert(check_character(&body).unwrap());
        }
        assert_eq!(seen.len(), 31);
    }
}
