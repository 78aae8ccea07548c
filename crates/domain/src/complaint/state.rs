//! The state folded from a complaint's events, and `evolve`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    Channel, ComplaintEvent, ComplaintKind, ComplaintStatus, Milestone, Satisfaction, Submission,
    Submitter, Urgency, WarningLevel,
};
use crate::{AreaCode, ComplaintId, DistrictCode, UnitCode};

/// One deadline and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// Which milestone.
    pub milestone: Milestone,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// When it was met, if it was.
    pub met_at: Option<DateTime<Utc>>,
    /// The highest warning recorded for it (a red verdict is never erased).
    pub warning: Option<WarningLevel>,
}

/// A pending extension request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PendingExtension {
    pub(super) requested_due_at: DateTime<Utc>,
}

/// Everything known about a complaint. `Default` is "no complaint yet".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComplaintState {
    pub(super) status: Option<ComplaintStatus>,
    pub(super) submission: Option<Submission>,
    pub(super) received_at: Option<DateTime<Utc>>,
    pub(super) area: Option<AreaCode>,
    pub(super) task: Option<u32>,
    pub(super) district: Option<DistrictCode>,
    pub(super) urgency: Option<Urgency>,
    pub(super) tags: Vec<String>,
    pub(super) lead: Option<UnitCode>,
    pub(super) responsible: Vec<UnitCode>,
    pub(super) routing_rule: Option<String>,
    pub(super) accepted: Vec<UnitCode>,
    pub(super) deadlines: Vec<Deadline>,
    /// Every (milestone, level, due time) warned so far: a warning is
    /// recorded once per deadline, even after the deadline moved.
    pub(super) warned: Vec<(Milestone, WarningLevel, DateTime<Utc>)>,
    pub(super) return_count: u32,
    pub(super) extension_count: u32,
    pub(super) reopen_count: u32,
    pub(super) chase_count: u32,
    pub(super) pending_extension: Option<PendingExtension>,
    pub(super) paused_since: Option<DateTime<Utc>>,
    pub(super) paused_total_ms: i64,
    pub(super) supervised: bool,
    pub(super) accountability_count: u32,
    pub(super) last_callback: Option<Callback>,
    pub(super) pending_appeal: Option<UnitCode>,
    pub(super) upheld_appeals: u32,
    pub(super) closed_at: Option<DateTime<Utc>>,
    pub(super) ledger_links: Vec<(String, String)>,
    pub(super) fixed_links: Vec<(String, String)>,
    #[serde(default)]
    pub(super) personal_data_erased: bool,
    /// The enterprise's liaison cadre (包联), once assigned.
    #[serde(default)]
    pub(super) liaison: Option<super::LiaisonRef>,
    /// When the liaison cadre first reached the enterprise.
    #[serde(default)]
    pub(super) liaison_contacted_at: Option<DateTime<Utc>>,
    /// Liaison notes recorded.
    #[serde(default)]
    pub(super) liaison_notes: u32,
}

/// A callback's outcome: the inputs of the three rates (valid callbacks,
/// contact rate, solved rate, satisfaction rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    /// When the callback was recorded.
    pub at: DateTime<Utc>,
    /// It counts as a valid callback.
    pub valid: bool,
    /// The submitter was reached.
    pub contacted: bool,
    /// The submitter said the problem was solved.
    pub solved: bool,
    /// The submitter's satisfaction, when contacted.
    pub satisfaction: Option<Satisfaction>,
}

impl Callback {
    /// True when the callback found the problem unsolved or the submitter
    /// unsatisfied: the condition for reopening (重办).
    pub fn is_unhappy(&self) -> bool {
        !self.solved || self.satisfaction == Some(Satisfaction::Unsatisfied)
    }
}

impl ComplaintState {
    /// The complaint's id (`None` before intake).
    pub fn id(&self) -> Option<&ComplaintId> {
        self.submission.as_ref().map(|s| &s.id)
    }
    /// The status (`None` before intake).
    pub fn status(&self) -> Option<ComplaintStatus> {
        self.status
    }
    /// The status name; `none` before intake.
    pub fn status_name(&self) -> &'static str {
        self.status.map_or("none", ComplaintStatus::as_str)
    }
    /// Intake channel.
    pub fn channel(&self) -> Option<Channel> {
        self.submission.as_ref().map(|s| s.channel)
    }
    /// Kind of request.
    pub fn kind(&self) -> Option<ComplaintKind> {
        self.submission.as_ref().map(|s| s.kind)
    }
    /// The submitter's personal data, when it is in clear: `None` while it
    /// is sealed and not opened, and after erasure.
    pub fn submitter(&self) -> Option<&Submitter> {
        self.submission.as_ref().and_then(|s| s.submitter.as_ref())
    }
    /// The sealed token of the submitter's personal data, if it was stored
    /// sealed and is not erased.
    pub fn sealed_submitter(&self) -> Option<&str> {
        self.submission
            .as_ref()
            .and_then(|s| s.sealed_submitter.as_deref())
    }
    /// Puts the opened personal data into the state (the service opens the
    /// sealed token); ignored once the data is erased.
    pub fn reveal_submitter(&mut self, submitter: Submitter) {
        if self.personal_data_erased {
            return;
        }
        if let Some(submission) = &mut self.submission {
            submission.submitter = Some(submitter);
        }
    }
    /// Whether the submitter's personal data was erased.
    pub fn personal_data_erased(&self) -> bool {
        self.personal_data_erased
    }
    /// The enterprise concerned.
    pub fn enterprise(&self) -> Option<&str> {
        self.submission
            .as_ref()
            .and_then(|s| s.enterprise.as_deref())
    }
    /// The district (from triage, else from intake).
    pub fn district(&self) -> Option<&DistrictCode> {
        self.district.as_ref()
    }
    /// Free-form location.
    pub fn location(&self) -> Option<&str> {
        self.submission.as_ref().and_then(|s| s.location.as_deref())
    }
    /// Title.
    pub fn title(&self) -> &str {
        self.submission.as_ref().map_or("", |s| s.title.as_str())
    }
    /// Full text.
    pub fn text(&self) -> &str {
        self.submission.as_ref().map_or("", |s| s.text.as_str())
    }
    /// External reference.
    pub fn external_ref(&self) -> Option<&str> {
        self.submission
            .as_ref()
            .and_then(|s| s.external_ref.as_deref())
    }
    /// Task area.
    pub fn area(&self) -> Option<&AreaCode> {
        self.area.as_ref()
    }
    /// Task number.
    pub fn task(&self) -> Option<u32> {
        self.task
    }
    /// Urgency.
    pub fn urgency(&self) -> Option<Urgency> {
        self.urgency
    }
    /// Tags.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }
    /// The lead unit, while dispatched.
    pub fn lead_unit(&self) -> Option<&UnitCode> {
        self.lead.as_ref()
    }
    /// The responsible units, while dispatched.
    pub fn responsible_units(&self) -> &[UnitCode] {
        &self.responsible
    }
    /// The routing rule of the current assignment.
    pub fn routing_rule(&self) -> Option<&str> {
        self.routing_rule.as_deref()
    }
    /// Units that accepted the current assignment.
    pub fn accepted_units(&self) -> &[UnitCode] {
        &self.accepted
    }
    /// Deadlines, in milestone order.
    pub fn deadlines(&self) -> &[Deadline] {
        &self.deadlines
    }
    /// One milestone's deadline.
    pub fn deadline(&self, milestone: Milestone) -> Option<&Deadline> {
        self.deadlines.iter().find(|d| d.milestone == milestone)
    }
    /// Deadlines not yet met: (milestone, due time).
    pub fn open_deadlines(&self) -> Vec<(Milestone, DateTime<Utc>)> {
        self.deadlines
            .iter()
            .filter(|d| d.met_at.is_none())
            .map(|d| (d.milestone, d.due_at))
            .collect()
    }
    /// How often the complaint was returned (退单).
    pub fn return_count(&self) -> u32 {
        self.return_count
    }
    /// How many extensions were granted.
    pub fn extension_count(&self) -> u32 {
        self.extension_count
    }
    /// How often it was reopened (重办).
    pub fn reopen_count(&self) -> u32 {
        self.reopen_count
    }
    /// How often it was chased up (催办).
    pub fn chase_count(&self) -> u32 {
        self.chase_count
    }
    /// Since when the deadline clock is paused, if it is.
    pub fn paused_since(&self) -> Option<DateTime<Utc>> {
        self.paused_since
    }
    /// Total wall time the clock was paused, in milliseconds.
    pub fn paused_total_ms(&self) -> i64 {
        self.paused_total_ms
    }
    /// Flagged for supervision (督办).
    pub fn supervised(&self) -> bool {
        self.supervised
    }
    /// Satisfaction at the last callback.
    pub fn satisfaction(&self) -> Option<Satisfaction> {
        self.last_callback.as_ref().and_then(|c| c.satisfaction)
    }
    /// The last callback's outcome.
    pub fn last_callback(&self) -> Option<&Callback> {
        self.last_callback.as_ref()
    }
    /// The resolve due time asked for by the pending extension request.
    pub fn pending_extension(&self) -> Option<DateTime<Utc>> {
        self.pending_extension.as_ref().map(|p| p.requested_due_at)
    }
    /// The unit whose appeal is pending.
    pub fn pending_appeal(&self) -> Option<&UnitCode> {
        self.pending_appeal.as_ref()
    }
    /// Whether the deadline clock is paused.
    pub fn is_paused(&self) -> bool {
        self.paused_since.is_some()
    }
    /// Accountability findings recorded (追责问责).
    pub fn accountability_count(&self) -> u32 {
        self.accountability_count
    }
    /// Every deadline warning recorded: (milestone, level, due time).
    pub fn warnings(&self) -> &[(Milestone, WarningLevel, DateTime<Utc>)] {
        &self.warned
    }
    /// Linked ledger items whose class problem was fixed.
    pub fn fixed_links(&self) -> &[(String, String)] {
        &self.fixed_links
    }
    /// Upheld appeals.
    pub fn upheld_appeals(&self) -> u32 {
        self.upheld_appeals
    }
    /// When it was received.
    pub fn received_at(&self) -> Option<DateTime<Utc>> {
        self.received_at
    }
    /// When it was closed.
    pub fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.closed_at
    }
    /// The experience officer who reported it, if one did.
    pub fn officer(&self) -> Option<&str> {
        self.submission.as_ref().and_then(|s| s.officer.as_deref())
    }
    /// The enterprise's liaison cadre, once assigned at dispatch.
    pub fn liaison(&self) -> Option<&super::LiaisonRef> {
        self.liaison.as_ref()
    }
    /// When the liaison cadre first reached the enterprise.
    pub fn liaison_contacted_at(&self) -> Option<DateTime<Utc>> {
        self.liaison_contacted_at
    }
    /// Liaison notes recorded.
    pub fn liaison_notes(&self) -> u32 {
        self.liaison_notes
    }
    /// Linked ledger items: (ledger id, item id).
    pub fn ledger_links(&self) -> &[(String, String)] {
        &self.ledger_links
    }
    /// Whether `unit` is the lead or a responsible unit now.
    pub fn is_assigned(&self, unit: &UnitCode) -> bool {
        self.lead.as_ref() == Some(unit) || self.responsible.contains(unit)
    }

    /// Ends a pause at `at`, adding its length to the paused total. Handling
    /// that ends (a return, a resolution, closure) ends the pause with it.
    fn end_pause(&mut self, at: DateTime<Utc>) {
        if let Some(since) = self.paused_since.take() {
            let paused_ms = at.signed_duration_since(since).num_milliseconds().max(0);
            self.paused_total_ms = self.paused_total_ms.saturating_add(paused_ms);
        }
    }

    fn deadline_mut(&mut self, milestone: Milestone) -> Option<&mut Deadline> {
        self.deadlines.iter_mut().find(|d| d.milestone == milestone)
    }

    fn set_due(&mut self, milestone: Milestone, due_at: DateTime<Utc>) {
        match self.deadline_mut(milestone) {
            Some(deadline) => {
                deadline.due_at = due_at;
                deadline.met_at = None;
                // A red verdict stays: a missed deadline is never rewritten.
                if deadline.warning == Some(WarningLevel::Yellow) {
                    deadline.warning = None;
                }
            }
            None => {
                self.deadlines.push(Deadline {
                    milestone,
                    due_at,
                    met_at: None,
                    warning: None,
                });
                self.deadlines.sort_by_key(|d| d.milestone);
            }
        }
    }

    fn meet(&mut self, milestone: Milestone, at: DateTime<Utc>) {
        if let Some(deadline) = self.deadline_mut(milestone)
            && deadline.met_at.is_none()
        {
            deadline.met_at = Some(at);
        }
    }
}

/// Folds one event into the state. Total: any event in any state yields a
/// state, so replaying recorded history never fails.
pub fn evolve(mut state: ComplaintState, event: &ComplaintEvent) -> ComplaintState {
    use ComplaintEvent as E;
    match event {
        E::ComplaintReceived { at, submission } => {
            state.status = Some(ComplaintStatus::Received);
            state.received_at = Some(*at);
            state.district = submission.district.clone();
            state.set_due(Milestone::Dispatch, submission.dispatch_due_at);
            state.submission = Some(submission.clone());
        }
        E::ComplaintClassified {
            area,
            task,
            district,
            tags,
            urgency,
            ..
        } => {
            state.status = Some(ComplaintStatus::AwaitingDispatch);
            state.area = Some(area.clone());
            state.task = *task;
            if district.is_some() {
                state.district = district.clone();
            }
            state.tags = tags.clone();
            state.urgency = Some(*urgency);
        }
        E::ComplaintDispatched {
            at,
            lead,
            responsible,
            rule_id,
            accept_due_at,
            first_contact_due_at,
            resolve_due_at,
            ..
        } => {
            state.status = Some(ComplaintStatus::Dispatched);
            state.lead = Some(lead.clone());
            state.responsible = responsible.clone();
            state.routing_rule = Some(rule_id.clone());
            state.accepted.clear();
            state.meet(Milestone::Dispatch, *at);
            state.set_due(Milestone::Accept, *accept_due_at);
            state.set_due(Milestone::FirstContact, *first_contact_due_at);
            state.set_due(Milestone::Resolve, *resolve_due_at);
        }
        E::AssignmentAccepted { at, unit } => {
            if !state.accepted.contains(unit) {
                state.accepted.push(unit.clone());
            }
            if state.lead.as_ref() == Some(unit) {
                state.meet(Milestone::Accept, *at);
                if state.status == Some(ComplaintStatus::Dispatched) {
                    state.status = Some(ComplaintStatus::InProgress);
                }
            }
        }
        E::AssignmentReturned { at, .. } => {
            state.status = Some(ComplaintStatus::AwaitingDispatch);
            state.return_count = state.return_count.saturating_add(1);
            state.end_pause(*at);
            state.lead = None;
            state.responsible.clear();
            state.accepted.clear();
            state.routing_rule = None;
            state.pending_extension = None;
        }
        E::RectificationStepRecorded {
            at,
            contacted_submitter,
            ..
        } => {
            if *contacted_submitter {
                state.meet(Milestone::FirstContact, *at);
            }
        }
        E::ExtensionRequested {
            requested_due_at, ..
        } => {
            state.pending_extension = Some(PendingExtension {
                requested_due_at: *requested_due_at,
            });
        }
        E::ExtensionGranted { due_at, .. } => {
            state.pending_extension = None;
            state.extension_count = state.extension_count.saturating_add(1);
            state.set_due(Milestone::Resolve, *due_at);
        }
        E::ExtensionDenied { .. } => {
            state.pending_extension = None;
        }
        E::ResolutionSubmitted { at, .. } => {
            state.status = Some(ComplaintStatus::Resolved);
            state.pending_extension = None;
            state.end_pause(*at);
            state.meet(Milestone::Resolve, *at);
        }
        E::ResolutionVerified { .. } => {
            state.status = Some(ComplaintStatus::Verified);
        }
        E::ResolutionRejected { .. } => {
            state.status = Some(ComplaintStatus::InProgress);
            if let Some(deadline) = state.deadline_mut(Milestone::Resolve) {
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
            state.status = Some(ComplaintStatus::CalledBack);
            state.last_callback = Some(Callback {
                at: *at,
                valid: *valid,
                contacted: *contacted,
                solved: *solved,
                satisfaction: *satisfaction,
            });
        }
        E::ComplaintReopened { resolve_due_at, .. } => {
            state.status = Some(ComplaintStatus::InProgress);
            state.reopen_count = state.reopen_count.saturating_add(1);
            state.set_due(Milestone::Resolve, *resolve_due_at);
        }
        E::ComplaintClosed { at, .. } => {
            state.status = Some(ComplaintStatus::Closed);
            state.closed_at = Some(*at);
            state.end_pause(*at);
        }
        E::ChasedUp { .. } => state.chase_count = state.chase_count.saturating_add(1),
        E::LiaisonAssigned { liaison, .. } => state.liaison = Some(liaison.clone()),
        E::LiaisonNoteRecorded { at, contacted, .. } => {
            state.liaison_notes = state.liaison_notes.saturating_add(1);
            if *contacted && state.liaison_contacted_at.is_none() {
                state.liaison_contacted_at = Some(*at);
            }
        }
        E::SupervisionFlagged { .. } => state.supervised = true,
        E::AccountabilityRecorded { .. } => {
            state.accountability_count = state.accountability_count.saturating_add(1);
        }
        E::AppealFiled { unit, .. } => state.pending_appeal = Some(unit.clone()),
        E::AppealDecided { upheld, .. } => {
            state.pending_appeal = None;
            if *upheld {
                state.upheld_appeals = state.upheld_appeals.saturating_add(1);
            }
        }
        E::ClockPaused { at, .. } => state.paused_since = Some(*at),
        E::ClockResumed { at, shifted } => {
            state.end_pause(*at);
            for (milestone, due_at) in shifted {
                if let Some(deadline) = state.deadline_mut(*milestone)
                    && deadline.met_at.is_none()
                {
                    deadline.due_at = *due_at;
                }
            }
        }
        E::DeadlineWarned {
            milestone, due_at, ..
        } => {
            state
                .warned
                .push((*milestone, WarningLevel::Yellow, *due_at));
            if let Some(deadline) = state.deadline_mut(*milestone)
                && deadline.warning.is_none()
            {
                deadline.warning = Some(WarningLevel::Yellow);
            }
        }
        E::DeadlineMissed {
            milestone, due_at, ..
        } => {
            state.warned.push((*milestone, WarningLevel::Red, *due_at));
            if let Some(deadline) = state.deadline_mut(*milestone) {
                deadline.warning = Some(WarningLevel::Red);
            }
        }
        E::LinkedToLedgerItem {
            ledger_id, item_id, ..
        } => {
            let link = (ledger_id.clone(), item_id.clone());
            if !state.ledger_links.contains(&link) {
                state.ledger_links.push(link);
            }
        }
        E::ClassProblemFixed {
            ledger_id, item_id, ..
        } => {
            let link = (ledger_id.clone(), item_id.clone());
            if !state.fixed_links.contains(&link) {
                state.fixed_links.push(link);
            }
        }
        E::PersonalDataErased { .. } => {
            state.personal_data_erased = true;
            if let Some(submission) = &mut state.submission {
                submission.submitter = None;
                submission.sealed_submitter = None;
            }
        }
    }
    state
}
