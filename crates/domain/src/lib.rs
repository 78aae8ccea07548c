//! rectify-domain: the rules of the business as pure deciders.
//!
//! This crate owns what may happen to a complaint and to a rectification
//! ledger, and who may make it happen: the commands, the events they
//! produce, the state folded from those events, and the typed rejections.
//! Both aggregates have the fmodel shape:
//!
//! - `decide(&state, &command) -> Result<Vec<Event>, DomainError>`
//! - `evolve(state, &event) -> state`
//! - the initial state is `Default::default()`.
//!
//! Modules:
//!
//! - [`complaint`]: the complaint lifecycle (接诉 → 转派 → … → 销号); its
//!   types, `state` with `evolve`, `decide` with one function per command,
//!   and the event codec.
//! - [`ledger`]: rectification ledgers (整改台账) with item-by-item closure,
//!   laid out the same way.
//! - [`registry`]: the city's registries — key enterprises with their
//!   unified social credit codes, liaison pairs (包联), experience officers
//!   (营商环境体验官) and grassroots stations — one stream per record.
//! - [`text`]: the limits and checks of free text, shared by both.
//! - [`codes`]: validated unit, area and district codes and ids.
//!
//! Invariants:
//!
//! - No I/O, no clock, no randomness, no async. Time, ids, routing and computed
//!   due times arrive in the command; the caller (the service) computes them.
//! - `decide` never panics and never returns `Ok(vec![])`: a command either
//!   produces at least one event or is rejected with a [`DomainError`] that
//!   names the current status and the attempted step. In debug builds each
//!   `decide` also asserts that its events, folded onto the state, keep the
//!   stream's id and change the status only as the lifecycle allows.
//! - `evolve` is total: it accepts any recorded event in any state without
//!   panicking, so replaying history always works.
//! - Permissions are part of the rules: who may take a step (hotline, portal,
//!   dispatch centre, lead unit, responsible unit, supervisor, system) is
//!   checked in `decide`.
//! - Free text follows one set of rules in both aggregates ([`text`]):
//!   lengths are counted in characters against named limits, a required text
//!   is not blank, and control characters other than line feed, carriage
//!   return and tab are refused; each refusal is [`DomainError::Invalid`]
//!   naming the field.

pub mod codes;
pub mod complaint;
mod error;
pub mod ledger;
pub mod registry;
#[cfg(test)]
mod testing;
pub mod text;

pub use codes::{AreaCode, ComplaintId, DistrictCode, StationCode, UnitCode};
pub use complaint::{
    Command, CommandKind, ComplaintEvent, ComplaintState, ComplaintStatus, decide, evolve,
};
pub use error::DomainError;

use serde::{Deserialize, Serialize};

/// China Standard Time (UTC+8), in which dates, phases and evaluation
/// periods are counted.
pub const CHINA_STANDARD_TIME: chrono::FixedOffset = match chrono::FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// Who takes a step: the principal recorded in the event metadata and the
/// role that decides what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The authenticated principal (person or system).
    pub principal: String,
    /// What the principal may do.
    pub role: Role,
}

/// The roles of the complaint workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The 12345 hotline: intake and callbacks.
    Hotline,
    /// A government portal (app, WeChat, web): intake only.
    Portal,
    /// The dispatch centre: triage, dispatch, verification, closure.
    Dispatcher,
    /// A handling unit, bound to its unit code.
    Unit(UnitCode),
    /// A supervision investigator (监督执纪组): read-all, 督办, 追责问责.
    Supervisor,
    /// An administrator: may do what the dispatch centre does.
    Admin,
    /// An enterprise liaison cadre (包联干部), acting on the complaints of
    /// the enterprises paired with them; the principal is the cadre.
    Liaison,
    /// A business-environment experience officer (营商环境体验官),
    /// following their own reports; the principal is the officer's id.
    Officer,
    /// The system itself (the deadline watcher).
    System,
}

impl Role {
    /// The role's name as it appears in errors and metadata.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hotline => "hotline",
            Self::Portal => "portal",
            Self::Dispatcher => "dispatcher",
            Self::Unit(_) => "unit",
            Self::Supervisor => "supervisor",
            Self::Admin => "admin",
            Self::Liaison => "liaison",
            Self::Officer => "officer",
            Self::System => "system",
        }
    }

    /// True for the dispatch centre and administrators.
    pub fn dispatches(&self) -> bool {
        matches!(self, Self::Dispatcher | Self::Admin)
    }
}
