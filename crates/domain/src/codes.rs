//! Validated identifiers: unit, area and district codes and complaint ids.
//!
//! Codes are lowercase ASCII kebab-case (`power-bureau`), 1 to 64 bytes; a
//! complaint id is 1 to 64 characters of `[A-Za-z0-9._:-]`. Construction is
//! the only way in, so a value of these types is always valid.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// Longest code or id.
pub const MAX_CODE_LEN: usize = 64;

fn check_code(kind: &'static str, raw: &str) -> Result<(), DomainError> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_CODE_LEN
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !raw.starts_with('-')
        && !raw.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(DomainError::Invalid {
            field: kind,
            reason: format!(
                "{raw:?} is not a code: 1..={MAX_CODE_LEN} lowercase ASCII letters, digits and inner hyphens"
            ),
        })
    }
}

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a code.
            pub fn new(raw: &str) -> Result<Self, DomainError> {
                check_code($field, raw)?;
                Ok(Self(raw.to_owned()))
            }

            /// The code as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(raw: String) -> Result<Self, DomainError> {
                check_code($field, &raw)?;
                Ok(Self(raw))
            }
        }

        impl From<$name> for String {
            fn from(code: $name) -> String {
                code.0
            }
        }
    };
}

code_type!(
    /// A unit's stable code from the catalog, e.g. `power-bureau`.
    UnitCode,
    "unit"
);
code_type!(
    /// A task area's code (one of the plan's 28 specialised groups).
    AreaCode,
    "area"
);
code_type!(
    /// A banner, district or development zone code, e.g. `dongsheng`.
    DistrictCode,
    "district"
);
code_type!(
    /// A grassroots service station's code, e.g. `dongsheng-zhenxing-station`.
    StationCode,
    "station_code"
);

/// A complaint's id, e.g. `RC-20261122-0a1b2c3d` or a hotline ticket number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ComplaintId(String);

/// Checks an id (of a complaint, a ledger, a ledger item): 1 to 64
/// characters of `[A-Za-z0-9._:-]`; the error names `field`.
pub fn check_id(field: &'static str, raw: &str) -> Result<(), DomainError> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_CODE_LEN
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if ok {
        Ok(())
    } else {
        Err(DomainError::Invalid {
            field,
            reason: format!(
                "{raw:?} is not an id: 1..={MAX_CODE_LEN} characters of [A-Za-z0-9._:-]"
            ),
        })
    }
}

impl ComplaintId {
    /// Validates and wraps an id.
    pub fn new(raw: &str) -> Result<Self, DomainError> {
        check_id("complaint_id", raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ComplaintId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ComplaintId {
    type Error = DomainError;
    fn try_from(raw: String) -> Result<Self, DomainError> {
        Self::new(&raw)
    }
}

impl From<ComplaintId> for String {
    fn from(id: ComplaintId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_accept_kebab_case_only() {
        assert!(UnitCode::new("power-bureau").is_ok());
        assert!(UnitCode::new("gov-services-2").is_ok());
        for bad in [
            "",
            "Power",
            "power_bureau",
            "-x",
            "x-",
            "电业局",
            &"a".repeat(65),
        ] {
            assert!(UnitCode::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_accept_ticket_numbers() {
        assert!(ComplaintId::new("RC-20261122-0a1b2c3d").is_ok());
        assert!(ComplaintId::new("12345:2026.11_22").is_ok());
        assert!(ComplaintId::new("bad id").is_err());
        let err = ComplaintId::new("").unwrap_err();
        assert!(err.to_string().contains("complaint_id"), "{err}");
    }
}
