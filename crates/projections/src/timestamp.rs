//! Instants as rows keep them: one 8-byte integer each.
//!
//! A ledger row holds about fifteen instants (intake, closure, each
//! deadline's start, due and met times, each dispatch's and callback's).
//! chrono's `DateTime<Utc>` is 12 bytes (a date and a time of day), compared
//! field by field, and decoding one from the checkpoint goes through the
//! calendar. A [`Timestamp`] is the number of nanoseconds since the Unix
//! epoch in 8 bytes, compared as one integer, and `Option<Timestamp>` is 8
//! bytes too.
//!
//! **Invariant:** every instant from 1677-09-21 to 2262-04-11 (UTC) is kept
//! exactly, to the nanosecond, so a row equals the domain's own fold;
//! instants outside that range, which no complaint has, are clamped to its
//! ends.

use std::{fmt, num::NonZeroI64};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant in nanoseconds since the Unix epoch (UTC).
///
/// Stored with the sign bit flipped, so that the one value that cannot be
/// held (`i64::MIN` nanoseconds, in 1677) is the niche that makes
/// `Option<Timestamp>` as small as a `Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp(NonZeroI64);

impl Timestamp {
    /// The earliest instant held: `i64::MIN + 1` nanoseconds.
    pub const MIN: Timestamp = Timestamp::from_nanos(i64::MIN + 1);
    /// The latest instant held: `i64::MAX` nanoseconds.
    pub const MAX: Timestamp = Timestamp::from_nanos(i64::MAX);

    /// The instant `nanos` nanoseconds after the epoch (`i64::MIN` is
    /// clamped to [`Timestamp::MIN`]).
    pub const fn from_nanos(nanos: i64) -> Timestamp {
        let nanos = if nanos == i64::MIN {
            i64::MIN + 1
        } else {
            nanos
        };
        match NonZeroI64::new(nanos ^ i64::MIN) {
            Some(stored) => Timestamp(stored),
            // `nanos ^ i64::MIN` is zero only for `i64::MIN`, clamped above.
            None => unreachable!(),
        }
    }

    /// Nanoseconds since the epoch.
    pub const fn nanos(self) -> i64 {
        self.0.get() ^ i64::MIN
    }

    /// Milliseconds since the epoch, rounded down.
    pub const fn millis(self) -> i64 {
        self.nanos().div_euclid(1_000_000)
    }

    /// The same instant as chrono's type.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.nanos())
    }
}

impl From<DateTime<Utc>> for Timestamp {
    /// Exact between 1677 and 2262; clamped outside.
    fn from(at: DateTime<Utc>) -> Timestamp {
        match at.timestamp_nanos_opt() {
            Some(nanos) => Timestamp::from_nanos(nanos),
            None if at.timestamp() < 0 => Timestamp::MIN,
            None => Timestamp::MAX,
        }
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(at: Timestamp) -> DateTime<Utc> {
        at.to_datetime()
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.nanos().cmp(&other.nanos())
    }
}

impl PartialEq<DateTime<Utc>> for Timestamp {
    fn eq(&self, other: &DateTime<Utc>) -> bool {
        *self == Timestamp::from(*other)
    }
}

impl PartialOrd<DateTime<Utc>> for Timestamp {
    fn partial_cmp(&self, other: &DateTime<Utc>) -> Option<std::cmp::Ordering> {
        Some(self.cmp(&Timestamp::from(*other)))
    }
}

/// As chrono serialises an instant (RFC 3339), so JSON is unchanged.
impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_datetime().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DateTime::<Utc>::deserialize(deserializer).map(Timestamp::from)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_datetime(), f)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, as chrono shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_datetime(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn instants_round_trip_to_the_nanosecond_and_order_as_time_does() {
        let at = Utc.with_ymd_and_hms(2026, 10, 8, 1, 2, 3).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        let instants = [
            DateTime::from_timestamp(-5, 7).unwrap(),
            DateTime::UNIX_EPOCH,
            DateTime::from_timestamp(0, 1).unwrap(),
            at,
            at + chrono::Duration::nanoseconds(1),
        ];
        for pair in instants.windows(2) {
            let (a, b) = (Timestamp::from(pair[0]), Timestamp::from(pair[1]));
            assert!(a < b, "{a:?} < {b:?}");
            assert!(a < pair[1] && b > pair[0]);
        }
        for at in instants {
            let stamp = Timestamp::from(at);
            assert_eq!(stamp.to_datetime(), at);
            assert_eq!(stamp, at);
            assert_eq!(stamp.millis(), at.timestamp_millis());
        }
        assert_eq!(Timestamp::from(at).to_string(), at.to_string());
    }

    #[test]
    fn the_ends_clamp_and_an_option_costs_nothing() {
        assert_eq!(std::mem::size_of::<Option<Timestamp>>(), 8);
        assert_eq!(Timestamp::from_nanos(i64::MIN), Timestamp::MIN);
        assert_eq!(Timestamp::from(DateTime::<Utc>::MAX_UTC), Timestamp::MAX);
        assert_eq!(Timestamp::from(DateTime::<Utc>::MIN_UTC), Timestamp::MIN);
        assert!(Timestamp::MIN < Timestamp::from_nanos(0));
        assert_eq!(Timestamp::from_nanos(-1).millis(), -1);
    }
}
