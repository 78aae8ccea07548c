//! The deadline policy: how long each handling milestone may take, by
//! urgency, with per-area overrides (see `seeds/deadlines.toml` for the
//! defaults and their sources).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::{Calendar, CatalogError, calendar::WORKING_MINUTES_PER_DAY};

/// How fast a complaint must be handled; selects the policy row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Urgency {
    /// Emergencies.
    Emergency,
    /// Urgent (utilities).
    Urgent,
    /// Ordinary cases.
    Normal,
    /// Complex cases.
    Complex,
}

impl Urgency {
    /// The key used in `deadlines.toml`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Emergency => "emergency",
            Self::Urgent => "urgent",
            Self::Normal => "normal",
            Self::Complex => "complex",
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
        Self::WorkingMinutes(days * WORKING_MINUTES_PER_DAY)
    }
}

/// Allowed times of the handling milestones after dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MilestoneSpans {
    /// Dispatch → the lead unit accepts.
    pub accept: Span,
    /// Dispatch → first contact with the submitter.
    pub first_contact: Span,
    /// Dispatch → resolution.
    pub resolve: Span,
}

/// Optional per-area replacements of some spans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanOverrides {
    /// Replaces `accept`.
    pub accept: Option<Span>,
    /// Replaces `first_contact`.
    pub first_contact: Option<Span>,
    /// Replaces `resolve`.
    pub resolve: Option<Span>,
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

/// The whole policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlinePolicy {
    pub(crate) yellow_percent: u32,
    pub(crate) dispatch: Span,
    pub(crate) by_urgency: BTreeMap<Urgency, MilestoneSpans>,
    pub(crate) by_area: BTreeMap<String, SpanOverrides>,
}

impl DeadlinePolicy {
    /// Share of the allowed time after which the yellow warning is due.
    pub fn yellow_percent(&self) -> u32 {
        self.yellow_percent
    }

    /// The spans for an urgency, with the area's overrides applied.
    pub fn spans(
        &self,
        urgency: Urgency,
        area: Option<&str>,
    ) -> Result<MilestoneSpans, CatalogError> {
        let mut spans = *self.by_urgency.get(&urgency).ok_or_else(|| {
            CatalogError::Policy(format!("no policy for urgency {}", urgency.key()))
        })?;
        if let Some(overrides) = area.and_then(|a| self.by_area.get(a)) {
            spans.accept = overrides.accept.unwrap_or(spans.accept);
            spans.first_contact = overrides.first_contact.unwrap_or(spans.first_contact);
            spans.resolve = overrides.resolve.unwrap_or(spans.resolve);
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
        let spans = self.spans(urgency, area)?;
        Ok(DueTimes {
            accept: spans.accept.after(start, calendar)?,
            first_contact: spans.first_contact.after(start, calendar)?,
            resolve: spans.resolve.after(start, calendar)?,
        })
    }

    /// When a complaint received at `received_at` must be dispatched.
    pub fn dispatch_due(
        &self,
        received_at: DateTime<Utc>,
        calendar: &Calendar,
    ) -> Result<DateTime<Utc>, CatalogError> {
        self.dispatch.after(received_at, calendar)
    }

    /// When the yellow warning of a deadline running from `start` to `due`
    /// is due: `yellow_percent` of the allowed wall time.
    pub fn yellow_at(&self, start: DateTime<Utc>, due: DateTime<Utc>) -> DateTime<Utc> {
        let allowed_ms = (due - start).num_milliseconds().max(0);
        start + Duration::milliseconds(allowed_ms * i64::from(self.yellow_percent) / 100)
    }
}
