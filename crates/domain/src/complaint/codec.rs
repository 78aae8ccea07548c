//! How complaint events are stored: event type, schema version, JSON payload.
//!
//! The payload is the variant's fields as a JSON object (the event type is
//! kept in the envelope, not repeated in the payload). Each event type has
//! its own schema version ([`schema_version`]). Reading an older version runs
//! its upcaster first, which rewrites the old JSON into the current shape;
//! the stored bytes are never changed (they are hash-chained).
//!
//! The rule for changing an event's shape: add a field with a default or
//! rename one by bumping that event type's version in [`schema_version`] and
//! adding an arm to `upcast` that turns the previous version's JSON into the
//! new one. Versions upcast one step at a time, so every old payload reaches
//! the current shape; a version newer than the code is refused, never
//! guessed at.
//!
//! Upcasters so far:
//!
//! - `CallbackRecorded` v1 → v2: v1 had no `valid` flag; every v1 callback
//!   was a valid one, so the upcaster adds `"valid": true`.
//! - `ComplaintReceived` v1 → v2: v2 may hold the submitter sealed
//!   (`sealed_submitter`) instead of in clear; a v1 payload, with its clear
//!   `submitter`, is already a valid v2 payload, so nothing is rewritten. The
//!   version is bumped so that older code refuses a sealed payload instead of
//!   failing on the missing `submitter`.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{
    Deserializer,
    de::{self, Visitor},
};
use serde_json::{Map, Value};

use super::ComplaintEvent;

/// The schema version most events are written with.
pub const SCHEMA_VERSION: u32 = 1;

/// The current schema version of an event type.
pub fn schema_version(event_type: &str) -> u32 {
    match event_type {
        "CallbackRecorded" | "ComplaintReceived" => 2,
        _ => SCHEMA_VERSION,
    }
}

/// Why a stored event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The payload is not a JSON object of the event's shape.
    #[error("malformed {event_type} v{schema_version} payload: {reason}")]
    Malformed {
        /// Event type.
        event_type: String,
        /// Schema version.
        schema_version: u32,
        /// What the parser said.
        reason: String,
    },
    /// The schema version is newer than this code knows (written by a newer
    /// release) or older than any upcaster handles.
    #[error("{event_type} schema version {schema_version} is not supported (current {current})")]
    UnsupportedVersion {
        /// Event type.
        event_type: String,
        /// The stored version.
        schema_version: u32,
        /// The version this code writes.
        current: u32,
    },
}

impl ComplaintEvent {
    /// The event type stored in the envelope, e.g. `ComplaintReceived`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::ComplaintReceived { .. } => "ComplaintReceived",
            Self::ComplaintClassified { .. } => "ComplaintClassified",
            Self::ComplaintDispatched { .. } => "ComplaintDispatched",
            Self::AssignmentAccepted { .. } => "AssignmentAccepted",
            Self::AssignmentReturned { .. } => "AssignmentReturned",
            Self::RectificationStepRecorded { .. } => "RectificationStepRecorded",
            Self::ExtensionRequested { .. } => "ExtensionRequested",
            Self::ExtensionGranted { .. } => "ExtensionGranted",
            Self::ExtensionDenied { .. } => "ExtensionDenied",
            Self::ResolutionSubmitted { .. } => "ResolutionSubmitted",
            Self::ResolutionVerified { .. } => "ResolutionVerified",
            Self::ResolutionRejected { .. } => "ResolutionRejected",
            Self::CallbackRecorded { .. } => "CallbackRecorded",
            Self::ComplaintReopened { .. } => "ComplaintReopened",
            Self::ComplaintClosed { .. } => "ComplaintClosed",
            Self::ChasedUp { .. } => "ChasedUp",
            Self::SupervisionFlagged { .. } => "SupervisionFlagged",
            Self::AccountabilityRecorded { .. } => "AccountabilityRecorded",
            Self::AppealFiled { .. } => "AppealFiled",
            Self::AppealDecided { .. } => "AppealDecided",
            Self::ClockPaused { .. } => "ClockPaused",
            Self::ClockResumed { .. } => "ClockResumed",
            Self::DeadlineWarned { .. } => "DeadlineWarned",
            Self::DeadlineMissed { .. } => "DeadlineMissed",
            Self::LinkedToLedgerItem { .. } => "LinkedToLedgerItem",
            Self::ClassProblemFixed { .. } => "ClassProblemFixed",
            Self::PersonalDataErased { .. } => "PersonalDataErased",
            Self::LiaisonAssigned { .. } => "LiaisonAssigned",
            Self::LiaisonNoteRecorded { .. } => "LiaisonNoteRecorded",
        }
    }

    /// Event type, schema version and JSON payload for the log: the inner
    /// object of the externally tagged form.
    pub fn encode(&self) -> (&'static str, u32, Vec<u8>) {
        let event_type = self.event_type();
        let payload = match serde_json::to_value(self) {
            Ok(Value::Object(mut tagged)) => tagged.remove(event_type).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        let payload = serde_json::to_vec(&payload).unwrap_or_default();
        (event_type, schema_version(event_type), payload)
    }

    /// Reads a stored event, upcasting older schema versions.
    pub fn decode(
        event_type: &str,
        stored_version: u32,
        payload: &[u8],
    ) -> Result<ComplaintEvent, DecodeError> {
        let malformed = |reason: String| DecodeError::Malformed {
            event_type: event_type.to_owned(),
            schema_version: stored_version,
            reason,
        };
        let current = schema_version(event_type);
        if stored_version == 0 || stored_version > current {
            return Err(DecodeError::UnsupportedVersion {
                event_type: event_type.to_owned(),
                schema_version: stored_version,
                current,
            });
        }
        if stored_version == current {
            // The current shape needs no upcasting: put the tag around the
            // payload and deserialize once, without building a JSON tree
            // first (projections decode every event of the log).
            let mut tagged = Vec::with_capacity(payload.len() + event_type.len() + 6);
            tagged.push(b'{');
            serde_json::to_writer(&mut tagged, event_type).map_err(|e| malformed(e.to_string()))?;
            tagged.push(b':');
            tagged.extend_from_slice(payload);
            tagged.push(b'}');
            return serde_json::from_slice(&tagged).map_err(|e| malformed(e.to_string()));
        }
        let value: Value = serde_json::from_slice(payload).map_err(|e| malformed(e.to_string()))?;
        let Value::Object(mut object) = value else {
            return Err(malformed("not a JSON object".to_owned()));
        };
        let mut version = stored_version;
        while version < current {
            upcast(event_type, version, &mut object);
            version += 1;
        }
        let mut tagged = Map::new();
        tagged.insert(event_type.to_owned(), Value::Object(object));
        serde_json::from_value(Value::Object(tagged)).map_err(|e| malformed(e.to_string()))
    }
}

/// An instant of an event read the way chrono writes one
/// (`2026-09-01T01:00:00Z`, with up to nine digits of a second), without
/// chrono's general RFC 3339 parser, which a profile of catch-up found at
/// about a tenth of reading an event; any other form goes to that parser,
/// so what is read is the same.
pub(super) fn instant<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<DateTime<Utc>, D::Error> {
    struct Instant;
    impl Visitor<'_> for Instant {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 instant")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<DateTime<Utc>, E> {
            match parse_utc(text) {
                Some(at) => Ok(at),
                None => text
                    .parse::<DateTime<FixedOffset>>()
                    .map(|at| at.with_timezone(&Utc))
                    .map_err(E::custom),
            }
        }
    }
    deserializer.deserialize_str(Instant)
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` as an instant; `None` for anything else
/// (other offsets, lower-case letters, leap seconds, invalid dates).
pub(super) fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let punctuation = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || b.last() != Some(&b'Z') || punctuation.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(20..b.len() - 1)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)?
        .and_hms_nano_opt(digits(11..13)?, digits(14..16)?, digits(17..19)?, nanos)
        .map(|at| at.and_utc())
}

/// Rewrites a payload of `version` into `version + 1`.
fn upcast(event_type: &str, version: u32, object: &mut Map<String, Value>) {
    if let ("CallbackRecorded", 1) = (event_type, version) {
        object.entry("valid").or_insert(Value::Bool(true));
    }
}
