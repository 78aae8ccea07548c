//! Counts of the ledger grouped by dimensions (状态、预警、渠道、领域、
//! 区县、牵头单位、受理日、受理月), in one pass over the matching rows: the
//! tallies and charts of a dashboard, without paging through rows.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rectify_domain::complaint::{Channel, ComplaintStatus, WarningLevel};

use crate::{LedgerFilter, LedgerRow, LedgerView, ProjectionError, Scope};

/// Most dimensions in one count.
pub const MAX_DIMENSIONS: usize = 8;
/// China Standard Time, in which days and months are counted.
const CHINA_OFFSET_SECS: i32 = 8 * 3600;

/// What rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// The complaint's status.
    Status,
    /// The highest current warning.
    Warning,
    /// The intake channel.
    Channel,
    /// The task area.
    Area,
    /// The district.
    District,
    /// The lead unit of the current assignment.
    LeadUnit,
    /// The day received, China Standard Time.
    ReceivedDay,
    /// The month received, China Standard Time.
    ReceivedMonth,
}

/// The group a row falls in along one dimension.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// A status.
    Status(ComplaintStatus),
    /// A warning level; `None` = no warning.
    Warning(Option<WarningLevel>),
    /// A channel.
    Channel(Channel),
    /// An area, district or unit code; `None` = not set.
    Code(Option<crate::Code>),
    /// A day.
    Day(NaiveDate),
    /// A month: year and month number.
    Month(i32, u32),
}

impl Dimension {
    /// The key of `row` along this dimension.
    pub fn key(self, row: &LedgerRow) -> Key {
        let china = || {
            row.received_at
                .to_datetime()
                .with_timezone(&FixedOffset::east_opt(CHINA_OFFSET_SECS).expect("UTC+8 is valid"))
        };
        match self {
            Dimension::Status => Key::Status(row.status),
            Dimension::Warning => Key::Warning(row.warning_level()),
            Dimension::Channel => Key::Channel(row.channel),
            Dimension::Area => Key::Code(row.area),
            Dimension::District => Key::Code(row.district),
            Dimension::LeadUnit => Key::Code(row.lead),
            Dimension::ReceivedDay => Key::Day(china().date_naive()),
            Dimension::ReceivedMonth => {
                use chrono::Datelike as _;
                let at = china();
                Key::Month(at.year(), at.month())
            }
        }
    }
}

/// The result of a count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows matching in all.
    pub total: u64,
    /// Per requested dimension, in the request's order: rows per key, keys
    /// without rows left out.
    pub groupings: Vec<(Dimension, BTreeMap<Key, u64>)>,
}

impl LedgerView {
    /// Counts the rows in `scope` passing `filter` at `now`, grouped along
    /// each of `dimensions` (one to [`MAX_DIMENSIONS`], no repeats).
    pub fn count(
        &self,
        scope: &Scope,
        filter: &LedgerFilter,
        dimensions: &[Dimension],
        now: DateTime<Utc>,
    ) -> Result<Counts, ProjectionError> {
        filter.check()?;
        if dimensions.is_empty() || dimensions.len() > MAX_DIMENSIONS {
            return Err(ProjectionError::InvalidArgument {
                field: "group_by",
                reason: format!("one to {MAX_DIMENSIONS} dimensions"),
            });
        }
        if let Some(repeated) = dimensions
            .iter()
            .enumerate()
            .find_map(|(i, d)| dimensions[..i].contains(d).then_some(d))
        {
            return Err(ProjectionError::InvalidArgument {
                field: "group_by",
                reason: format!("{repeated:?} is named twice"),
            });
        }
        let mut counts = Counts {
            total: 0,
            groupings: dimensions.iter().map(|d| (*d, BTreeMap::new())).collect(),
        };
        for row in self.matching(scope, filter, now) {
            counts.total += 1;
            for (dimension, buckets) in &mut counts.groupings {
                *buckets.entry(dimension.key(row)).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }
}
