//! The deadline policy: how long each handling milestone may take, by
//! urgency and kind, with per-area overrides, and when to warn and escalate
//! (see `seeds/deadlines.toml` for the defaults and their sources).
//!
//! Every span is either calendar minutes (the clock runs day and night, for
//! emergencies and utility outages) or working minutes on the [`Calendar`]
//! (office hours of working days). Nothing here is a float.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::{Calendar, CatalogError, calendar::WORKING_MINUTES_PER_DAY};

/// How fast a complaint must be handled; selects the policy row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Urgency {
    /// Danger to life, health or property: hours, around the clock.
    Emergency,
    /// Water, power, gas or heating outages: 24 hours, around the clock.
    Urgent,
    /// Ordinary cases: working days.
    Normal,
    /// Complex cases: more working days.
    Complex,
}

impl Urgency {
    /// Every urgency, most urgent first.
    pub const ALL: [Self; 4] = [Self::Emergency, Self::Urgent, Self::Normal, Self::Complex];

    /// The key used in `deadlines.toml`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Emergency => "emergency",
            Self::Urgent => "urgent",
            Self::Normal => "normal",
            Self::Complex => "complex",
        }
    }

    /// The same as [`Urgency::key`].
    pub fn as_str(self) -> &'static str {
        self.key()
    }
}

/// What a submission asks for, where the policy distinguishes it: a
/// consultation (咨询) is answered sooner than a complaint is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RequestKind {
    /// A question to be answered.
    Consultation,
    /// A complaint, report or request for help.
    Complaint,
}

impl RequestKind {
    /// The key used in `deadlines.toml`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Consultation => "consultation",
            Self::Complaint => "complaint",
        }
    }
}

/// A span of allowed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Calendar minutes: the clock runs day and night.
    Minutes(u32),
    /// Working minutes on the working-day calendar.
    WorkingMinutes(u32),
}

impl Span {
    /// `start` plus this span.
    pub fn after(
        self,
        start: DateTime<Utc>,
        calendar: &Calendar,
    ) -> Result<DateTime<Utc>, CatalogError> {
        match self {
            Self::Minutes(minutes) => Ok(start + Duration::minutes(i64::from(minutes))),
            Self::WorkingMinutes(minutes) => Ok(calendar.add_working_minutes(start, minutes)?),
        }
    }

    /// A span of whole working days.
    pub fn working_days(days: u32) -> Self {
        Self::WorkingMinutes(days.saturating_mul(WORKING_MINUTES_PER_DAY))
    }
}

/// Allowed times of the handling milestones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MilestoneSpans {
    /// Receipt → dispatch to a unit.
    pub dispatch: Span,
    /// Dispatch → the lead unit accepts.
    pub accept: Span,
    /// Dispatch → first contact with the submitter.
    pub first_contact: Span,
    /// Dispatch → resolution.
    pub resolve: Span,
}

/// Optional replacements of some spans (per area and urgency, or per kind).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanOverrides {
    /// Replaces `accept`.
    pub accept: Option<Span>,
    /// Replaces `first_contact`.
    pub first_contact: Option<Span>,
    /// Replaces `resolve`.
    pub resolve: Option<Span>,
}

impl SpanOverrides {
    fn apply(&self, spans: &mut MilestoneSpans) {
        spans.accept = self.accept.unwrap_or(spans.accept);
        spans.first_contact = self.first_contact.unwrap_or(spans.first_contact);
        spans.resolve = self.resolve.unwrap_or(spans.resolve);
    }
}

/// Due times of the handling milestones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTimes {
    /// When the lead unit must have accepted.
    pub accept: DateTime<Utc>,
    /// When the submitter must have been contacted.
    pub first_contact: DateTime<Utc>,
    /// When the resolution is due.
    pub resolve: DateTime<Utc>,
}

/// The whole policy, as checked from `deadlines.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlinePolicy {
    /// Share of the allowed time (percent, 1..=99) after which the yellow
    /// warning is due, for deadlines too short for `warn_before`.
    pub(crate) yellow_percent: u32,
    /// Calendar time before a due time at which a long deadline warns (48 h).
    pub(crate) warn_before: Duration,
    /// Calendar time before a due time at which a long deadline escalates (24 h).
    pub(crate) escalate_before: Duration,
    /// Closure → the return visit (回访) is due.
    pub(crate) callback: Span,
    /// Receipt → dispatch when the urgency is not known yet.
    pub(crate) dispatch: Span,
    /// The spans of each urgency; every urgency has a row.
    pub(crate) by_urgency: BTreeMap<Urgency, MilestoneSpans>,
    /// Replacements by request kind and urgency, applied after the urgency row.
    pub(crate) by_kind: BTreeMap<(RequestKind, Urgency), SpanOverrides>,
    /// Replacements by area code and urgency, applied after the kind's.
    pub(crate) by_area: BTreeMap<(String, Urgency), SpanOverrides>,
    /// A channel's own response rules (the experience officers'), by
    /// channel code and urgency, applied last: they bind whatever the area.
    pub(crate) by_channel: BTreeMap<(String, Urgency), SpanOverrides>,
}

/// The intake channels' codes, as complaints record them; a channel's
/// response rules (`[channel.<code>.<urgency>]`) must name one.
pub const CHANNELS: [&str; 8] = [
    "hotline12345",
    "meng_su_ban_app",
    "we_chat",
    "web_portal",
    "qr_code",
    "experience_officer",
    "supervision_inspection",
    "other",
];

impl DeadlinePolicy {
    /// Share of the allowed time (percent) after which a short deadline
    /// turns yellow.
    pub fn yellow_percent(&self) -> u32 {
        self.yellow_percent
    }

    /// How long before a long deadline the yellow warning is due.
    pub fn warn_before(&self) -> Duration {
        self.warn_before
    }

    /// How long before a long deadline it is escalated (red).
    pub fn escalate_before(&self) -> Duration {
        self.escalate_before
    }

    /// The spans for an urgency, with the area's overrides for that urgency
    /// applied.
    pub fn spans(
        &self,
        urgency: Urgency,
        area: Option<&str>,
    ) -> Result<MilestoneSpans, CatalogError> {
        self.spans_for(urgency, None, area)
    }

    /// The spans for an urgency, then the kind's overrides for that urgency,
    /// then the area's overrides for that urgency.
    pub fn spans_for(
        &self,
        urgency: Urgency,
        kind: Option<RequestKind>,
        area: Option<&str>,
    ) -> Result<MilestoneSpans, CatalogError> {
        let mut spans = *self.by_urgency.get(&urgency).ok_or_else(|| {
            CatalogError::Policy(format!("no policy for urgency {}", urgency.key()))
        })?;
        if let Some(overrides) = kind.and_then(|k| self.by_kind.get(&(k, urgency))) {
            overrides.apply(&mut spans);
        }
        if let Some(area) = area
            && let Some(overrides) = self.by_area.get(&(area.to_owned(), urgency))
        {
            overrides.apply(&mut spans);
        }
        Ok(spans)
    }

    /// Due times of the handling milestones for a dispatch at `start`.
    pub fn due_times(
        &self,
        urgency: Urgency,
        area: Option<&str>,
        start: DateTime<Utc>,
        calendar: &Calendar,
    ) -> Result<DueTimes, CatalogError> {
        self.due_times_for(urgency, None, area, start, calendar)
    }

    /// Due times as [`DeadlinePolicy::due_times`], with the request kind's
    /// overrides (a consultation is answered in 3 working days).
    pub fn due_times_for(
        &self,
        urgency: Urgency,
        kind: Option<RequestKind>,
        area: Option<&str>,
        start: DateTime<Utc>,
        calendar: &Calendar,
    ) -> Result<DueTimes, CatalogError> {
        let spans = self.spans_for(urgency, kind, area)?;
        Ok(DueTimes {
            accept: spans.accept.after(start, calendar)?,
            first_contact: spans.first_contact.after(start, calendar)?,
            resolve: spans.resolve.after(start, calendar)?,
        })
    }

    /// Due times as [`DeadlinePolicy::due_times_for`], then the intake
    /// channel's own response rules for that urgency, when it has any (the
    /// experience officers' 反馈问题响应规则).
    pub fn due_times_on_channel(
        &self,
        urgency: Urgency,
        kind: Option<RequestKind>,
        channel: &str,
        area: Option<&str>,
        start: DateTime<Utc>,
        calendar: &Calendar,
    ) -> Result<DueTimes, CatalogError> {
        let mut spans = self.spans_for(urgency, kind, area)?;
        if let Some(rules) = self.by_channel.get(&(channel.to_owned(), urgency)) {
            rules.apply(&mut spans);
        }
        Ok(DueTimes {
            accept: spans.accept.after(start, calendar)?,
            first_contact: spans.first_contact.after(start, calendar)?,
            resolve: spans.resolve.after(start, calendar)?,
        })
    }

    /// Whether `channel` has response rules of its own for `urgency`.
    pub fn channel_has_rules(&self, channel: &str, urgency: Urgency) -> bool {
        self.by_channel.contains_key(&(channel.to_owned(), urgency))
    }

    /// When a complaint received at `received_at`, urgency not yet known,
    /// must be dispatched (the policy's default `dispatch`).
    pub fn dispatch_due(
        &self,
        received_at: DateTime<Utc>,
        calendar: &Calendar,
    ) -> Result<DateTime<Utc>, CatalogError> {
        self.dispatch.after(received_at, calendar)
    }

    /// When a complaint of `urgency` received at `received_at` must be
    /// dispatched (an emergency is dispatched within minutes, day or night).
    pub fn dispatch_due_for(
        &self,
        urgency: Urgency,
        received_at: DateTime<Utc>,
        calendar: &Calendar,
    ) -> Result<DateTime<Utc>, CatalogError> {
        self.spans_for(urgency, None, None)?
            .dispatch
            .after(received_at, calendar)
    }

    /// When the yellow warning of a deadline running from `start` to `due` is
    /// due: `warn_before` (48 h) ahead of `due` when the deadline is long
    /// enough for that to come before the `yellow_percent` mark, otherwise at
    /// `yellow_percent` of the allowed wall time.
    pub fn yellow_at(&self, start: DateTime<Utc>, due: DateTime<Utc>) -> DateTime<Utc> {
        let allowed_ms = (due - start).num_milliseconds().max(0);
        let share =
            start + Duration::milliseconds(allowed_ms * i64::from(self.yellow_percent) / 100);
        let ahead = due - self.warn_before;
        if ahead > start {
            ahead.min(share)
        } else {
            share
        }
    }

    /// [`Policy::yellow_at`] on instants as nanoseconds since the epoch, as
    /// the ledger's rows keep them (its watcher asks for every open
    /// deadline, and converting each to a calendar date and back would cost
    /// more than the rule). The same arithmetic: whole milliseconds of
    /// allowed time, saturating at the ends of the range.
    pub fn yellow_at_nanos(&self, start: i64, due: i64) -> i64 {
        const NANOS_PER_MS: i64 = 1_000_000;
        let allowed_ms = due.saturating_sub(start).max(0) / NANOS_PER_MS;
        let share = start.saturating_add(
            allowed_ms.saturating_mul(i64::from(self.yellow_percent)) / 100 * NANOS_PER_MS,
        );
        let warn_before = self.warn_before.num_nanoseconds().unwrap_or(i64::MAX);
        let ahead = due.saturating_sub(warn_before);
        if ahead > start {
            ahead.min(share)
        } else {
            share
        }
    }

    /// When a deadline running from `start` to `due` is escalated (red):
    /// `escalate_before` (24 h) ahead of `due` when that comes after the
    /// yellow warning, otherwise at `due` itself.
    pub fn escalate_at(&self, start: DateTime<Utc>, due: DateTime<Utc>) -> DateTime<Utc> {
        let ahead = due - self.escalate_before;
        if ahead > self.yellow_at(start, due) {
            ahead
        } else {
            due
        }
    }

    /// When the return visit (回访) of a complaint closed at `closed_at` is
    /// due: the working day after closure.
    pub fn callback_due(
        &self,
        closed_at: DateTime<Utc>,
        calendar: &Calendar,
    ) -> Result<DateTime<Utc>, CatalogError> {
        self.callback.after(closed_at, calendar)
    }
}
