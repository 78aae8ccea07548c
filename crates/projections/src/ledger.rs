//! The issue ledger (台账): every complaint as a row, and the queries the
//! dispatch centre, units and investigators run over it — filtered lists with
//! stable orders and cursor paging, unit inboxes and per-unit counts.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use chrono::{DateTime, Utc};
use rectify_domain::complaint::{
    Channel, ComplaintEvent, ComplaintStatus, Milestone, Satisfaction, WarningLevel,
};
use rectify_eventlog::RecordedEvent;

use crate::{
    ProjectionError,
    items::{self, LedgerBook, Tally, UnitTally},
    row::LedgerRow,
};

/// The prefix of complaint streams in the log.
pub const COMPLAINT_STREAM_PREFIX: &str = "complaint-";
/// The prefix of rectification ledger streams in the log.
pub const LEDGER_STREAM_PREFIX: &str = "ledger-";
/// Most candidate complaints one suggestion returns.
pub const MAX_SUGGESTIONS: usize = 200;

/// What an applied event changed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Changed {
    /// A complaint's row.
    Complaint(String),
    /// A rectification ledger.
    Ledger(String),
}

/// A complaint suggested for a ledger item.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// The complaint's row.
    pub row: LedgerRow,
    /// Text similarity to the item's problem and measures, 0..=1.
    pub score: f64,
}

/// One unit's items across every ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRollup {
    /// The unit code.
    pub unit: String,
    /// Its items.
    pub tally: UnitTally,
}
/// Largest page a list query returns.
pub const MAX_PAGE_SIZE: usize = 1_000;
/// Page size when the caller asks for none.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Longest free-text query, in characters.
pub const MAX_QUERY_TEXT_CHARS: usize = 100;

/// Who is asking: a list shows a unit only its own complaints and a portal
/// only what it submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything (dispatch centre, hotline, supervisors, administrators).
    All,
    /// Complaints where this unit is lead or responsible.
    Unit(String),
    /// Complaints this principal submitted.
    SubmittedBy(String),
}

impl Scope {
    fn admits(&self, row: &LedgerRow) -> bool {
        match self {
            Scope::All => true,
            Scope::Unit(unit) => row.is_assigned(unit),
            Scope::SubmittedBy(principal) => &row.submitted_by == principal,
        }
    }
}

/// Which rows a list shows; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerFilter {
    /// Any of these statuses.
    pub statuses: Vec<ComplaintStatus>,
    /// Task area code.
    pub area: Option<String>,
    /// District code.
    pub district: Option<String>,
    /// Intake channel.
    pub channel: Option<Channel>,
    /// Lead unit of the current assignment.
    pub lead_unit: Option<String>,
    /// Lead or responsible unit of the current assignment.
    pub unit: Option<String>,
    /// Only rows with an open deadline past due at the query's instant.
    pub overdue_only: bool,
    /// Only rows whose warning level is at least this.
    pub min_warning: Option<WarningLevel>,
    /// Only rows flagged for supervision.
    pub supervised_only: bool,
    /// Received at or after.
    pub received_from: Option<DateTime<Utc>>,
    /// Received before.
    pub received_before: Option<DateTime<Utc>>,
    /// Only complaints with an open deadline due before this instant.
    pub due_before: Option<DateTime<Utc>>,
    /// Satisfaction at the last callback.
    pub satisfaction: Option<Satisfaction>,
    /// Only complaints granted at least one extension.
    pub extended_only: bool,
    /// Only complaints returned (退单) at least once.
    pub returned_only: bool,
    /// Only complaints reopened (重办) at least once.
    pub reopened_only: bool,
    /// Substring of title, text, enterprise, ticket number or id; ASCII
    /// letters match without case.
    pub text: Option<String>,
    /// Only these complaints: those through a station, of a liaison cadre
    /// or of an experience officer, as the caller resolved them from the
    /// mechanisms view.
    pub complaint_ids: Option<std::collections::BTreeSet<String>>,
}

impl LedgerFilter {
    /// Refuses a filter no query may run: a search text over
    /// [`MAX_QUERY_TEXT_CHARS`] characters.
    pub fn check(&self) -> Result<(), ProjectionError> {
        match &self.text {
            Some(text) if text.chars().count() > MAX_QUERY_TEXT_CHARS => {
                Err(ProjectionError::InvalidArgument {
                    field: "filter.text",
                    reason: format!("at most {MAX_QUERY_TEXT_CHARS} characters"),
                })
            }
            _ => Ok(()),
        }
    }

    /// Whether `row` passes, at instant `now`.
    pub fn matches(&self, row: &LedgerRow, now: DateTime<Utc>, text_lower: Option<&str>) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&row.status))
            && self
                .area
                .as_ref()
                .is_none_or(|a| row.area.as_ref() == Some(a))
            && self
                .district
                .as_ref()
                .is_none_or(|d| row.district.as_ref() == Some(d))
            && self.channel.is_none_or(|c| row.channel == c)
            && self
                .lead_unit
                .as_ref()
                .is_none_or(|u| row.lead.as_ref() == Some(u))
            && self.unit.as_ref().is_none_or(|u| row.is_assigned(u))
            && (!self.overdue_only || row.is_overdue(now))
            && self
                .min_warning
                .is_none_or(|level| row.warning_level().is_some_and(|w| w >= level))
            && (!self.supervised_only || row.supervised)
            && self.received_from.is_none_or(|t| row.received_at >= t)
            && self.received_before.is_none_or(|t| row.received_at < t)
            && self
                .due_before
                .is_none_or(|t| row.next_due_at().is_some_and(|due| due < t))
            && self
                .satisfaction
                .is_none_or(|s| row.satisfaction() == Some(s))
            && (!self.extended_only || row.extension_count() > 0)
            && (!self.returned_only || row.return_count() > 0)
            && (!self.reopened_only || row.reopen_count() > 0)
            && text_lower.is_none_or(|needle| text_matches(row, needle))
            && self
                .complaint_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&row.id))
    }
}

/// `haystack` contains `needle`, ASCII letters compared without case (Chinese
/// has no case, and ticket numbers and enterprise names mix Latin letters).
/// Allocates nothing: a query runs this on every row.
fn contains_folded(haystack: &str, needle: &str) -> bool {
    if !needle.bytes().any(|b| b.is_ascii_alphabetic()) {
        return haystack.contains(needle);
    }
    let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
}

fn text_matches(row: &LedgerRow, needle: &str) -> bool {
    let hit = |haystack: &str| contains_folded(haystack, needle);
    hit(&row.title)
        || hit(&row.text)
        || hit(&row.id)
        || row.enterprise.as_deref().is_some_and(hit)
        || row.external_ref.as_deref().is_some_and(hit)
}

/// The order of a list. Every order ends with the complaint id, so it is
/// total and pages never skip or repeat a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Newest first.
    #[default]
    ReceivedDesc,
    /// Oldest first.
    ReceivedAsc,
    /// Earliest open due time first; rows with none last.
    DueAsc,
    /// By complaint id.
    Id,
}

/// A row's position in an order: (primary key, id). Borrows the id, so
/// ranking a large match allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey<'a> {
    primary: i64,
    id: &'a str,
}

impl SortOrder {
    fn key(self, row: &LedgerRow) -> SortKey<'_> {
        let primary = match self {
            SortOrder::ReceivedDesc => -row.received_at.timestamp_millis(),
            SortOrder::ReceivedAsc => row.received_at.timestamp_millis(),
            SortOrder::DueAsc => row.next_due_at().map_or(i64::MAX, |t| t.timestamp_millis()),
            SortOrder::Id => 0,
        };
        SortKey {
            primary,
            id: &row.id,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            SortOrder::ReceivedDesc => "rd",
            SortOrder::ReceivedAsc => "ra",
            SortOrder::DueAsc => "da",
            SortOrder::Id => "id",
        }
    }
}

/// An opaque position in a list: the last row's sort key, tagged with the
/// order it belongs to.
fn encode_cursor(order: SortOrder, key: &SortKey<'_>) -> String {
    format!("{}.{}.{}", order.tag(), key.primary, key.id)
}

fn decode_cursor(order: SortOrder, token: &str) -> Result<(i64, String), ProjectionError> {
    let bad = |reason: &str| ProjectionError::InvalidArgument {
        field: "page_token",
        reason: reason.to_owned(),
    };
    let mut parts = token.splitn(3, '.');
    let (Some(tag), Some(primary), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("not a token this server issued"));
    };
    if tag != order.tag() {
        return Err(bad("the token belongs to a different sort order"));
    }
    let primary = primary
        .parse()
        .map_err(|_| bad("not a token this server issued"))?;
    Ok((primary, id.to_owned()))
}

fn add(total: &mut Tally, more: &Tally) {
    total.total += more.total;
    total.open += more.open;
    total.closed += more.closed;
    total.overdue += more.overdue;
}

/// Sorts rows into `order` (exports use the list orders).
pub fn sort_rows(rows: &mut [&LedgerRow], order: SortOrder) {
    rows.sort_by(|a, b| order.key(a).cmp(&order.key(b)));
}

/// A list request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Which rows.
    pub filter: LedgerFilter,
    /// In which order.
    pub order: SortOrder,
    /// Rows per page (0: [`DEFAULT_PAGE_SIZE`]; at most [`MAX_PAGE_SIZE`]).
    pub page_size: usize,
    /// The previous page's `next_page_token`; empty for the first page.
    pub page_token: String,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// The rows, in order.
    pub rows: Vec<LedgerRow>,
    /// Token of the next page; empty on the last page.
    pub next_page_token: String,
    /// How many rows match the filter in all.
    pub total: u64,
}

/// What waits for one unit, by step.
#[derive(Debug, Clone, Default)]
pub struct Inbox {
    /// As lead unit: dispatched, not yet accepted (签收).
    pub lead_to_accept: Vec<LedgerRow>,
    /// As lead unit: accepted, no step recorded yet (处办).
    pub lead_to_handle: Vec<LedgerRow>,
    /// As lead unit: steps recorded, resolution (办结) due.
    pub lead_to_resolve: Vec<LedgerRow>,
    /// As responsible unit: not yet accepted.
    pub responsible_to_accept: Vec<LedgerRow>,
    /// As responsible unit: accepted, no step recorded yet.
    pub responsible_to_handle: Vec<LedgerRow>,
}

/// Per-unit counts for the dispatch centre.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitCounts {
    /// The unit code.
    pub unit: String,
    /// As lead: waiting for acceptance.
    pub to_accept: u64,
    /// As lead: being handled.
    pub in_progress: u64,
    /// As responsible unit: open complaints.
    pub as_responsible: u64,
    /// Open complaints with a deadline past due (lead or responsible).
    pub overdue: u64,
}

/// The issue ledger's state: every complaint's row and the log position it
/// reflects.
///
/// Rows live in a slab (`slots`) addressed by a small number, so the
/// secondary indexes hold 4-byte slot numbers and a query over one unit's or
/// one area's complaints reads their rows directly.
#[derive(Debug, Clone, Default)]
pub struct LedgerView {
    slots: Vec<LedgerRow>,
    /// Complaint id → slot, in id order.
    ids: BTreeMap<String, u32>,
    books: BTreeMap<String, LedgerBook>,
    applied: u64,
    /// Derived from the rows: not part of the state, rebuilt on load.
    index: Index,
}

/// Two views are equal when their rows (by id), ledgers and position are;
/// slot numbers and the index are derived.
impl PartialEq for LedgerView {
    fn eq(&self, other: &Self) -> bool {
        self.applied == other.applied
            && self.books == other.books
            && self.ids.len() == other.ids.len()
            && self.ids.iter().zip(&other.ids).all(|((a, &sa), (b, &sb))| {
                a == b && self.slots[sa as usize] == other.slots[sb as usize]
            })
    }
}

/// Secondary indexes of the rows, so the common queries (one unit's work,
/// one area) touch only their rows instead of the whole ledger.
#[derive(Debug, Clone, Default, PartialEq)]
struct Index {
    /// Unit code → slots where it is the lead or a responsible unit.
    by_unit: HashMap<String, BTreeSet<u32>>,
    /// Task area → slots classified in it.
    by_area: HashMap<String, BTreeSet<u32>>,
}

impl Index {
    fn keys(row: &LedgerRow) -> (Vec<&str>, Option<&str>) {
        let units = row
            .lead
            .iter()
            .chain(&row.responsible)
            .map(String::as_str)
            .collect();
        (units, row.area.as_deref())
    }

    fn insert(&mut self, slot: u32, row: &LedgerRow) {
        let (units, area) = Self::keys(row);
        for unit in units {
            self.by_unit
                .entry(unit.to_owned())
                .or_default()
                .insert(slot);
        }
        if let Some(area) = area {
            self.by_area
                .entry(area.to_owned())
                .or_default()
                .insert(slot);
        }
    }

    fn remove(&mut self, slot: u32, row: &LedgerRow) {
        let (units, area) = Self::keys(row);
        for unit in units {
            if let Some(slots) = self.by_unit.get_mut(unit) {
                slots.remove(&slot);
            }
        }
        if let Some(area) = area
            && let Some(slots) = self.by_area.get_mut(area)
        {
            slots.remove(&slot);
        }
    }
}

impl LedgerView {
    /// The state from persisted rows and ledgers and the position they
    /// reflect.
    pub fn from_parts(
        rows: impl IntoIterator<Item = LedgerRow>,
        books: impl IntoIterator<Item = LedgerBook>,
        applied: u64,
    ) -> Self {
        let mut view = LedgerView {
            books: books
                .into_iter()
                .map(|book| (book.ledger_id().to_owned(), book))
                .collect(),
            applied,
            ..LedgerView::default()
        };
        for row in rows {
            view.insert_row(row);
        }
        view
    }

    /// Whether the secondary index equals one rebuilt from the rows (for
    /// tests: incremental maintenance must not drift).
    pub fn index_is_consistent(&self) -> bool {
        let mut rebuilt = Index::default();
        for (slot, row) in self.slots.iter().enumerate() {
            rebuilt.insert(slot as u32, row);
        }
        let live = |map: &HashMap<String, BTreeSet<u32>>| -> BTreeMap<String, BTreeSet<u32>> {
            map.iter()
                .filter(|(_, ids)| !ids.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        live(&rebuilt.by_unit) == live(&self.index.by_unit)
            && live(&rebuilt.by_area) == live(&self.index.by_area)
    }

    /// One rectification ledger.
    pub fn book(&self, ledger_id: &str) -> Option<&LedgerBook> {
        self.books.get(ledger_id)
    }

    /// Every rectification ledger in id order.
    pub fn books(&self) -> impl Iterator<Item = &LedgerBook> {
        self.books.values()
    }

    /// Every unit's items across all ledgers, most open items first (ties
    /// by code). `open_only` leaves out closed ledgers.
    pub fn unit_rollup(&self, now: DateTime<Utc>) -> Vec<UnitRollup> {
        let mut units: BTreeMap<String, UnitTally> = BTreeMap::new();
        for book in self.books.values() {
            for (unit, tally) in book.progress(now).units {
                let entry = units.entry(unit).or_default();
                add(&mut entry.as_lead, &tally.as_lead);
                add(&mut entry.as_responsible, &tally.as_responsible);
            }
        }
        let mut rollup: Vec<UnitRollup> = units
            .into_iter()
            .map(|(unit, tally)| UnitRollup { unit, tally })
            .collect();
        rollup.sort_by(|a, b| {
            let open = |r: &UnitRollup| r.tally.as_lead.open + r.tally.as_responsible.open;
            open(b).cmp(&open(a)).then_with(|| a.unit.cmp(&b.unit))
        });
        rollup
    }

    /// Item deadline warnings due at `now` and not yet recorded: (ledger,
    /// item, level, due time). An item already past due gets only red.
    pub fn due_item_warnings(
        &self,
        now: DateTime<Utc>,
        yellow_at: impl Fn(DateTime<Utc>, DateTime<Utc>) -> DateTime<Utc>,
    ) -> Vec<(String, String, WarningLevel, DateTime<Utc>)> {
        let mut due = Vec::new();
        for book in self.books.values().filter(|b| b.state.closed_at.is_none()) {
            for item in book.items().values().filter(|i| i.closed_at.is_none()) {
                let Some(deadline) = item.spec.deadline else {
                    continue;
                };
                let level = if deadline <= now {
                    WarningLevel::Red
                } else if yellow_at(item.added_at, deadline) <= now {
                    WarningLevel::Yellow
                } else {
                    continue;
                };
                let warned = |level| item.warned.contains(&(level, deadline));
                if warned(level) || (level == WarningLevel::Yellow && warned(WarningLevel::Red)) {
                    continue;
                }
                due.push((
                    book.ledger_id().to_owned(),
                    item.spec.item_id.clone(),
                    level,
                    deadline,
                ));
            }
        }
        due
    }

    /// Complaints that may belong to an item's class problem: same task
    /// area as the item's group (when it has one), not yet linked, ranked by
    /// text similarity to the problem and measures; at most `limit`.
    pub fn suggest_complaints(
        &self,
        ledger_id: &str,
        item_id: &str,
        district: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Suggestion>, ProjectionError> {
        let missing = |what: &str| ProjectionError::InvalidArgument {
            field: "item_id",
            reason: format!("no {what} {ledger_id}/{item_id} in the projection"),
        };
        let book = self.books.get(ledger_id).ok_or_else(|| missing("ledger"))?;
        let item = book.items().get(item_id).ok_or_else(|| missing("item"))?;
        let target = items::bigrams(&format!("{} {}", item.spec.problem, item.spec.measures));
        let mut found: Vec<Suggestion> = self
            .slots
            .iter()
            .filter(|row| {
                item.spec
                    .group
                    .as_ref()
                    .is_none_or(|group| row.area.as_ref() == Some(group))
                    && district.is_none_or(|d| row.district.as_deref() == Some(d))
                    && !item.complaints.contains(&row.id)
            })
            .map(|row| Suggestion {
                score: items::similarity(
                    &target,
                    &items::bigrams(&format!("{} {}", row.title, row.text)),
                ),
                row: row.clone(),
            })
            .filter(|s| s.score > 0.0)
            .collect();
        found.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.row.id.cmp(&b.row.id))
        });
        found.truncate(limit.min(MAX_SUGGESTIONS));
        Ok(found)
    }

    /// The last log position applied.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Number of complaints.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no complaint was applied.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// One complaint's row.
    pub fn row(&self, id: &str) -> Option<&LedgerRow> {
        self.ids.get(id).map(|&slot| &self.slots[slot as usize])
    }

    /// Every row, in the order complaints arrived.
    pub fn rows(&self) -> impl Iterator<Item = &LedgerRow> {
        self.slots.iter()
    }

    fn insert_row(&mut self, row: LedgerRow) {
        let slot = u32::try_from(self.slots.len()).expect("fewer than 4 billion complaints");
        self.index.insert(slot, &row);
        self.ids.insert(row.id.clone(), slot);
        self.slots.push(row);
    }

    /// Applies one event of the log. Events must come in position order;
    /// events of other streams only advance the position. Returns what
    /// changed, if anything.
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<Option<Changed>, ProjectionError> {
        if event.position <= self.applied {
            return Err(ProjectionError::OutOfOrder {
                applied: self.applied,
                got: event.position,
            });
        }
        self.applied = event.position;
        if let Some(id) = event.stream.strip_prefix(LEDGER_STREAM_PREFIX) {
            return self.apply_ledger(id, event).map(Some);
        }
        let Some(id) = event.stream.strip_prefix(COMPLAINT_STREAM_PREFIX) else {
            return Ok(None);
        };
        let decoded =
            ComplaintEvent::decode(&event.event_type, event.schema_version, &event.payload)
                .map_err(|error| ProjectionError::Decode {
                    position: event.position,
                    reason: error.to_string(),
                })?;
        // Only these events change what the index is keyed on.
        let reindex = matches!(
            decoded,
            ComplaintEvent::ComplaintClassified { .. }
                | ComplaintEvent::ComplaintDispatched { .. }
                | ComplaintEvent::AssignmentReturned { .. }
        );
        match self.ids.get(id) {
            Some(&slot) => {
                let row = &mut self.slots[slot as usize];
                if reindex {
                    self.index.remove(slot, row);
                }
                row.apply(event.position, event.version, &decoded);
                if reindex {
                    self.index.insert(slot, row);
                }
            }
            None => {
                let actor = event.metadata.actor.as_deref().unwrap_or("");
                let Some(row) =
                    LedgerRow::received(id, event.position, event.version, actor, &decoded)
                else {
                    return Err(ProjectionError::Decode {
                        position: event.position,
                        reason: format!(
                            "stream {} starts with {} instead of ComplaintReceived",
                            event.stream, event.event_type
                        ),
                    });
                };
                self.insert_row(row);
            }
        }
        Ok(Some(Changed::Complaint(id.to_owned())))
    }

    fn apply_ledger(
        &mut self,
        id: &str,
        event: &RecordedEvent,
    ) -> Result<Changed, ProjectionError> {
        let decoded = rectify_domain::ledger::LedgerEvent::decode(
            &event.event_type,
            event.schema_version,
            &event.payload,
        )
        .map_err(|reason| ProjectionError::Decode {
            position: event.position,
            reason,
        })?;
        match self.books.get_mut(id) {
            Some(book) => book.apply(event.position, event.version, &decoded),
            None => {
                let book = LedgerBook::opened(event.position, event.version, &decoded).ok_or_else(
                    || ProjectionError::Decode {
                        position: event.position,
                        reason: format!(
                            "stream {} starts with {} instead of LedgerOpened",
                            event.stream, event.event_type
                        ),
                    },
                )?;
                self.books.insert(id.to_owned(), book);
            }
        }
        Ok(Changed::Ledger(id.to_owned()))
    }

    /// Rows in `scope` passing `filter` at `now` (in no particular order).
    pub fn matching<'a>(
        &'a self,
        scope: &'a Scope,
        filter: &'a LedgerFilter,
        now: DateTime<Utc>,
    ) -> impl Iterator<Item = &'a LedgerRow> + 'a {
        let text = filter.text.as_ref().map(|t| t.to_ascii_lowercase());
        self.candidates(scope, filter)
            .filter(move |row| scope.admits(row) && filter.matches(row, now, text.as_deref()))
    }

    /// The rows a query must look at: one unit's or one area's through the
    /// index when the scope or filter names one, else every row.
    fn candidates<'a>(
        &'a self,
        scope: &'a Scope,
        filter: &'a LedgerFilter,
    ) -> Box<dyn Iterator<Item = &'a LedgerRow> + 'a> {
        let unit = match scope {
            Scope::Unit(unit) => Some(unit),
            _ => None,
        }
        .or(filter.unit.as_ref())
        .or(filter.lead_unit.as_ref());
        let ids = match (unit, &filter.area) {
            (Some(unit), _) => self.index.by_unit.get(unit),
            (None, Some(area)) => self.index.by_area.get(area),
            (None, None) => return Box::new(self.slots.iter()),
        };
        match ids {
            Some(slots) => Box::new(slots.iter().map(|&slot| &self.slots[slot as usize])),
            None => Box::new(std::iter::empty()),
        }
    }

    /// One page of a filtered, ordered list.
    pub fn list(
        &self,
        scope: &Scope,
        query: &ListQuery,
        now: DateTime<Utc>,
    ) -> Result<ListPage, ProjectionError> {
        let page_size = match query.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                return Err(ProjectionError::InvalidArgument {
                    field: "page_size",
                    reason: format!("at most {MAX_PAGE_SIZE}"),
                });
            }
            n => n,
        };
        query.filter.check()?;
        let after = match query.page_token.as_str() {
            "" => None,
            token => Some(decode_cursor(query.order, token)?),
        };
        // Keep the page_size + 1 smallest keys after the cursor: a max-heap
        // whose top is the largest kept key.
        let after = after.as_ref().map(|(primary, id)| SortKey {
            primary: *primary,
            id: id.as_str(),
        });
        let mut kept: BinaryHeap<SortKey<'_>> = BinaryHeap::new();
        let mut total = 0u64;
        for row in self.matching(scope, &query.filter, now) {
            total += 1;
            let key = query.order.key(row);
            if after.is_some_and(|after| key <= after) {
                continue;
            }
            if kept.len() <= page_size {
                kept.push(key);
            } else if kept
                .peek()
                .is_some_and(|top| key.cmp(top) == Ordering::Less)
            {
                kept.pop();
                kept.push(key);
            }
        }
        let mut sorted = kept.into_sorted_vec();
        let more = sorted.len() > page_size;
        sorted.truncate(page_size);
        let next_page_token = match (more, sorted.last()) {
            (true, Some(key)) => encode_cursor(query.order, key),
            _ => String::new(),
        };
        Ok(ListPage {
            rows: sorted
                .iter()
                .filter_map(|key| self.row(key.id).cloned())
                .collect(),
            next_page_token,
            total,
        })
    }

    /// What waits for `unit`, each list ordered by its earliest due time.
    pub fn inbox(&self, unit: &str) -> Inbox {
        let mut inbox = Inbox::default();
        let rows = self
            .index
            .by_unit
            .get(unit)
            .into_iter()
            .flatten()
            .map(|&slot| &self.slots[slot as usize]);
        for row in rows {
            if !matches!(
                row.status,
                ComplaintStatus::Dispatched | ComplaintStatus::InProgress
            ) || !row.is_assigned(unit)
            {
                continue;
            }
            let accepted = row.accepted.iter().any(|u| u == unit);
            let stepped = row.stepped.iter().any(|u| u == unit);
            let list = if row.lead.as_deref() == Some(unit) {
                match (accepted, stepped) {
                    (false, _) => &mut inbox.lead_to_accept,
                    (true, false) => &mut inbox.lead_to_handle,
                    (true, true) => &mut inbox.lead_to_resolve,
                }
            } else {
                match (accepted, stepped) {
                    (false, _) => &mut inbox.responsible_to_accept,
                    (true, false) => &mut inbox.responsible_to_handle,
                    // A responsible unit that reported its step waits for
                    // the lead's resolution: nothing is due from it.
                    (true, true) => continue,
                }
            };
            list.push(row.clone());
        }
        for list in [
            &mut inbox.lead_to_accept,
            &mut inbox.lead_to_handle,
            &mut inbox.lead_to_resolve,
            &mut inbox.responsible_to_accept,
            &mut inbox.responsible_to_handle,
        ] {
            list.sort_by(|a, b| SortOrder::DueAsc.key(a).cmp(&SortOrder::DueAsc.key(b)));
        }
        inbox
    }

    /// Open work per unit, for the dispatch centre; units in code order.
    pub fn unit_counts(&self, now: DateTime<Utc>) -> Vec<UnitCounts> {
        let mut counts: BTreeMap<&str, UnitCounts> = BTreeMap::new();
        for row in &self.slots {
            if !matches!(
                row.status,
                ComplaintStatus::Dispatched | ComplaintStatus::InProgress
            ) {
                continue;
            }
            let overdue = row.is_overdue(now);
            if let Some(lead) = &row.lead {
                let c = counts.entry(lead).or_insert_with(|| UnitCounts {
                    unit: lead.clone(),
                    ..UnitCounts::default()
                });
                match row.status {
                    ComplaintStatus::Dispatched => c.to_accept += 1,
                    _ => c.in_progress += 1,
                }
                c.overdue += u64::from(overdue);
            }
            for unit in &row.responsible {
                let c = counts.entry(unit).or_insert_with(|| UnitCounts {
                    unit: unit.clone(),
                    ..UnitCounts::default()
                });
                c.as_responsible += 1;
                c.overdue += u64::from(overdue);
            }
        }
        counts.into_values().collect()
    }

    /// Deadline warnings due at `now` and not yet recorded: (complaint id,
    /// milestone, level, due time). A deadline already past due gets only
    /// its red warning. `yellow_at(start, due)` is the policy's yellow mark.
    pub fn due_warnings(
        &self,
        now: DateTime<Utc>,
        yellow_at: impl Fn(DateTime<Utc>, DateTime<Utc>) -> DateTime<Utc>,
    ) -> Vec<(String, Milestone, WarningLevel, DateTime<Utc>)> {
        let mut due = Vec::new();
        for row in &self.slots {
            if row.status == ComplaintStatus::Closed || row.paused {
                continue;
            }
            for deadline in row.deadlines.iter().filter(|d| d.met_at.is_none()) {
                let level = if deadline.due_at <= now {
                    WarningLevel::Red
                } else if yellow_at(deadline.start, deadline.due_at) <= now {
                    WarningLevel::Yellow
                } else {
                    continue;
                };
                let warned = |level| {
                    row.warned
                        .contains(&(deadline.milestone, level, deadline.due_at))
                };
                if warned(level) || (level == WarningLevel::Yellow && warned(WarningLevel::Red)) {
                    continue;
                }
                due.push((row.id.clone(), deadline.milestone, level, deadline.due_at));
            }
        }
        due
    }
}
