//! The aggregates of the domain bound to their streams in the log: how each
//! decider's commands and events meet the app layer's [`Aggregate`] trait
//! (stream names, encoding, sealing personal data at intake).

use rectify_domain::complaint::{self, ComplaintEvent, ComplaintState};
use rectify_eventlog::RecordedEvent;

use crate::server::{
    app::Aggregate,
    error::{ServiceError, domain_error, rejection},
    vault::Vault,
};

/// Binds the complaint decider to its streams in the log.
#[derive(Debug, Clone, Copy)]
pub struct ComplaintAggregate;

impl Aggregate for ComplaintAggregate {
    type State = ComplaintState;
    type Command = complaint::Command;
    type Event = ComplaintEvent;

    fn stream_name(id: &str) -> String {
        format!("complaint-{id}")
    }

    fn decide(
        state: &ComplaintState,
        command: &complaint::Command,
    ) -> Result<Vec<ComplaintEvent>, ServiceError> {
        complaint::decide(state, command).map_err(|error| domain_error(error, state))
    }

    fn evolve(state: ComplaintState, event: &ComplaintEvent) -> ComplaintState {
        complaint::evolve(state, event)
    }

    /// The submitter of `ComplaintReceived` is sealed under a new data key,
    /// which becomes the stream's secret; `PersonalDataErased` destroys it.
    fn seal(
        vault: &Vault,
        stream: &str,
        event: &ComplaintEvent,
    ) -> Result<Option<(ComplaintEvent, rectify_eventlog::SecretChange)>, ServiceError> {
        use rectify_eventlog::SecretChange;
        match event {
            ComplaintEvent::ComplaintReceived { at, submission } => {
                let Some(submitter) = &submission.submitter else {
                    return Ok(None);
                };
                let (token, secret) = vault
                    .seal(stream, submitter)
                    .map_err(|e| ServiceError::Internal(format!("sealing personal data: {e}")))?;
                let sealed = ComplaintEvent::ComplaintReceived {
                    at: *at,
                    submission: complaint::Submission {
                        submitter: None,
                        sealed_submitter: Some(token),
                        ..submission.clone()
                    },
                };
                Ok(Some((sealed, SecretChange::Set(secret))))
            }
            ComplaintEvent::PersonalDataErased { .. } => {
                Ok(Some((event.clone(), SecretChange::Destroy)))
            }
            _ => Ok(None),
        }
    }

    fn encode(event: &ComplaintEvent) -> (&'static str, u32, Vec<u8>) {
        event.encode()
    }

    fn decode(stored: &RecordedEvent) -> Result<ComplaintEvent, ServiceError> {
        ComplaintEvent::decode(&stored.event_type, stored.schema_version, &stored.payload)
            .map_err(|error| undecodable(stored, error))
    }
}

/// The rectification ledger as an aggregate of the app layer.
#[derive(Debug)]
pub struct LedgerAggregate;

impl Aggregate for LedgerAggregate {
    type State = rectify_domain::ledger::LedgerState;
    type Command = rectify_domain::ledger::LedgerCommand;
    type Event = rectify_domain::ledger::LedgerEvent;

    fn stream_name(id: &str) -> String {
        rectify_domain::ledger::stream_name(id)
    }

    fn decide(
        state: &Self::State,
        command: &Self::Command,
    ) -> Result<Vec<Self::Event>, ServiceError> {
        rectify_domain::ledger::decide(state, command)
            .map_err(|error| rejection(error, state.status_name(), "ledger"))
    }

    fn evolve(state: Self::State, event: &Self::Event) -> Self::State {
        rectify_domain::ledger::evolve(state, event)
    }

    fn encode(event: &Self::Event) -> (&'static str, u32, Vec<u8>) {
        event.encode()
    }

    fn decode(stored: &RecordedEvent) -> Result<Self::Event, ServiceError> {
        rectify_domain::ledger::LedgerEvent::decode(
            &stored.event_type,
            stored.schema_version,
            &stored.payload,
        )
        .map_err(|error| undecodable(stored, error))
    }
}

/// A registry record (enterprise, liaison pair, officer, station) as an
/// aggregate; its id is `<kind>-<key>`, its stream `registry-<kind>-<key>`.
#[derive(Debug)]
pub struct RegistryAggregate;

impl Aggregate for RegistryAggregate {
    type State = rectify_domain::registry::RegistryState;
    type Command = rectify_domain::registry::RegistryCommand;
    type Event = rectify_domain::registry::RegistryEvent;

    fn stream_name(id: &str) -> String {
        format!("{}{id}", rectify_domain::registry::STREAM_PREFIX)
    }

    fn decide(
        state: &Self::State,
        command: &Self::Command,
    ) -> Result<Vec<Self::Event>, ServiceError> {
        rectify_domain::registry::decide(state, command)
            .map_err(|error| rejection(error, state.status_name(), "registry record"))
    }

    fn evolve(state: Self::State, event: &Self::Event) -> Self::State {
        rectify_domain::registry::evolve(state, event)
    }

    fn encode(event: &Self::Event) -> (&'static str, u32, Vec<u8>) {
        event.encode()
    }

    fn decode(stored: &RecordedEvent) -> Result<Self::Event, ServiceError> {
        rectify_domain::registry::RegistryEvent::decode(
            &stored.event_type,
            stored.schema_version,
            &stored.payload,
        )
        .map_err(|error| undecodable(stored, error))
    }
}

/// The error for a stored event its aggregate cannot decode: the log holds
/// something this build does not understand, so it is internal, with the
/// position to look at.
fn undecodable(stored: &RecordedEvent, error: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!(
        "cannot decode event at position {}: {error}",
        stored.position
    ))
}
