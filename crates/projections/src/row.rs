//! One complaint as the issue ledger (台账) sees it: a row folded from the
//! complaint's events, with the facts the evaluation counts.
//!
//! A row never holds the submitter's personal data (name, phone, ID number):
//! the ledger travels between offices as spreadsheets, and a projection that
//! never had the data cannot leak it.
//!
//! The deadline rules mirror `rectify_domain::complaint::evolve` exactly (a
//! test folds the same events through both and compares): dispatch sets the
//! accept, first-contact and resolve deadlines; acceptance by the lead unit,
//! a step that contacted the submitter and the resolution meet them; a
//! rejected verification un-meets the resolution; reopening and granted
//! extensions move the resolve deadline; resuming the clock shifts the open
//! ones.

use rectify_domain::complaint::{
    Channel, ComplaintEvent, ComplaintKind, ComplaintStatus, Milestone, Satisfaction, Urgency,
    WarningLevel,
};
use serde::{Deserialize, Serialize};

use smallvec::SmallVec;
use thin_vec::ThinVec;

use crate::{code::Code, timestamp::Timestamp};

/// How many characters of the complaint text a row keeps for free-text
/// search (the full text stays in the log).
pub const TEXT_PREFIX_CHARS: usize = 500;

/// One deadline of a complaint, with the instant its allowed time started
/// (for the yellow-warning mark).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowDeadline {
    /// Which milestone.
    pub milestone: Milestone,
    /// When the allowed time started (receipt, dispatch or reopening).
    pub start: Timestamp,
    /// When it is due.
    pub due_at: Timestamp,
    /// When it was met.
    pub met_at: Option<Timestamp>,
    /// The highest warning recorded for it; a red verdict is never erased.
    pub warning: Option<WarningLevel>,
}

impl RowDeadline {
    /// Open and past due at `now`.
    pub fn is_overdue(&self, now: impl Into<Timestamp>) -> bool {
        self.met_at.is_none() && self.due_at <= now.into()
    }
}

/// A callback as the evaluation counts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackFact {
    /// When it was recorded.
    pub at: Timestamp,
    /// The lead unit at the time (the unit evaluated).
    pub unit: Option<Code>,
    /// A valid callback (counts in the denominators).
    pub valid: bool,
    /// The submitter was reached (响应).
    pub contacted: bool,
    /// The problem was solved (解决).
    pub solved: bool,
    /// Satisfaction (满意度).
    pub satisfaction: Option<Satisfaction>,
}

/// One assignment of the complaint to a lead unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchFact {
    /// When it was dispatched.
    pub at: Timestamp,
    /// The lead unit.
    pub lead: Code,
    /// When acceptance was due.
    pub accept_due_at: Timestamp,
    /// When the lead unit accepted, if it did.
    pub accepted_at: Option<Timestamp>,
    /// When the lead unit returned it (退单), if it did.
    pub returned_at: Option<Timestamp>,
}

/// A dated fact attributed to a unit (extensions, reopenings, missed
/// deadlines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitFact {
    /// When.
    pub at: Timestamp,
    /// The lead unit at the time; `None` before dispatch.
    pub unit: Option<Code>,
}

/// The lists of a row that are usually short: up to four entries live in
/// the row itself, without an allocation of their own.
pub type Units = SmallVec<[Code; 4]>;

/// One complaint in the issue ledger.
///
/// Kept compact, because a city's ledger holds a million of them in memory:
/// the row's six strings share one allocation (read them through
/// [`LedgerRow::id`], [`LedgerRow::title`] and the other accessors), the
/// short lists of units and the deadlines sit inline, every instant is an
/// 8-byte [`Timestamp`] (nanoseconds since the epoch), and the lists that
/// are usually empty (warnings, extensions, reopenings, missed deadlines,
/// ledger links) cost one pointer until they are not.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerRow {
    /// The id, submitter, title, text, enterprise and ticket number, one
    /// after another (see [`Strings`]).
    strings: Strings,
    /// Stream version of the last applied event.
    pub version: u64,
    /// Global position of the last applied event.
    pub position: u64,
    /// Lifecycle status.
    pub status: ComplaintStatus,
    /// Intake channel.
    pub channel: Channel,
    /// Kind of request.
    pub kind: ComplaintKind,
    /// Task area.
    pub area: Option<Code>,
    /// Task number.
    pub task: Option<u32>,
    /// District (triage's, else intake's).
    pub district: Option<Code>,
    /// Urgency.
    pub urgency: Option<Urgency>,
    /// Lead unit of the current assignment.
    pub lead: Option<Code>,
    /// Responsible units of the current assignment.
    pub responsible: Units,
    /// Units that accepted the current assignment.
    pub accepted: Units,
    /// Units that recorded a step since the current assignment or reopening.
    pub stepped: Units,
    /// When it was received.
    pub received_at: Timestamp,
    /// When the last resolution was submitted.
    pub resolved_at: Option<Timestamp>,
    /// When it was closed.
    pub closed_at: Option<Timestamp>,
    /// Deadlines in milestone order (at most one a milestone).
    pub deadlines: SmallVec<[RowDeadline; 4]>,
    /// Every (milestone, level, due time) warned: the watcher's memory.
    pub warned: ThinVec<(Milestone, WarningLevel, Timestamp)>,
    /// The deadline clock is paused.
    pub paused: bool,
    /// An extension request waits for a decision.
    pub extension_pending: bool,
    /// Chase-ups (催办).
    pub chase_count: u32,
    /// Flagged for supervision (督办).
    pub supervised: bool,
    /// An appeal of the lead unit was upheld: its callbacks leave the rates.
    pub appeal_upheld: bool,
    /// Every callback, oldest first.
    pub callbacks: Vec<CallbackFact>,
    /// Every assignment, oldest first.
    pub dispatches: Vec<DispatchFact>,
    /// Granted extensions.
    pub extensions: ThinVec<UnitFact>,
    /// Reopenings.
    pub reopens: ThinVec<UnitFact>,
    /// Red warnings (missed deadlines).
    pub missed: ThinVec<UnitFact>,
    /// Linked ledger items as `ledger/item`.
    pub ledger_items: ThinVec<String>,
}

/// A row's strings in one allocation: the id, the submitting principal,
/// the title, the text prefix, the enterprise and the ticket number, one
/// after another, with where each ends.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Strings {
    all: Box<str>,
    /// The end of each string but the last (which ends with `all`).
    ends: [u32; 5],
    /// Bit 0: an enterprise is named; bit 1: a ticket number is.
    present: u8,
}

/// A row's strings as the checkpoint stores them: one text, where each
/// part but the last ends in it, and which optional parts are present (bit
/// 0: the enterprise, bit 1: the ticket number). A load checks them once
/// and copies the text once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PackedStrings<'a> {
    pub(crate) all: &'a str,
    pub(crate) ends: [u32; 5],
    pub(crate) present: u8,
}

/// The strings of a row, in the order [`Strings`] keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowStrings<'a> {
    /// Complaint id.
    pub id: &'a str,
    /// The principal that submitted it.
    pub submitted_by: &'a str,
    /// Title.
    pub title: &'a str,
    /// The text (a row keeps its first [`TEXT_PREFIX_CHARS`] characters).
    pub text: &'a str,
    /// Enterprise concerned.
    pub enterprise: Option<&'a str>,
    /// The hotline's ticket number.
    pub external_ref: Option<&'a str>,
}

impl Strings {
    fn new(strings: RowStrings<'_>) -> Strings {
        let parts = [
            strings.id,
            strings.submitted_by,
            strings.title,
            strings.text,
            strings.enterprise.unwrap_or(""),
            strings.external_ref.unwrap_or(""),
        ];
        let mut all = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0u32; 5];
        for (i, part) in parts.iter().enumerate() {
            all.push_str(part);
            if let Some(end) = ends.get_mut(i) {
                // The text is cut to 500 characters; ids, titles and names
                // are far shorter than 4 GiB.
                *end = u32::try_from(all.len()).expect("a row's strings fit in 4 GiB");
            }
        }
        Strings {
            all: all.into_boxed_str(),
            ends,
            present: u8::from(strings.enterprise.is_some())
                | (u8::from(strings.external_ref.is_some()) << 1),
        }
    }

    fn part(&self, index: usize) -> &str {
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i] as usize);
        let end = self.ends.get(index).map_or(self.all.len(), |&e| e as usize);
        &self.all[start..end]
    }

    /// The part at `index` if its `present` bit is set.
    fn optional(&self, index: usize, bit: u8) -> Option<&str> {
        (self.present & bit != 0).then(|| self.part(index))
    }

    /// The strings as [`Strings::from_packed`] reads them back.
    fn pack(&self) -> PackedStrings<'_> {
        PackedStrings {
            all: &self.all,
            ends: self.ends,
            present: self.present,
        }
    }

    /// The strings of a row from their packed form, checked: every end
    /// within the text, in order and on a character boundary, and an
    /// absent optional part empty.
    fn from_packed(packed: PackedStrings<'_>) -> Result<Strings, String> {
        let PackedStrings { all, ends, present } = packed;
        if present & !3 != 0 {
            return Err(format!("unknown string flags {present:#04x}"));
        }
        let mut start = 0;
        for &end in &ends {
            let end = end as usize;
            if end < start || !all.is_char_boundary(end) {
                return Err(format!("a string ends at {end}, not within the row's text"));
            }
            start = end;
        }
        let strings = Strings {
            all: all.into(),
            ends,
            present,
        };
        for (index, bit) in [(4, 1), (5, 2)] {
            if present & bit == 0 && !strings.part(index).is_empty() {
                return Err(format!("string {index} is absent but not empty"));
            }
        }
        Ok(strings)
    }

    fn get(&self) -> RowStrings<'_> {
        RowStrings {
            id: self.part(0),
            submitted_by: self.part(1),
            title: self.part(2),
            text: self.part(3),
            enterprise: self.optional(4, 1),
            external_ref: self.optional(5, 2),
        }
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

impl LedgerRow {
    /// A row from the intake event; `None` for any other event (a stream
    /// that does not start with intake is not a complaint).
    pub fn received(
        id: &str,
        position: u64,
        version: u64,
        actor: &str,
        event: &ComplaintEvent,
    ) -> Option<Self> {
        let ComplaintEvent::ComplaintReceived { at, submission } = event else {
            return None;
        };
        // The row keeps the start of the text; cut once, here at intake (a
        // checkpoint holds it cut already).
        let text_end = submission
            .text
            .char_indices()
            .nth(TEXT_PREFIX_CHARS)
            .map_or(submission.text.len(), |(at, _)| at);
        let strings = RowStrings {
            id,
            submitted_by: actor,
            title: &submission.title,
            text: &submission.text[..text_end],
            enterprise: submission.enterprise.as_deref(),
            external_ref: submission.external_ref.as_deref(),
        };
        let mut row = LedgerRow::new(
            strings,
            submission.channel,
            submission.kind,
            Timestamp::from(*at),
            (position, version),
        );
        row.district = submission.district.as_ref().map(|d| Code::new(d.as_str()));
        row.set_due(
            Milestone::Dispatch,
            Timestamp::from(*at),
            Timestamp::from(submission.dispatch_due_at),
        );
        Some(row)
    }

    /// A row just received, before any fact but its strings: status
    /// `Received`, nothing assigned, no deadline. `last` is the position
    /// and version of the last applied event. The strings are kept as given:
    /// the text is already cut to [`TEXT_PREFIX_CHARS`] characters.
    pub fn new(
        strings: RowStrings<'_>,
        channel: Channel,
        kind: ComplaintKind,
        received_at: Timestamp,
        last: (u64, u64),
    ) -> LedgerRow {
        LedgerRow::with_strings(Strings::new(strings), channel, kind, received_at, last)
    }

    /// [`LedgerRow::new`] from strings in their packed form (a checkpoint's);
    /// an error names what is wrong with them.
    pub(crate) fn from_packed(
        strings: PackedStrings<'_>,
        channel: Channel,
        kind: ComplaintKind,
        received_at: Timestamp,
        last: (u64, u64),
    ) -> Result<LedgerRow, String> {
        let strings = Strings::from_packed(strings)?;
        Ok(LedgerRow::with_strings(
            strings,
            channel,
            kind,
            received_at,
            last,
        ))
    }

    fn with_strings(
        strings: Strings,
        channel: Channel,
        kind: ComplaintKind,
        received_at: Timestamp,
        last: (u64, u64),
    ) -> LedgerRow {
        LedgerRow {
            strings,
            position: last.0,
            version: last.1,
            status: ComplaintStatus::Received,
            channel,
            kind,
            area: None,
            task: None,
            district: None,
            urgency: None,
            lead: None,
            responsible: Units::new(),
            accepted: Units::new(),
            stepped: Units::new(),
            received_at,
            resolved_at: None,
            closed_at: None,
            deadlines: SmallVec::new(),
            warned: ThinVec::new(),
            paused: false,
            extension_pending: false,
            chase_count: 0,
            supervised: false,
            appeal_upheld: false,
            callbacks: Vec::new(),
            dispatches: Vec::new(),
            extensions: ThinVec::new(),
            reopens: ThinVec::new(),
            missed: ThinVec::new(),
            ledger_items: ThinVec::new(),
        }
    }

    /// The row's strings.
    pub fn strings(&self) -> RowStrings<'_> {
        self.strings.get()
    }

    /// The row's strings in the form a checkpoint stores.
    pub(crate) fn packed_strings(&self) -> PackedStrings<'_> {
        self.strings.pack()
    }

    /// Complaint id.
    pub fn id(&self) -> &str {
        self.strings.part(0)
    }

    /// The principal that submitted it (a portal sees only its own).
    pub fn submitted_by(&self) -> &str {
        self.strings.part(1)
    }

    /// Title.
    pub fn title(&self) -> &str {
        self.strings.part(2)
    }

    /// The first [`TEXT_PREFIX_CHARS`] characters of the text.
    pub fn text(&self) -> &str {
        self.strings.part(3)
    }

    /// Enterprise concerned.
    pub fn enterprise(&self) -> Option<&str> {
        self.strings.optional(4, 1)
    }

    /// The hotline's ticket number.
    pub fn external_ref(&self) -> Option<&str> {
        self.strings.optional(5, 2)
    }

    /// When the latest assignment was dispatched.
    pub fn dispatched_at(&self) -> Option<Timestamp> {
        self.dispatches.last().map(|d| d.at)
    }

    /// Returns (退单): assignments the lead unit gave back.
    pub fn return_count(&self) -> u32 {
        count(self.dispatches.iter().filter(|d| d.returned_at.is_some()))
    }

    /// Granted extensions.
    pub fn extension_count(&self) -> u32 {
        count(self.extensions.iter())
    }

    /// Reopenings (重办).
    pub fn reopen_count(&self) -> u32 {
        count(self.reopens.iter())
    }

    /// The deadline of `milestone`, if set.
    pub fn deadline(&self, milestone: Milestone) -> Option<&RowDeadline> {
        self.deadlines.iter().find(|d| d.milestone == milestone)
    }

    /// The resolve due time, if dispatched.
    pub fn resolve_due_at(&self) -> Option<Timestamp> {
        self.deadline(Milestone::Resolve).map(|d| d.due_at)
    }

    /// The earliest due time among open deadlines.
    pub fn next_due_at(&self) -> Option<Timestamp> {
        self.deadlines
            .iter()
            .filter(|d| d.met_at.is_none())
            .map(|d| d.due_at)
            .min()
    }

    /// The highest warning recorded on any current deadline.
    pub fn warning_level(&self) -> Option<WarningLevel> {
        self.deadlines.iter().filter_map(|d| d.warning).max()
    }

    /// Some open deadline is past due at `now` (and the clock runs).
    pub fn is_overdue(&self, now: impl Into<Timestamp>) -> bool {
        let now = now.into();
        self.status != ComplaintStatus::Closed
            && !self.paused
            && self.deadlines.iter().any(|d| d.is_overdue(now))
    }

    /// Whether `unit` is the lead or a responsible unit now.
    pub fn is_assigned(&self, unit: &str) -> bool {
        self.lead.as_deref() == Some(unit) || self.responsible.iter().any(|u| u == unit)
    }

    /// Satisfaction at the last callback.
    pub fn satisfaction(&self) -> Option<Satisfaction> {
        self.callbacks.last().and_then(|c| c.satisfaction)
    }

    /// Folds one event of this complaint's stream into the row.
    pub fn apply(&mut self, position: u64, version: u64, event: &ComplaintEvent) {
        use ComplaintEvent as E;
        // The view applies each position once, in order, so a stream's events only move on.
        debug_assert!(position > self.position && version > self.version);
        self.position = position;
        self.version = version;
        match event {
            // A second intake event cannot be written (the stream exists);
            // keep the row as it is.
            E::ComplaintReceived { .. } => {}
            E::ComplaintClassified {
                area,
                task,
                district,
                urgency,
                ..
            } => {
                self.status = ComplaintStatus::AwaitingDispatch;
                self.area = Some(Code::new(area.as_str()));
                self.task = *task;
                if let Some(district) = district {
                    self.district = Some(Code::new(district.as_str()));
                }
                self.urgency = Some(*urgency);
            }
            E::ComplaintDispatched { .. }
            | E::AssignmentAccepted { .. }
            | E::AssignmentReturned { .. }
            | E::RectificationStepRecorded { .. } => self.apply_assignment(event),
            E::ExtensionRequested { .. } => self.extension_pending = true,
            E::ExtensionGranted { at, due_at, .. } => {
                self.extension_pending = false;
                let start = self
                    .deadline(Milestone::Resolve)
                    .map_or(Timestamp::from(*at), |deadline| deadline.start);
                self.set_due(Milestone::Resolve, start, Timestamp::from(*due_at));
                self.extensions.push(UnitFact {
                    at: Timestamp::from(*at),
                    unit: self.lead,
                });
            }
            E::ExtensionDenied { .. } => self.extension_pending = false,
            E::ResolutionSubmitted { at, .. } => {
                self.status = ComplaintStatus::Resolved;
                self.extension_pending = false;
                self.paused = false;
                self.resolved_at = Some(Timestamp::from(*at));
                self.meet(Milestone::Resolve, Timestamp::from(*at));
            }
            E::ResolutionVerified { .. } => self.status = ComplaintStatus::Verified,
            E::ResolutionRejected { .. } => {
                self.status = ComplaintStatus::InProgress;
                if let Some(deadline) = self.deadline_mut(Milestone::Resolve) {
                    deadline.met_at = None;
                }
            }
            E::CallbackRecorded {
                at,
                valid,
                contacted,
                solved,
                satisfaction,
                ..
            } => {
                self.status = ComplaintStatus::CalledBack;
                self.callbacks.push(CallbackFact {
                    at: Timestamp::from(*at),
                    unit: self.lead,
                    valid: *valid,
                    contacted: *contacted,
                    solved: *solved,
                    satisfaction: *satisfaction,
                });
            }
            E::ComplaintReopened {
                at, resolve_due_at, ..
            } => {
                self.status = ComplaintStatus::InProgress;
                self.stepped.clear();
                self.set_due(
                    Milestone::Resolve,
                    Timestamp::from(*at),
                    Timestamp::from(*resolve_due_at),
                );
                self.reopens.push(UnitFact {
                    at: Timestamp::from(*at),
                    unit: self.lead,
                });
            }
            E::ComplaintClosed { at, .. } => {
                self.status = ComplaintStatus::Closed;
                self.closed_at = Some(Timestamp::from(*at));
                self.paused = false;
            }
            E::ChasedUp { .. } => self.chase_count = self.chase_count.saturating_add(1),
            E::SupervisionFlagged { .. } => self.supervised = true,
            E::AccountabilityRecorded { .. } => {}
            E::AppealFiled { .. } => {}
            E::AppealDecided { upheld, .. } => {
                if *upheld {
                    self.appeal_upheld = true;
                }
            }
            E::ClockPaused { .. } => self.paused = true,
            E::ClockResumed { .. } | E::DeadlineWarned { .. } | E::DeadlineMissed { .. } => {
                self.apply_deadline(event)
            }
            E::LinkedToLedgerItem {
                ledger_id, item_id, ..
            } => {
                let link = format!("{ledger_id}/{item_id}");
                if !self.ledger_items.contains(&link) {
                    self.ledger_items.push(link);
                }
            }
            // Rows hold no personal data, so an erasure changes none.
            E::ClassProblemFixed { .. } | E::PersonalDataErased { .. } => {}
            // The liaison's own facts live in the mechanisms view.
            E::LiaisonAssigned { .. } | E::LiaisonNoteRecorded { .. } => {}
        }
    }

    /// The events of an assignment: dispatch, acceptance, return and the
    /// units' steps.
    fn apply_assignment(&mut self, event: &ComplaintEvent) {
        use ComplaintEvent as E;
        match event {
            E::ComplaintDispatched {
                at,
                lead,
                responsible,
                accept_due_at,
                first_contact_due_at,
                resolve_due_at,
                ..
            } => {
                self.status = ComplaintStatus::Dispatched;
                self.lead = Some(Code::new(lead.as_str()));
                self.responsible = responsible.iter().map(|u| Code::new(u.as_str())).collect();
                self.accepted.clear();
                self.stepped.clear();
                self.meet(Milestone::Dispatch, Timestamp::from(*at));
                self.set_due(
                    Milestone::Accept,
                    Timestamp::from(*at),
                    Timestamp::from(*accept_due_at),
                );
                self.set_due(
                    Milestone::FirstContact,
                    Timestamp::from(*at),
                    Timestamp::from(*first_contact_due_at),
                );
                self.set_due(
                    Milestone::Resolve,
                    Timestamp::from(*at),
                    Timestamp::from(*resolve_due_at),
                );
                self.dispatches.push(DispatchFact {
                    at: Timestamp::from(*at),
                    lead: Code::new(lead.as_str()),
                    accept_due_at: Timestamp::from(*accept_due_at),
                    accepted_at: None,
                    returned_at: None,
                });
            }
            E::AssignmentAccepted { at, unit } => {
                let unit = unit.as_str();
                if !self.accepted.iter().any(|u| u == unit) {
                    self.accepted.push(Code::new(unit));
                }
                if self.lead.as_deref() == Some(unit) {
                    self.meet(Milestone::Accept, Timestamp::from(*at));
                    if self.status == ComplaintStatus::Dispatched {
                        self.status = ComplaintStatus::InProgress;
                    }
                    if let Some(dispatch) = self.dispatches.last_mut()
                        && dispatch.accepted_at.is_none()
                    {
                        dispatch.accepted_at = Some(Timestamp::from(*at));
                    }
                }
            }
            E::AssignmentReturned { at, .. } => {
                self.status = ComplaintStatus::AwaitingDispatch;
                self.paused = false;
                self.lead = None;
                self.responsible.clear();
                self.accepted.clear();
                self.stepped.clear();
                self.extension_pending = false;
                if let Some(dispatch) = self.dispatches.last_mut() {
                    dispatch.returned_at = Some(Timestamp::from(*at));
                }
            }
            E::RectificationStepRecorded {
                at,
                unit,
                contacted_submitter,
                ..
            } => {
                if !self.stepped.iter().any(|u| u == unit.as_str()) {
                    self.stepped.push(Code::new(unit.as_str()));
                }
                if *contacted_submitter {
                    self.meet(Milestone::FirstContact, Timestamp::from(*at));
                }
            }
            _ => {}
        }
    }

    /// The events of the deadline clock: resuming it, and the watcher's
    /// warnings.
    fn apply_deadline(&mut self, event: &ComplaintEvent) {
        use ComplaintEvent as E;
        match event {
            E::ClockResumed { shifted, .. } => {
                self.paused = false;
                for (milestone, due_at) in shifted {
                    if let Some(deadline) = self.deadline_mut(*milestone)
                        && deadline.met_at.is_none()
                    {
                        deadline.due_at = Timestamp::from(*due_at);
                    }
                }
            }
            E::DeadlineWarned {
                milestone, due_at, ..
            } => {
                self.warned
                    .push((*milestone, WarningLevel::Yellow, Timestamp::from(*due_at)));
                if let Some(deadline) = self.deadline_mut(*milestone)
                    && deadline.warning.is_none()
                {
                    deadline.warning = Some(WarningLevel::Yellow);
                }
            }
            E::DeadlineMissed {
                at,
                milestone,
                due_at,
            } => {
                self.warned
                    .push((*milestone, WarningLevel::Red, Timestamp::from(*due_at)));
                if let Some(deadline) = self.deadline_mut(*milestone) {
                    deadline.warning = Some(WarningLevel::Red);
                }
                self.missed.push(UnitFact {
                    at: Timestamp::from(*at),
                    unit: match milestone {
                        Milestone::Dispatch => None,
                        _ => self.lead,
                    },
                });
            }
            _ => {}
        }
    }

    fn deadline_mut(&mut self, milestone: Milestone) -> Option<&mut RowDeadline> {
        self.deadlines.iter_mut().find(|d| d.milestone == milestone)
    }

    fn set_due(&mut self, milestone: Milestone, start: Timestamp, due_at: Timestamp) {
        match self.deadline_mut(milestone) {
            Some(deadline) => {
                deadline.start = start;
                deadline.due_at = due_at;
                deadline.met_at = None;
                if deadline.warning == Some(WarningLevel::Yellow) {
                    deadline.warning = None;
                }
            }
            None => {
                self.deadlines.push(RowDeadline {
                    milestone,
                    start,
                    due_at,
                    met_at: None,
                    warning: None,
                });
                self.deadlines.sort_by_key(|d| d.milestone);
            }
        }
    }

    fn meet(&mut self, milestone: Milestone, at: Timestamp) {
        if let Some(deadline) = self.deadline_mut(milestone)
            && deadline.met_at.is_none()
        {
            deadline.met_at = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A million rows live in memory: a field that grows the row grows
    /// the ledger by a megabyte for every byte.
    #[test]
    fn a_row_stays_compact() {
        assert_eq!(std::mem::size_of::<Option<Code>>(), 4);
        assert!(std::mem::size_of::<LedgerRow>() <= 408);
        assert!(std::mem::size_of::<RowDeadline>() <= 32);
        assert!(std::mem::size_of::<Units>() <= 24);
        assert!(std::mem::size_of::<CallbackFact>() <= 16);
        assert!(std::mem::size_of::<DispatchFact>() <= 40);
    }

    /// Intake keeps the first [`TEXT_PREFIX_CHARS`] characters of the text
    /// and every other string whole.
    #[test]
    fn intake_cuts_the_text_and_keeps_the_rest() {
        use chrono::TimeZone as _;
        use rectify_domain::{ComplaintId, complaint::Submission};
        let at = chrono::Utc.with_ymd_and_hms(2026, 10, 8, 1, 0, 0).unwrap();
        let text = format!("{}尾", "长".repeat(TEXT_PREFIX_CHARS));
        let event = ComplaintEvent::ComplaintReceived {
            at,
            submission: Submission {
                id: ComplaintId::new("RC-1").unwrap(),
                channel: Channel::WeChat,
                kind: ComplaintKind::Complaint,
                submitter: None,
                sealed_submitter: None,
                enterprise: None,
                district: None,
                location: None,
                title: "燃气接入收费不透明".into(),
                text,
                external_ref: Some("12345-1".into()),
                station: None,
                officer: None,
                dispatch_due_at: at,
            },
        };
        let row = LedgerRow::received("RC-1", 1, 1, "hotline-1", &event).unwrap();
        assert_eq!(row.text(), "长".repeat(TEXT_PREFIX_CHARS));
        assert_eq!(
            (row.id(), row.submitted_by(), row.title()),
            ("RC-1", "hotline-1", "燃气接入收费不透明")
        );
        assert_eq!(
            (row.enterprise(), row.external_ref()),
            (None, Some("12345-1"))
        );
    }
}
