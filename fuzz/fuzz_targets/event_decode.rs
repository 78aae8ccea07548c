//! Decoding stored events: `ComplaintEvent::decode` and `LedgerEvent::decode`
//! read whatever bytes the log holds (event type, schema version, JSON
//! payload). Properties:
//!
//! - decoding never panics, whatever the input;
//! - a decoded event is the variant its envelope names;
//! - re-encoding a decoded event gives the event type and the current schema
//!   version, and decoding that again gives the same event (and encoding that
//!   gives the same bytes): what the service writes, it can read back.
//!
//! Input layout (so seeds are easy to write by hand): byte 0 picks the event
//! type (mostly one of the real names, sometimes an arbitrary string taken
//! from the input), byte 1 picks the schema version (mostly 1 or 2,
//! sometimes 0 or an arbitrary `u32`), the rest is the payload.

#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rectify_domain::{complaint::ComplaintEvent, ledger::LedgerEvent};

/// Every event type the log holds: complaints first, then ledgers.
const EVENT_TYPES: &[&str] = &[
    "ComplaintReceived",
    "ComplaintClassified",
    "ComplaintDispatched",
    "AssignmentAccepted",
    "AssignmentReturned",
    "RectificationStepRecorded",
    "ExtensionRequested",
    "ExtensionGranted",
    "ExtensionDenied",
    "ResolutionSubmitted",
    "ResolutionVerified",
    "ResolutionRejected",
    "CallbackRecorded",
    "ComplaintReopened",
    "ComplaintClosed",
    "ChasedUp",
    "SupervisionFlagged",
    "AccountabilityRecorded",
    "AppealFiled",
    "AppealDecided",
    "ClockPaused",
    "ClockResumed",
    "DeadlineWarned",
    "DeadlineMissed",
    "LinkedToLedgerItem",
    "ClassProblemFixed",
    "PersonalDataErased",
    "LedgerOpened",
    "LedgerItemAdded",
    "LedgerItemProgressRecorded",
    "LedgerItemClosed",
    "LedgerItemReopened",
    "ComplaintLinkedToItem",
    "LedgerItemDeadlineWarned",
    "LedgerClosed",
];

struct Input<'a> {
    event_type: String,
    schema_version: u32,
    payload: &'a [u8],
}

fn input(data: &[u8]) -> Result<Input<'_>> {
    let mut u = Unstructured::new(data);
    let type_pick: u8 = u.arbitrary()?;
    let version_pick: u8 = u.arbitrary()?;
    // About one time in sixteen the type is an arbitrary string; otherwise a
    // real name, so the input reaches the payload deserializers.
    let event_type = if type_pick >= 240 {
        let len = u.int_in_range(0..=40)?;
        String::from_utf8_lossy(u.bytes(len)?).into_owned()
    } else {
        EVENT_TYPES[usize::from(type_pick) % EVENT_TYPES.len()].to_owned()
    };
    let schema_version = match version_pick % 8 {
        0 => 0,
        1..=4 => 1,
        5 | 6 => 2,
        _ => u.arbitrary()?,
    };
    let rest = u.len();
    Ok(Input {
        event_type,
        schema_version,
        payload: &data[data.len() - rest..],
    })
}

fn check_complaint(input: &Input<'_>) {
    let Ok(event) = ComplaintEvent::decode(&input.event_type, input.schema_version, input.payload)
    else {
        return;
    };
    assert_eq!(
        event.event_type(),
        input.event_type,
        "decoded a different variant than the envelope names"
    );
    let (event_type, version, payload) = event.encode();
    assert_eq!(
        version,
        rectify_domain::complaint::schema_version(event_type),
        "encode must write the current schema version"
    );
    let again = ComplaintEvent::decode(event_type, version, &payload).unwrap_or_else(|error| {
        panic!(
            "re-encoded {event_type} does not decode: {error}\npayload: {}",
            String::from_utf8_lossy(&payload)
        )
    });
    assert_eq!(again, event, "round trip changed the event");
    assert_eq!(again.encode().2, payload, "encoding is not stable");
}

fn check_ledger(input: &Input<'_>) {
    let Ok(event) = LedgerEvent::decode(&input.event_type, input.schema_version, input.payload)
    else {
        return;
    };
    assert_eq!(
        event.event_type(),
        input.event_type,
        "decoded a different variant than the envelope names"
    );
    let (event_type, version, payload) = event.encode();
    assert_eq!(version, 1, "every ledger event is at schema version 1");
    let again = LedgerEvent::decode(event_type, version, &payload).unwrap_or_else(|error| {
        panic!(
            "re-encoded {event_type} does not decode: {error}\npayload: {}",
            String::from_utf8_lossy(&payload)
        )
    });
    assert_eq!(again, event, "round trip changed the event");
    assert_eq!(again.encode().2, payload, "encoding is not stable");
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = input(data) else {
        return;
    };
    check_complaint(&input);
    check_ledger(&input);
});
