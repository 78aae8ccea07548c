//! Open311 parameters: the `api_key` shape, locations and W3C datetimes,
//! read from forms and queries decoded by `server::form`.
//!
//! Every refusal is `INVALID_ARGUMENT` naming the Open311 parameter, so the
//! client sees the field it sent wrong.

use chrono::{DateTime, Utc};

use crate::server::error::ServiceError;
pub use crate::server::form::Params;

/// Longest description the GeoReport v2 specification allows, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4_000;
/// Longest `api_key` in trusted development mode, in characters.
pub const MAX_API_KEY_CHARS: usize = 64;

/// Whether `key` is a development-mode `api_key`: 1..=64 characters of
/// `[A-Za-z0-9._:-]`.
pub fn api_key_shape_ok(key: &str) -> bool {
    (1..=MAX_API_KEY_CHARS).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

/// Marks the coordinates inside a stored location, after the address
/// (RFC 5870's scheme name).
const GEO: &str = "geo:";

/// The complaint's `location` from `address_string` and/or `lat` + `long`:
/// `address`, `geo:lat,long`, or `address geo:lat,long`. One of them is
/// required, as the specification says.
pub fn location(params: &Params) -> Result<String, ServiceError> {
    let coordinates = match (params.get("lat"), params.get("long")) {
        (Some(lat), Some(long)) => {
            let lat = coordinate("lat", lat, 90.0)?;
            let long = coordinate("long", long, 180.0)?;
            Some(format!("{GEO}{lat},{long}"))
        }
        (None, None) => None,
        (Some(_), None) => return Err(ServiceError::invalid("long", "required with lat")),
        (None, Some(_)) => return Err(ServiceError::invalid("lat", "required with long")),
    };
    match (params.get("address_string"), coordinates) {
        (Some(address), Some(geo)) => Ok(format!("{address} {geo}")),
        (Some(address), None) => Ok(address.to_owned()),
        (None, Some(geo)) => Ok(geo),
        (None, None) => Err(ServiceError::invalid(
            "address_string",
            "give address_string or lat and long",
        )),
    }
}

fn coordinate(field: &'static str, raw: &str, limit: f64) -> Result<f64, ServiceError> {
    raw.parse::<f64>()
        .ok()
        .filter(|value| value.is_finite() && value.abs() <= limit)
        .ok_or_else(|| ServiceError::invalid(field, format!("a decimal number within ±{limit}")))
}

/// A stored location split back into the address and the coordinates.
pub fn split_location(location: &str) -> (&str, Option<(f64, f64)>) {
    let Some((address, geo)) = location.rsplit_once(GEO) else {
        return (location, None);
    };
    let parsed = geo
        .split_once(',')
        .and_then(|(lat, long)| Some((lat.parse().ok()?, long.parse().ok()?)));
    match parsed {
        Some(coordinates) => (address.trim_end(), Some(coordinates)),
        None => (location, None),
    }
}

/// A W3C datetime (`2026-11-30T08:00:00Z`, or with an offset).
pub fn datetime(field: &'static str, raw: &str) -> Result<DateTime<Utc>, ServiceError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| ServiceError::invalid(field, "a W3C datetime such as 2026-11-30T08:00:00Z"))
}

/// The submitter's name from `first_name` and `last_name`: Chinese order
/// (family name first, no space) when either holds non-ASCII text, so the
/// mask keeps the family name; `first last` otherwise.
pub fn full_name(params: &Params) -> Result<String, ServiceError> {
    match (params.get("first_name"), params.get("last_name")) {
        (None, None) => Err(ServiceError::invalid(
            "first_name",
            "first_name or last_name is required",
        )),
        (Some(name), None) | (None, Some(name)) => Ok(name.to_owned()),
        (Some(first), Some(last)) if first.is_ascii() && last.is_ascii() => {
            Ok(format!("{first} {last}"))
        }
        (Some(first), Some(last)) => Ok(format!("{last}{first}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_plus_and_percent() {
        let params = Params::parse("a=x+y%26z&b=&b=2&attribute%5Bdistrict%5D=dongsheng").unwrap();
        assert_eq!(params.get("a"), Some("x y&z"));
        assert_eq!(params.get("b"), Some("2"));
        assert_eq!(params.get("attribute[district]"), Some("dongsheng"));
        assert_eq!(params.get("c"), None);
    }

    #[test]
    fn locations_round_trip() {
        let params = Params::parse("address_string=A+road&lat=39.6&long=109.8").unwrap();
        let stored = location(&params).unwrap();
        assert_eq!(stored, "A road geo:39.6,109.8");
        assert_eq!(split_location(&stored), ("A road", Some((39.6, 109.8))));
        assert_eq!(split_location("B street"), ("B street", None));
        assert!(location(&Params::parse("lat=91&long=1").unwrap()).is_err());
        assert!(location(&Params::default()).is_err());
    }

    #[test]
    fn api_keys_have_a_shape() {
        assert!(api_key_shape_ok("portal-1.a:b_c"));
        assert!(!api_key_shape_ok(""));
        assert!(!api_key_shape_ok("a b"));
        assert!(!api_key_shape_ok(&"a".repeat(65)));
    }

    #[test]
    fn names_keep_the_family_name_first_in_chinese() {
        let chinese = Params::parse("first_name=%E5%B0%8F%E6%98%8E&last_name=%E7%8E%8B").unwrap();
        assert_eq!(full_name(&chinese).unwrap(), "王小明");
        let latin = Params::parse("first_name=Ann&last_name=Lee").unwrap();
        assert_eq!(full_name(&latin).unwrap(), "Ann Lee");
    }
}
