//! One given/when/then harness for both deciders.
//!
//! `given(history).when(command).then(expected)`: the history is folded
//! into a state, the command is decided on it, and the outcome must equal
//! the expected events (whole events, with every field) or the expected
//! error. Every decided event must also read back unchanged through its
//! codec. `then` folds the events, so steps chain:
//! `given(..).when(a).then(..).when(b).then_err(..)`.

use std::fmt::Debug;

use crate::DomainError;
use crate::complaint::{self, ComplaintEvent};
use crate::ledger::{self, LedgerEvent};

/// An aggregate's decider: the pair of pure functions the harness drives.
pub(crate) trait Decider {
    /// The folded state; `Default` is "nothing yet".
    type State: Debug + Default;
    /// A command.
    type Command: Debug;
    /// An event.
    type Event: Clone + Debug + PartialEq;

    /// The aggregate's `decide`.
    fn decide(state: &Self::State, command: &Self::Command) -> Decided<Self::Event>;
    /// The aggregate's `evolve`.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;
    /// Encodes and decodes an event as the log stores it.
    fn reread(event: &Self::Event) -> Result<Self::Event, String>;
}

/// What `decide` answers.
pub(crate) type Decided<Event> = Result<Vec<Event>, DomainError>;

/// The complaint aggregate.
#[derive(Debug)]
pub(crate) struct Complaints;

impl Decider for Complaints {
    type State = complaint::ComplaintState;
    type Command = complaint::Command;
    type Event = ComplaintEvent;

    fn decide(state: &Self::State, command: &Self::Command) -> Decided<ComplaintEvent> {
        complaint::decide(state, command)
    }
    fn evolve(state: Self::State, event: &ComplaintEvent) -> Self::State {
        complaint::evolve(state, event)
    }
    fn reread(event: &ComplaintEvent) -> Result<ComplaintEvent, String> {
        let (event_type, version, payload) = event.encode();
        ComplaintEvent::decode(event_type, version, &payload).map_err(|e| e.to_string())
    }
}

/// The ledger aggregate.
#[derive(Debug)]
pub(crate) struct Ledgers;

impl Decider for Ledgers {
    type State = ledger::LedgerState;
    type Command = ledger::LedgerCommand;
    type Event = LedgerEvent;

    fn decide(state: &Self::State, command: &Self::Command) -> Decided<LedgerEvent> {
        ledger::decide(state, command)
    }
    fn evolve(state: Self::State, event: &LedgerEvent) -> Self::State {
        ledger::evolve(state, event)
    }
    fn reread(event: &LedgerEvent) -> Result<LedgerEvent, String> {
        let (event_type, version, payload) = event.encode();
        LedgerEvent::decode(event_type, version, &payload)
    }
}

/// The state folded from a history.
#[derive(Debug)]
pub(crate) struct Given<D: Decider> {
    state: D::State,
}

/// Given these events happened.
pub(crate) fn given<D: Decider>(history: impl IntoIterator<Item = D::Event>) -> Given<D> {
    let state = history
        .into_iter()
        .fold(D::State::default(), |state, event| D::evolve(state, &event));
    Given { state }
}

impl<D: Decider> Given<D> {
    /// The state folded from the history.
    pub(crate) fn state(&self) -> &D::State {
        &self.state
    }

    /// When `command` is decided on the state.
    pub(crate) fn when(self, command: D::Command) -> When<D> {
        let outcome = D::decide(&self.state, &command);
        When {
            given: self,
            command,
            outcome,
        }
    }

    fn fold(self, events: &[D::Event]) -> Self {
        let state = events.iter().fold(self.state, D::evolve);
        Given { state }
    }
}

/// A command decided on a given history, waiting for its expectation.
#[derive(Debug)]
#[must_use = "a `when` needs a `then`"]
pub(crate) struct When<D: Decider> {
    given: Given<D>,
    command: D::Command,
    outcome: Decided<D::Event>,
}

impl<D: Decider> When<D> {
    /// Then exactly these events (compared whole), which read back
    /// unchanged through the codec; they are folded for the next step.
    pub(crate) fn then(self, expected: impl IntoIterator<Item = D::Event>) -> Given<D> {
        let expected: Vec<D::Event> = expected.into_iter().collect();
        assert_eq!(self.outcome, Ok(expected.clone()), "{:?}", self.command);
        self.accept(expected)
    }

    /// Then exactly this error; the history does not change.
    pub(crate) fn then_err(self, expected: DomainError) -> Given<D> {
        assert_eq!(self.outcome, Err(expected), "{:?}", self.command);
        self.given
    }

    /// Then an error that `check` accepts (for errors whose wording the test
    /// does not pin down); the history does not change.
    pub(crate) fn then_err_matching(self, check: impl Fn(&DomainError) -> bool) -> Given<D> {
        match &self.outcome {
            Err(error) if check(error) => self.given,
            other => panic!("{:?}: unexpected {other:?}", self.command),
        }
    }

    /// The outcome, for assertions the other forms do not express.
    pub(crate) fn outcome(&self) -> &Decided<D::Event> {
        &self.outcome
    }

    fn accept(self, events: Vec<D::Event>) -> Given<D> {
        assert!(
            !events.is_empty(),
            "{:?} was accepted with no events",
            self.command
        );
        for event in &events {
            assert_eq!(D::reread(event).as_ref(), Ok(event), "codec of {event:?}");
        }
        self.given.fold(&events)
    }
}
