//! The working-day calendar: official holidays, adjusted working days (调休)
//! and office hours, in Asia/Shanghai time.
//!
//! China has observed no daylight saving time since 1991, so Asia/Shanghai is
//! the fixed offset UTC+8. Office hours are 09:00–12:00 and 13:30–17:30: a
//! working day has [`WORKING_MINUTES_PER_DAY`] (420) working minutes, and half
//! a working day is 210 of them. Durations are integer minutes, never floats.
//!
//! A working day is a Monday–Friday that is not a holiday, or a weekend day
//! listed as an adjusted working day. A date in a year the table does not
//! cover is an error ([`CalendarError::YearNotCovered`]), never a guess.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{
    DateTime, Datelike as _, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone as _,
    Timelike as _, Utc, Weekday,
};

/// Working minutes in one working day (09:00–12:00 and 13:30–17:30).
pub const WORKING_MINUTES_PER_DAY: u32 = 420;
/// The office-hour segments of a working day, as (start, end) minutes after midnight.
const SEGMENTS: [(u32, u32); 2] = [(9 * 60, 12 * 60), (13 * 60 + 30, 17 * 60 + 30)];
/// Longest span any calculation may walk, in days (a bound on every loop).
const MAX_SPAN_DAYS: i64 = 4_000;

/// Why a calendar calculation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The holiday table has no entry for this year.
    #[error(
        "the working-day calendar does not cover {0}; add the year's holiday notice to seeds/holidays.toml"
    )]
    YearNotCovered(i32),
    /// The calculation would run further than the calendar is meant for.
    #[error("span too long for the working-day calendar")]
    SpanTooLong,
}

fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The calendar: which dates are working days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    years: BTreeSet<i32>,
    off: BTreeSet<NaiveDate>,
    worked_weekends: BTreeSet<NaiveDate>,
    names: BTreeMap<NaiveDate, String>,
}

impl Calendar {
    /// A calendar covering `years`, with holidays and worked weekend days.
    pub fn new(
        years: impl IntoIterator<Item = i32>,
        off: impl IntoIterator<Item = (NaiveDate, String)>,
        worked_weekends: impl IntoIterator<Item = NaiveDate>,
    ) -> Self {
        let mut names = BTreeMap::new();
        let mut off_days = BTreeSet::new();
        for (date, name) in off {
            off_days.insert(date);
            names.insert(date, name);
        }
        Self {
            years: years.into_iter().collect(),
            off: off_days,
            worked_weekends: worked_weekends.into_iter().collect(),
            names,
        }
    }

    /// The years the table covers.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.iter().copied()
    }

    /// The holiday a date belongs to, if it is one.
    pub fn holiday_name(&self, date: NaiveDate) -> Option<&str> {
        self.names.get(&date).map(String::as_str)
    }

    /// Whether `date` is a working day.
    pub fn is_working_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        if !self.years.contains(&date.year()) {
            return Err(CalendarError::YearNotCovered(date.year()));
        }
        if self.off.contains(&date) {
            return Ok(false);
        }
        if self.worked_weekends.contains(&date) {
            return Ok(true);
        }
        Ok(!matches!(date.weekday(), Weekday::Sat | Weekday::Sun))
    }

    fn instant(date: NaiveDate, minute: u32) -> DateTime<Utc> {
        let time = NaiveTime::from_hms_opt(minute / 60, minute % 60, 0).expect("minute of a day");
        shanghai()
            .from_local_datetime(&date.and_time(time))
            .single()
            .expect("a fixed offset has no gaps")
            .with_timezone(&Utc)
    }

    fn local(at: DateTime<Utc>) -> (NaiveDate, u32, bool) {
        let local = at.with_timezone(&shanghai());
        let minute = local.hour() * 60 + local.minute();
        let exact = local.second() == 0 && local.nanosecond() == 0;
        (local.date_naive(), minute, exact)
    }

    /// `at` plus `minutes` working minutes. An instant outside office hours
    /// starts counting at the next opening; the result is always inside (or
    /// at the end of) an office-hour segment of a working day.
    pub fn add_working_minutes(
        &self,
        at: DateTime<Utc>,
        minutes: u32,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let (mut date, minute, exact) = Self::local(at);
        // Seconds inside a minute round up, so a deadline is never early.
        let mut cursor = if exact { minute } else { minute + 1 };
        let mut left = minutes;
        for _ in 0..MAX_SPAN_DAYS {
            if self.is_working_day(date)? {
                for (start, end) in SEGMENTS {
                    let from = cursor.max(start);
                    if from >= end {
                        continue;
                    }
                    let available = end - from;
                    if left <= available {
                        return Ok(Self::instant(date, from + left));
                    }
                    left -= available;
                    cursor = end;
                }
            }
            date = date.succ_opt().ok_or(CalendarError::SpanTooLong)?;
            cursor = 0;
        }
        Err(CalendarError::SpanTooLong)
    }

    /// `at` plus `days` working days.
    pub fn add_working_days(
        &self,
        at: DateTime<Utc>,
        days: u32,
    ) -> Result<DateTime<Utc>, CalendarError> {
        self.add_working_minutes(at, days.saturating_mul(WORKING_MINUTES_PER_DAY))
    }

    /// Working minutes between `from` and `to` (0 when `to` is not later).
    pub fn working_minutes_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<u32, CalendarError> {
        if to <= from {
            return Ok(0);
        }
        if to - from > Duration::days(MAX_SPAN_DAYS) {
            return Err(CalendarError::SpanTooLong);
        }
        let (mut date, from_minute, from_exact) = Self::local(from);
        let (to_date, to_minute, _) = Self::local(to);
        let mut cursor = if from_exact {
            from_minute
        } else {
            from_minute + 1
        };
        let mut total = 0u32;
        loop {
            let last = date == to_date;
            if self.is_working_day(date)? {
                let stop = if last { to_minute } else { 24 * 60 };
                for (start, end) in SEGMENTS {
                    let a = cursor.max(start);
                    let b = stop.min(end);
                    if b > a {
                        total += b - a;
                    }
                }
            }
            if last {
                return Ok(total);
            }
            date = date.succ_opt().ok_or(CalendarError::SpanTooLong)?;
            cursor = 0;
        }
    }

    /// Whole working days between `from` and `to`, rounded down.
    pub fn working_days_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<u32, CalendarError> {
        Ok(self.working_minutes_between(from, to)? / WORKING_MINUTES_PER_DAY)
    }

    /// Whether `at` lies within office hours of a working day (segment ends
    /// included).
    pub fn is_office_time(&self, at: DateTime<Utc>) -> Result<bool, CalendarError> {
        let (date, minute, exact) = Self::local(at);
        if !self.is_working_day(date)? {
            return Ok(false);
        }
        Ok(SEGMENTS
            .iter()
            .any(|&(start, end)| minute >= start && (minute < end || (minute == end && exact))))
    }
}
