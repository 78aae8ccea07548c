//! The complaint lifecycle: 接诉 → 转派 → 签收 → 处办 → 办结 → 核查 → 回访 → 销号,
//! with returns (退单), extensions (延期), reopening (重办), chase-ups (催办),
//! supervision (督办, 追责问责), appeals (申诉), a pausable deadline clock and
//! early warnings (预警).
//!
//! Status machine (commands in brackets):
//!
//! ```text
//! (none) ─[submit]→ received ─[classify]→ awaiting_dispatch ─[dispatch]→ dispatched
//! dispatched ─[accept by lead]→ in_progress ─[resolve]→ resolved ─[verify]→ verified
//! verified ─[callback]→ called_back ─[close]→ closed
//! dispatched | in_progress ─[return]→ awaiting_dispatch          (退单, lead unit)
//! resolved ─[reject]→ in_progress                                 (核查 fails)
//! called_back (unsolved or unsatisfied) ─[reopen]→ in_progress   (重办)
//! ```
//!
//! Rules the diagram does not show:
//!
//! - Close is allowed from `called_back` whatever the callback found: the
//!   dispatch centre decides between closing and reopening, and reopening is
//!   only allowed when the problem was unsolved or the submitter unsatisfied.
//! - A rejected verification sends the complaint back to `in_progress` with
//!   the same units and un-meets the resolve milestone.
//! - Steps that change no status: the lead's or a responsible unit's
//!   acceptance after the first, rectification steps, extensions, chase-ups
//!   (from dispatch to callback), supervision flags (any open status),
//!   accountability findings (any status, also after closure), appeals (after
//!   a callback, also after closure), pausing and resuming the clock, deadline
//!   warnings, ledger links and class fixes.
//! - The clock is paused only while `dispatched` or `in_progress`; a return,
//!   a resolution or closure ends a pause. No deadline warning is recorded
//!   while the clock is paused, and each (milestone, level, due time) is
//!   warned at most once; a red verdict survives later extensions.
//! - Permissions: intake by hotline, portal or the dispatch centre; triage,
//!   dispatch, extension decisions, verification, reopening, closure and
//!   ledger links by the dispatch centre (or an administrator); acceptance,
//!   steps and appeals by an assigned unit; return, extension requests and
//!   resolution by the lead unit only; callbacks by the hotline or the
//!   dispatch centre; supervision and accountability by supervisors; deadline
//!   warnings by the system. Supervisors never take handling steps.
//! - Erasing the submitter's personal data (any status, once) is for the
//!   dispatch centre; afterwards the state holds no personal data, and the
//!   rest of the complaint is untouched.

mod codec;
mod decide;
mod state;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use codec::{DecodeError, SCHEMA_VERSION, schema_version};
pub use decide::decide;
pub use state::{Callback, ComplaintState, Deadline, evolve};

use crate::{Actor, AreaCode, ComplaintId, DistrictCode, UnitCode};

// The text limits live with the text rules in `crate::text`; these names
// stay for callers that know them from here.
pub use crate::text::{
    MAX_COMPLAINT_TEXT_CHARS as MAX_TEXT_CHARS, MAX_EVIDENCE_CHARS,
    MAX_EVIDENCE_REFS as MAX_EVIDENCE, MAX_NAME_CHARS, MAX_NOTE_CHARS, MAX_PHONE_CHARS,
    MAX_SHORT_TEXT_CHARS, MAX_TAG_CHARS, MAX_TAGS, MAX_TITLE_CHARS,
};

/// Most responsible units on one dispatch.
pub const MAX_RESPONSIBLE_UNITS: usize = 32;
/// Most ledger links on one complaint.
pub const MAX_LEDGER_LINKS: usize = 64;

/// The name of a complaint's stream in the log.
pub fn stream_name(id: &ComplaintId) -> String {
    format!("complaint-{id}")
}

/// Where a complaint is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintStatus {
    /// 接诉: received, not yet classified.
    Received,
    /// Classified (or returned), waiting for dispatch.
    AwaitingDispatch,
    /// 转派: dispatched, waiting for the lead unit to accept.
    Dispatched,
    /// 处办: accepted by the lead unit, being handled.
    InProgress,
    /// 办结: resolution submitted, waiting for verification.
    Resolved,
    /// 核查: resolution verified, waiting for the callback.
    Verified,
    /// 回访: the submitter was called back.
    CalledBack,
    /// 销号: closed.
    Closed,
}

impl ComplaintStatus {
    /// The snake_case name used in errors and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::AwaitingDispatch => "awaiting_dispatch",
            Self::Dispatched => "dispatched",
            Self::InProgress => "in_progress",
            Self::Resolved => "resolved",
            Self::Verified => "verified",
            Self::CalledBack => "called_back",
            Self::Closed => "closed",
        }
    }
}

/// Where a complaint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The 12345 hotline.
    Hotline12345,
    /// The 蒙速办 app.
    MengSuBanApp,
    /// WeChat.
    WeChat,
    /// The web portal.
    WebPortal,
    /// A QR code at a service station.
    QrCode,
    /// A business-environment experience officer (营商环境体验官).
    ExperienceOfficer,
    /// A supervision inspection.
    SupervisionInspection,
    /// Anything else.
    Other,
}

/// What kind of request it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintKind {
    /// 投诉
    Complaint,
    /// 咨询
    Consultation,
    /// 建议
    Suggestion,
    /// 举报
    Report,
    /// 表扬
    Praise,
}

/// How fast it must be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Emergencies.
    Emergency,
    /// Urgent (utilities).
    Urgent,
    /// Ordinary.
    Normal,
    /// Complex.
    Complex,
}

/// Satisfaction at callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    /// 满意
    Satisfied,
    /// 基本满意
    BasicallySatisfied,
    /// 不满意
    Unsatisfied,
}

/// A deadline of the handling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    /// From receipt to dispatch.
    Dispatch,
    /// From dispatch to the lead unit's acceptance.
    Accept,
    /// From dispatch to first contact with the submitter.
    FirstContact,
    /// From dispatch to the resolution.
    Resolve,
}

/// Early-warning levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningLevel {
    /// Most of the allowed time has passed.
    Yellow,
    /// The deadline was missed.
    Red,
}

/// The submitter's personal data, kept apart so it can be masked and
/// protected as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitter {
    /// Name of the citizen or contact person.
    pub name: String,
    /// Phone number.
    pub phone: String,
    /// Resident ID number, if given.
    pub id_number: Option<String>,
}

/// What intake records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// The complaint's id.
    pub id: ComplaintId,
    /// Where it came from.
    pub channel: Channel,
    /// What kind of request.
    pub kind: ComplaintKind,
    /// Personal data of the submitter: required at intake; `None` in an
    /// event read back while it is sealed (see `sealed_submitter`) or after
    /// it was erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitter: Option<Submitter>,
    /// The submitter's personal data as stored at rest: an opaque token
    /// (ciphertext) that the service seals and opens with the complaint's
    /// data key. The domain never reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_submitter: Option<String>,
    /// The enterprise concerned.
    pub enterprise: Option<String>,
    /// Where it is located.
    pub district: Option<DistrictCode>,
    /// Free-form location.
    pub location: Option<String>,
    /// Title.
    pub title: String,
    /// Full text.
    pub text: String,
    /// The originating system's reference (hotline ticket number).
    pub external_ref: Option<String>,
    /// The grassroots station whose QR code it came through (QR-code
    /// channel only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station: Option<crate::StationCode>,
    /// The experience officer (营商环境体验官) who reported it, by id
    /// (experience-officer channel only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
    /// When it must be dispatched (computed by the caller from the policy).
    pub dispatch_due_at: DateTime<Utc>,
}

/// The liaison cadre (包联干部) of the enterprise a complaint concerns, as
/// the dispatch centre found it in the registry at dispatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiaisonRef {
    /// The enterprise's unified social credit code.
    pub credit_code: String,
    /// The enterprise's registered name.
    pub enterprise: String,
    /// The cadre's principal.
    pub cadre: String,
    /// City or banner level.
    pub level: crate::registry::LiaisonLevel,
}

/// A command: who, when, what.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Who takes the step.
    pub actor: Actor,
    /// When (from the service's clock).
    pub at: DateTime<Utc>,
    /// The step.
    pub kind: CommandKind,
}

/// The steps of the lifecycle.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandKind {
    /// 接诉.
    Submit(Submission),
    /// Triage.
    Classify {
        /// Task area.
        area: AreaCode,
        /// Task number within the area.
        task: Option<u32>,
        /// District (keeps the intake district when `None`).
        district: Option<DistrictCode>,
        /// Tags.
        tags: Vec<String>,
        /// Urgency.
        urgency: Urgency,
    },
    /// 转派 (also re-dispatch after a return).
    Dispatch {
        /// The lead unit.
        lead: UnitCode,
        /// Responsible units.
        responsible: Vec<UnitCode>,
        /// The routing rule that chose them, or `override`.
        rule_id: String,
        /// Why the dispatcher overrode the routing, if they did.
        override_reason: Option<String>,
        /// Acceptance due time.
        accept_due_at: DateTime<Utc>,
        /// First-contact due time.
        first_contact_due_at: DateTime<Utc>,
        /// Resolution due time.
        resolve_due_at: DateTime<Utc>,
        /// The enterprise's liaison cadre, when the enterprise is paired:
        /// recorded with the dispatch (`LiaisonAssigned`) unless the same
        /// cadre already is.
        liaison: Option<LiaisonRef>,
    },
    /// 签收 by the acting unit.
    Accept,
    /// 退单 by the lead unit.
    Return {
        /// Why it is misrouted.
        reason: String,
    },
    /// 处办.
    RecordStep {
        /// What was done.
        description: String,
        /// Evidence references.
        evidence: Vec<String>,
        /// Whether this step contacted the submitter.
        contacted_submitter: bool,
    },
    /// 延期 request by the lead unit.
    RequestExtension {
        /// Why.
        reason: String,
        /// The resolve due time asked for.
        requested_due_at: DateTime<Utc>,
    },
    /// Grant of the pending extension.
    GrantExtension {
        /// A different due time than requested.
        due_at: Option<DateTime<Utc>>,
        /// Note.
        note: Option<String>,
    },
    /// Denial of the pending extension.
    DenyExtension {
        /// Why.
        reason: String,
    },
    /// 办结 by the lead unit.
    SubmitResolution {
        /// What was done and the outcome.
        result: String,
        /// Evidence references.
        evidence: Vec<String>,
    },
    /// 核查 passed.
    VerifyResolution {
        /// Note.
        note: Option<String>,
    },
    /// 核查 failed.
    RejectResolution {
        /// Why.
        reason: String,
    },
    /// 回访.
    RecordCallback {
        /// Counts as a valid callback.
        valid: bool,
        /// The submitter was reached.
        contacted: bool,
        /// The problem was solved.
        solved: bool,
        /// Satisfaction (required when contacted).
        satisfaction: Option<Satisfaction>,
        /// Comment.
        comment: Option<String>,
    },
    /// 重办.
    Reopen {
        /// Why.
        reason: String,
        /// The new resolve due time.
        resolve_due_at: DateTime<Utc>,
    },
    /// 销号.
    Close {
        /// Note.
        note: Option<String>,
    },
    /// 催办.
    ChaseUp {
        /// Note.
        note: String,
    },
    /// A note of the complaint's liaison cadre: what they did to push it,
    /// and whether they reached the enterprise.
    RecordLiaisonNote {
        /// What the cadre did.
        note: String,
        /// The cadre contacted the enterprise.
        contacted: bool,
    },
    /// 督办.
    FlagSupervision {
        /// Note.
        note: String,
    },
    /// 追责问责.
    RecordAccountability {
        /// The finding.
        finding: String,
        /// Units held accountable.
        units: Vec<UnitCode>,
    },
    /// 申诉 by an assigned unit.
    FileAppeal {
        /// Why.
        reason: String,
    },
    /// Decision on the pending appeal.
    DecideAppeal {
        /// The appeal is upheld.
        upheld: bool,
        /// Note.
        note: Option<String>,
    },
    /// Stop the deadline clock.
    PauseClock {
        /// What the handling waits for.
        reason: String,
    },
    /// Restart the deadline clock with the shifted due times of the open
    /// milestones (computed by the caller from the paused working time).
    ResumeClock {
        /// New due times.
        shifted: Vec<(Milestone, DateTime<Utc>)>,
    },
    /// 预警 by the deadline watcher.
    WarnDeadline {
        /// Which deadline.
        milestone: Milestone,
        /// Yellow (before) or red (missed).
        level: WarningLevel,
        /// The due time the warning refers to.
        due_at: DateTime<Utc>,
    },
    /// Link to a rectification ledger item.
    LinkToLedgerItem {
        /// Ledger id.
        ledger_id: String,
        /// Item id.
        item_id: String,
    },
    /// The linked item's class problem was fixed.
    RecordClassProblemFixed {
        /// Ledger id.
        ledger_id: String,
        /// Item id.
        item_id: String,
    },
    /// Erase the submitter's personal data (a PIPL deletion request): the
    /// service destroys the complaint's data key with this event.
    ErasePersonalData {
        /// Why, e.g. the request's reference.
        reason: String,
    },
}

impl CommandKind {
    /// The step's name, as errors spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Submit(_) => "submit",
            Self::Classify { .. } => "classify",
            Self::Dispatch { .. } => "dispatch",
            Self::Accept => "accept",
            Self::Return { .. } => "return",
            Self::RecordStep { .. } => "record a step on",
            Self::RequestExtension { .. } => "request an extension on",
            Self::GrantExtension { .. } => "grant an extension on",
            Self::DenyExtension { .. } => "deny an extension on",
            Self::SubmitResolution { .. } => "resolve",
            Self::VerifyResolution { .. } => "verify",
            Self::RejectResolution { .. } => "reject the resolution of",
            Self::RecordCallback { .. } => "record a callback on",
            Self::Reopen { .. } => "reopen",
            Self::Close { .. } => "close",
            Self::ChaseUp { .. } => "chase up",
            Self::RecordLiaisonNote { .. } => "record a liaison note on",
            Self::FlagSupervision { .. } => "flag for supervision",
            Self::RecordAccountability { .. } => "record accountability on",
            Self::FileAppeal { .. } => "appeal",
            Self::DecideAppeal { .. } => "decide an appeal on",
            Self::PauseClock { .. } => "pause the clock of",
            Self::ResumeClock { .. } => "resume the clock of",
            Self::WarnDeadline { .. } => "warn about a deadline of",
            Self::LinkToLedgerItem { .. } => "link",
            Self::RecordClassProblemFixed { .. } => "record the class fix on",
            Self::ErasePersonalData { .. } => "erase the personal data of",
        }
    }
}

/// What happened to a complaint. Every event carries the instant it
/// happened; the principal is in the event metadata.
///
/// Serialized externally tagged (`{"ComplaintReceived": {...}}`); the log
/// stores the inner object as the payload and the tag as the event type
/// (see `codec`), so reading one is a single pass of serde, with no
/// buffering to find an internal tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ComplaintEvent {
    /// 接诉.
    ComplaintReceived {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// What was submitted.
        submission: Submission,
    },
    /// Triage.
    ComplaintClassified {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Task area.
        area: AreaCode,
        /// Task number.
        task: Option<u32>,
        /// District.
        district: Option<DistrictCode>,
        /// Tags.
        tags: Vec<String>,
        /// Urgency.
        urgency: Urgency,
    },
    /// 转派.
    ComplaintDispatched {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// The lead unit.
        lead: UnitCode,
        /// Responsible units.
        responsible: Vec<UnitCode>,
        /// The routing rule, or `override`.
        rule_id: String,
        /// Why the routing was overridden.
        override_reason: Option<String>,
        /// Acceptance due.
        #[serde(deserialize_with = "codec::instant")]
        accept_due_at: DateTime<Utc>,
        /// First contact due.
        #[serde(deserialize_with = "codec::instant")]
        first_contact_due_at: DateTime<Utc>,
        /// Resolution due.
        #[serde(deserialize_with = "codec::instant")]
        resolve_due_at: DateTime<Utc>,
    },
    /// 签收.
    AssignmentAccepted {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// The unit that accepted.
        unit: UnitCode,
    },
    /// 退单.
    AssignmentReturned {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// The returning unit.
        unit: UnitCode,
        /// Why.
        reason: String,
    },
    /// 处办.
    RectificationStepRecorded {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// The unit.
        unit: UnitCode,
        /// What was done.
        description: String,
        /// Evidence references.
        evidence: Vec<String>,
        /// Whether the submitter was contacted.
        contacted_submitter: bool,
    },
    /// 延期 requested.
    ExtensionRequested {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// The unit.
        unit: UnitCode,
        /// Why.
        reason: String,
        /// Requested resolve due.
        #[serde(deserialize_with = "codec::instant")]
        requested_due_at: DateTime<Utc>,
    },
    /// 延期 granted.
    ExtensionGranted {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// The new resolve due.
        #[serde(deserialize_with = "codec::instant")]
        due_at: DateTime<Utc>,
        /// Note.
        note: Option<String>,
    },
    /// 延期 denied.
    ExtensionDenied {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Why.
        reason: String,
    },
    /// 办结.
    ResolutionSubmitted {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// The lead unit.
        unit: UnitCode,
        /// Outcome.
        result: String,
        /// Evidence references.
        evidence: Vec<String>,
    },
    /// 核查 passed.
    ResolutionVerified {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Note.
        note: Option<String>,
    },
    /// 核查 failed.
    ResolutionRejected {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Why.
        reason: String,
    },
    /// 回访.
    CallbackRecorded {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Counts as a valid callback.
        valid: bool,
        /// The submitter was reached.
        contacted: bool,
        /// The problem was solved.
        solved: bool,
        /// Satisfaction.
        satisfaction: Option<Satisfaction>,
        /// Comment.
        comment: Option<String>,
    },
    /// 重办.
    ComplaintReopened {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Why.
        reason: String,
        /// New resolve due.
        #[serde(deserialize_with = "codec::instant")]
        resolve_due_at: DateTime<Utc>,
    },
    /// 销号.
    ComplaintClosed {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Note.
        note: Option<String>,
    },
    /// 催办.
    ChasedUp {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Note.
        note: String,
    },
    /// 督办.
    SupervisionFlagged {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Note.
        note: String,
    },
    /// 追责问责.
    AccountabilityRecorded {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Finding.
        finding: String,
        /// Units held accountable.
        units: Vec<UnitCode>,
    },
    /// 申诉 filed.
    AppealFiled {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// The unit.
        unit: UnitCode,
        /// Why.
        reason: String,
    },
    /// 申诉 decided.
    AppealDecided {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// The unit that appealed.
        unit: UnitCode,
        /// Upheld.
        upheld: bool,
        /// Note.
        note: Option<String>,
    },
    /// The deadline clock stopped.
    ClockPaused {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// What the handling waits for.
        reason: String,
    },
    /// The deadline clock restarted.
    ClockResumed {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// New due times of the open milestones.
        shifted: Vec<(Milestone, DateTime<Utc>)>,
    },
    /// 预警 yellow.
    DeadlineWarned {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Which deadline.
        milestone: Milestone,
        /// The due time it refers to.
        #[serde(deserialize_with = "codec::instant")]
        due_at: DateTime<Utc>,
    },
    /// 预警 red: the deadline was missed.
    DeadlineMissed {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Which deadline.
        milestone: Milestone,
        /// The due time that was missed.
        #[serde(deserialize_with = "codec::instant")]
        due_at: DateTime<Utc>,
    },
    /// Linked to a ledger item.
    LinkedToLedgerItem {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Ledger id.
        ledger_id: String,
        /// Item id.
        item_id: String,
    },
    /// The linked item's class problem was fixed.
    ClassProblemFixed {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Ledger id.
        ledger_id: String,
        /// Item id.
        item_id: String,
    },
    /// The submitter's personal data was erased: its data key is destroyed,
    /// so the sealed copy in `ComplaintReceived` can never be opened again.
    PersonalDataErased {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// Why.
        reason: String,
    },
    /// 包联: the enterprise's liaison cadre was told of the complaint at
    /// dispatch.
    LiaisonAssigned {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// The pairing found in the registry.
        liaison: LiaisonRef,
    },
    /// The liaison cadre recorded what they did.
    LiaisonNoteRecorded {
        /// When.
        #[serde(deserialize_with = "codec::instant")]
        at: DateTime<Utc>,
        /// The cadre.
        cadre: String,
        /// What they did.
        note: String,
        /// They reached the enterprise.
        contacted: bool,
    },
}
