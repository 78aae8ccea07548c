//! The issue ledger (台账): every complaint as a row, and the queries the
//! dispatch centre, units and investigators run over it — filtered lists with
//! stable orders and cursor paging, unit inboxes and per-unit counts.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rectify_domain::complaint::{
    Channel, ComplaintEvent, ComplaintStatus, Milestone, Satisfaction, WarningLevel,
};
use rectify_eventlog::RecordedEvent;

use crate::{
    ProjectionError,
    ids::Ids,
    index::{self, Index, IndexBuilder, Intake},
    items::{self, LedgerBook, Tally, UnitTally},
    row::LedgerRow,
    slab::Slab,
    timestamp::Timestamp,
};

/// The prefix of complaint streams in the log.
pub const COMPLAINT_STREAM_PREFIX: &str = "complaint-";
/// The prefix of rectification ledger streams in the log.
pub const LEDGER_STREAM_PREFIX: &str = "ledger-";
/// Most candidate complaints one suggestion returns.
pub const MAX_SUGGESTIONS: usize = 200;

/// What an applied event changed: a key of the view's stored state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Changed {
    /// A complaint's row, by its slot in the view that applied the event
    /// (catch-up collects these per event, so no event copies an id).
    Complaint(u32),
    /// A rectification ledger, by id.
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
            Scope::SubmittedBy(principal) => row.submitted_by() == principal,
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
                .is_none_or(|a| row.area.as_deref() == Some(a.as_str()))
            && self
                .district
                .as_ref()
                .is_none_or(|d| row.district.as_deref() == Some(d.as_str()))
            && self.channel.is_none_or(|c| row.channel == c)
            && self
                .lead_unit
                .as_ref()
                .is_none_or(|u| row.lead.as_deref() == Some(u.as_str()))
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
                .is_none_or(|ids| ids.contains(row.id()))
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
    let strings = row.strings();
    hit(strings.title)
        || hit(strings.text)
        || hit(strings.id)
        || strings.enterprise.is_some_and(hit)
        || strings.external_ref.is_some_and(hit)
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
            SortOrder::ReceivedDesc => -row.received_at.millis(),
            SortOrder::ReceivedAsc => row.received_at.millis(),
            SortOrder::DueAsc => row.next_due_at().map_or(i64::MAX, |t| t.millis()),
            SortOrder::Id => 0,
        };
        SortKey {
            primary,
            id: row.id(),
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

impl ListQuery {
    /// The page size (the default for 0) and the cursor to start after,
    /// once the size, the filter and the page token are checked; shared by
    /// the indexed list and its full-scan reference.
    fn checked(&self) -> Result<(usize, Option<(i64, String)>), ProjectionError> {
        let page_size = match self.page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                return Err(ProjectionError::InvalidArgument {
                    field: "page_size",
                    reason: format!("at most {MAX_PAGE_SIZE}"),
                });
            }
            n => n,
        };
        self.filter.check()?;
        let after = match self.page_token.as_str() {
            "" => None,
            token => Some(decode_cursor(self.order, token)?),
        };
        Ok((page_size, after))
    }
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

/// What waits for one unit, by step: the view's rows, borrowed (a caller
/// converts them for its reply while it holds the view, without a copy of
/// each row first).
#[derive(Debug, Clone, Default)]
pub struct Inbox<'a> {
    /// As lead unit: dispatched, not yet accepted (签收).
    pub lead_to_accept: Vec<&'a LedgerRow>,
    /// As lead unit: accepted, no step recorded yet (处办).
    pub lead_to_handle: Vec<&'a LedgerRow>,
    /// As lead unit: steps recorded, resolution (办结) due.
    pub lead_to_resolve: Vec<&'a LedgerRow>,
    /// As responsible unit: not yet accepted.
    pub responsible_to_accept: Vec<&'a LedgerRow>,
    /// As responsible unit: accepted, no step recorded yet.
    pub responsible_to_handle: Vec<&'a LedgerRow>,
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
    slots: Slab,
    /// Complaint id → slot (every event of the log looks its row up here).
    ids: Ids,
    books: BTreeMap<String, LedgerBook>,
    applied: u64,
    /// Derived from the rows: not part of the state, rebuilt on load (but
    /// for the bigram postings of full blocks, stored).
    index: Index,
    /// Which blocks of the bigram index the checkpoint store holds.
    text_blocks: TextBlocks,
}

/// The blocks of slots whose bigram postings the checkpoint stores: once
/// every slot of a block is taken its postings never change, so a load
/// reads them instead of rebuilding them from a block's worth of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TextBlocks {
    /// Slots a block.
    pub(crate) size: u32,
    /// The blocks below this slot are stored (or in a checkpoint on its
    /// way to the store).
    pub(crate) stored: u32,
}

/// The slots of a stored block of the bigram index: the span of one
/// roaring container, so a block's postings are one container a bigram.
pub const TEXT_BLOCK_SLOTS: u32 = 65_536;

impl Default for TextBlocks {
    fn default() -> Self {
        TextBlocks {
            size: TEXT_BLOCK_SLOTS,
            stored: 0,
        }
    }
}

/// A view being loaded: rows arrive in slot order and the index is built
/// in one pass ([`IndexBuilder`]).
#[derive(Debug, Default)]
pub(crate) struct ViewBuilder {
    slots: Slab,
    ids: Ids,
    index: IndexBuilder,
}

impl ViewBuilder {
    /// A builder for about `rows` rows.
    pub(crate) fn with_capacity(rows: usize) -> ViewBuilder {
        ViewBuilder {
            slots: Slab::default(),
            ids: Ids::with_capacity(rows),
            index: IndexBuilder::default(),
        }
    }

    /// Takes the stored bigram postings of a block (before any row).
    pub(crate) fn add_text_block(
        &mut self,
        slots: std::ops::Range<u32>,
        postings: Vec<(u64, roaring::RoaringBitmap)>,
    ) -> Result<(), String> {
        self.index.add_text_block(slots, postings)
    }

    /// Rows taken so far.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Takes the rows of the next slots, as a load decoded them (a whole
    /// block of the slab is taken over without copying a row).
    pub(crate) fn push_block(&mut self, rows: Vec<LedgerRow>) {
        let first = self.slots.len();
        self.slots.push_block(rows);
        self.enter(first..self.slots.len());
    }

    /// Takes the row of the next slot.
    pub(crate) fn push(&mut self, row: LedgerRow) {
        let slot = self.slots.len();
        self.slots.push(row);
        self.enter(slot..slot + 1);
    }

    /// Indexes the rows of `slots`, already in the slab.
    fn enter(&mut self, slots: std::ops::Range<usize>) {
        for slot in slots {
            let slot = u32::try_from(slot).expect("fewer than 4 billion complaints");
            self.index.add(slot, &self.slots[slot as usize]);
            self.ids.insert(slot, &self.slots);
        }
    }

    /// The view of the rows taken, these ledgers and the position they
    /// reflect.
    pub(crate) fn finish(
        self,
        books: impl IntoIterator<Item = LedgerBook>,
        applied: u64,
        text_block_size: u32,
    ) -> LedgerView {
        let text_blocks = TextBlocks {
            size: text_block_size,
            stored: self.index.text_stored(),
        };
        LedgerView {
            text_blocks,
            slots: self.slots,
            ids: self.ids,
            books: books
                .into_iter()
                .map(|book| (book.ledger_id().to_owned(), book))
                .collect(),
            applied,
            index: self.index.finish(),
        }
    }
}

/// Two views are equal when their rows (by id), ledgers and position are;
/// slot numbers and the index are derived.
impl PartialEq for LedgerView {
    fn eq(&self, other: &Self) -> bool {
        self.applied == other.applied
            && self.books == other.books
            && self.ids.len() == other.ids.len()
            && self
                .slots
                .iter()
                .all(|row| other.row(row.id()) == Some(row))
    }
}

impl LedgerView {
    /// The state from persisted rows and ledgers and the position they
    /// reflect; the rows take slots in the order given.
    pub fn from_parts(
        rows: impl IntoIterator<Item = LedgerRow>,
        books: impl IntoIterator<Item = LedgerBook>,
        applied: u64,
    ) -> Self {
        let mut view = ViewBuilder::default();
        for row in rows {
            view.push(row);
        }
        view.finish(books, applied, TEXT_BLOCK_SLOTS)
    }

    /// Whether the secondary indexes equal ones rebuilt from the rows, both
    /// row by row and in the one pass a load makes (for tests: incremental
    /// maintenance must not drift, and a load must build what applying
    /// would).
    pub fn index_is_consistent(&self) -> bool {
        let mut rebuilt = Index::default();
        for (slot, row) in self.slots.iter().enumerate() {
            rebuilt.add(slot as u32, row);
        }
        rebuilt.same_entries(&self.index) && Index::build(&self.slots).same_entries(&self.index)
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
                    .is_none_or(|group| row.area.as_deref() == Some(group.as_str()))
                    && district.is_none_or(|d| row.district.as_deref() == Some(d))
                    && !item.complaints.iter().any(|id| id == row.id())
            })
            .map(|row| Suggestion {
                score: items::similarity(
                    &target,
                    &items::bigrams(&format!("{} {}", row.title(), row.text())),
                ),
                row: row.clone(),
            })
            .filter(|s| s.score > 0.0)
            .collect();
        found.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.row.id().cmp(b.row.id()))
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
        self.ids
            .get(id, &self.slots)
            .map(|slot| &self.slots[slot as usize])
    }

    /// Every row, in the order complaints arrived.
    pub fn rows(&self) -> impl Iterator<Item = &LedgerRow> {
        self.slots.iter()
    }

    /// The rows with a fact the evaluation counts (callback, dispatch,
    /// closure, reopening, extension, missed deadline) in `[from, until)`,
    /// and perhaps others: a superset, found from the index's fact spans.
    pub fn rows_with_facts_in(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Iterator<Item = &LedgerRow> {
        // Milliseconds round down, so comparing them never drops a row.
        let (from_ms, until_ms) = (from.timestamp_millis(), until.timestamp_millis());
        self.index
            .fact_span_ms
            .iter()
            .zip(&self.slots)
            .filter(move |((first, last), _)| *last >= from_ms && *first <= until_ms)
            .map(|(_, row)| row)
    }

    fn insert_row(&mut self, row: LedgerRow) -> u32 {
        let slot = u32::try_from(self.slots.len()).expect("fewer than 4 billion complaints");
        self.index.add(slot, &row);
        self.slots.push(row);
        self.ids.insert(slot, &self.slots);
        slot
    }

    /// Sets the slots a stored block of the bigram index spans (the
    /// default is [`TEXT_BLOCK_SLOTS`]; smaller blocks let a test fill
    /// some).
    pub(crate) fn set_text_block_size(&mut self, size: u32) {
        self.text_blocks.size = size.max(1);
    }

    /// The blocks of the bigram index that are full and not yet stored,
    /// as (the block's first slot, its encoding), now counted as stored:
    /// the caller writes them with the checkpoint.
    pub(crate) fn take_full_text_blocks(&mut self) -> Vec<(u32, Vec<u8>)> {
        let mut blocks = Vec::new();
        let TextBlocks { size, mut stored } = self.text_blocks;
        while let Some(end) = stored
            .checked_add(size)
            .filter(|&end| end as usize <= self.slots.len())
        {
            let postings = self.index.text.block(stored..end);
            let mut value = Vec::new();
            crate::codec::encode_text_block(stored..end, &postings, &mut value);
            blocks.push((stored, value));
            stored = end;
        }
        self.text_blocks.stored = stored;
        blocks
    }

    /// The row in `slot`, which [`Changed::Complaint`] names.
    pub(crate) fn row_in(&self, slot: u32) -> Option<&LedgerRow> {
        self.slots.get(slot as usize)
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
        let slot = match self.ids.get(id, &self.slots) {
            Some(slot) => {
                let row = &mut self.slots[slot as usize];
                if reindex {
                    self.index.remove(slot, row);
                    row.apply(event.position, event.version, &decoded);
                    self.index.insert(slot, row);
                } else {
                    let (was_open, was_watched) = (index::is_open(row), index::is_watched(row));
                    row.apply(event.position, event.version, &decoded);
                    self.index.update(slot, row, was_open, was_watched);
                }
                slot
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
                self.insert_row(row)
            }
        };
        Ok(Some(Changed::Complaint(slot)))
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
        let plan = self.plan(scope, filter);
        let exact = plan.exact;
        let text = filter.text.as_ref().map(|t| t.to_ascii_lowercase());
        plan.source
            .into_slots(self.slots.len())
            .map(|slot| &self.slots[slot as usize])
            .filter(move |row| {
                exact || (scope.admits(row) && filter.matches(row, now, text.as_deref()))
            })
    }

    /// Where a query finds its candidate rows: the text index when it
    /// searches two characters or more, else one unit's or one area's rows
    /// when the scope or filter names one, else every row.
    fn plan<'a>(&'a self, scope: &Scope, filter: &LedgerFilter) -> Plan<'a> {
        // What the source guarantees is taken out of `residual`; a plan whose
        // residual is empty needs no row read to decide a match.
        let mut residual = filter.clone();
        if let Some(needle) = filter.text.as_ref().map(|t| t.to_ascii_lowercase())
            && let Some(slots) = self.index.text.candidates(&needle)
        {
            // A needle of one bigram is matched exactly by its postings.
            if needle.chars().count() == 2 {
                residual.text = None;
            }
            return Plan {
                source: Source::Slots(slots),
                exact: *scope == Scope::All && residual == LedgerFilter::default(),
            };
        }
        let scope_unit = match scope {
            Scope::Unit(unit) => Some(unit),
            _ => None,
        };
        let unit = scope_unit
            .or(filter.unit.as_ref())
            .or(filter.lead_unit.as_ref());
        // Overdue rows are watched rows (not closed, clock running, a
        // deadline open): one unit's are among its watched rows, far fewer
        // than all it was ever assigned.
        if let Some(unit) = unit
            && filter.overdue_only
        {
            let slots = self.index.watched_by_unit.get(unit.as_str());
            return Plan {
                source: Source::Slots(slots.into_iter().flatten().copied().collect()),
                exact: false,
            };
        }
        let set = match (unit, &filter.area) {
            (Some(unit), _) => {
                if residual.unit.as_ref() == Some(unit) {
                    residual.unit = None;
                }
                self.index.by_unit.get(unit.as_str())
            }
            (None, Some(_)) => {
                residual.area = None;
                self.index
                    .by_area
                    .get(filter.area.as_deref().unwrap_or_default())
            }
            (None, None) => {
                return Plan {
                    source: Source::All,
                    exact: *scope == Scope::All && residual == LedgerFilter::default(),
                };
            }
        };
        let Some(set) = set else {
            return Plan {
                source: Source::Slots(Vec::new()),
                exact: true,
            };
        };
        let scope_done = match scope {
            Scope::All => true,
            Scope::Unit(_) => true,
            Scope::SubmittedBy(_) => false,
        };
        let from = residual.received_from.take();
        let before = residual.received_before.take();
        Plan {
            source: Source::Intake(IntakeRange { set, from, before }),
            exact: scope_done && residual == LedgerFilter::default(),
        }
    }

    /// The slots of `plan` that pass `scope` and `filter`.
    fn checked(
        &self,
        plan: Plan<'_>,
        scope: &Scope,
        filter: &LedgerFilter,
        now: DateTime<Utc>,
    ) -> Vec<u32> {
        let slots = plan.source.into_slots(self.slots.len());
        if plan.exact {
            return slots.collect();
        }
        let text = filter.text.as_ref().map(|t| t.to_ascii_lowercase());
        slots
            .filter(|&slot| {
                let row = &self.slots[slot as usize];
                scope.admits(row) && filter.matches(row, now, text.as_deref())
            })
            .collect()
    }

    /// The `k` smallest keys in `order` after the cursor among `matched`.
    /// Ranks by the primary key first (from the intake column when the order
    /// is by intake), so only the few rows near the top are read for ids.
    fn smallest<'a>(
        &'a self,
        matched: Vec<u32>,
        order: SortOrder,
        after: Option<SortKey<'_>>,
        k: usize,
    ) -> Vec<(SortKey<'a>, u32)> {
        let primary = |slot: u32| match order {
            SortOrder::ReceivedDesc => -self.index.received_ms[slot as usize],
            SortOrder::ReceivedAsc => self.index.received_ms[slot as usize],
            SortOrder::DueAsc | SortOrder::Id => order.key(&self.slots[slot as usize]).primary,
        };
        let mut keyed: Vec<(i64, u32)> = matched
            .into_iter()
            .map(|slot| (primary(slot), slot))
            .filter(|&(p, slot)| {
                after.is_none_or(|a| {
                    p > a.primary || (p == a.primary && self.slots[slot as usize].id() > a.id)
                })
            })
            .collect();
        if keyed.len() > k && k > 0 {
            keyed.select_nth_unstable_by_key(k - 1, |&(p, _)| p);
            let pivot = keyed[k - 1].0;
            // Keys equal to the k-th one beyond it may still come first by id.
            let (head, tail) = keyed.split_at(k);
            let mut kept = head.to_vec();
            kept.extend(tail.iter().filter(|(p, _)| *p == pivot));
            keyed = kept;
        }
        let mut ranked: Vec<(SortKey<'a>, u32)> = keyed
            .into_iter()
            .map(|(primary, slot)| {
                let id = self.slots[slot as usize].id();
                (SortKey { primary, id }, slot)
            })
            .collect();
        if ranked.len() > k && k > 0 {
            ranked.select_nth_unstable(k - 1);
            ranked.truncate(k);
        }
        ranked.sort_unstable();
        ranked.truncate(k);
        ranked
    }

    /// The first `k` keys after the cursor of an intake-ordered set whose
    /// every row matches: walks the set from the page's end of it and stops
    /// after `k` rows (and the rows tied with the last one).
    fn intake_page<'a>(
        &'a self,
        intake: IntakeRange<'a>,
        order: SortOrder,
        after: Option<SortKey<'_>>,
        k: usize,
    ) -> Vec<(SortKey<'a>, u32)> {
        let mut intake = intake;
        // The cursor bounds the walk: rows before its instant are behind it.
        let cursor_ms = after.and_then(|a| match order {
            SortOrder::ReceivedAsc => Some(a.primary),
            _ => a.primary.checked_neg(),
        });
        if let Some(at) = cursor_ms.and_then(DateTime::from_timestamp_millis) {
            match order {
                SortOrder::ReceivedAsc => intake.from = intake.from.max(Some(at)),
                _ => {
                    let end = at + chrono::Duration::milliseconds(1);
                    intake.before = Some(intake.before.map_or(end, |b| b.min(end)));
                }
            }
        }
        let mut page: Vec<(SortKey<'a>, u32)> = Vec::with_capacity(k + 1);
        let mut last_ms = None;
        let mut visit = |&(at, slot): &Intake| {
            let ms = at.millis();
            if page.len() >= k && last_ms != Some(ms) {
                return false;
            }
            let key = order.key(&self.slots[slot as usize]);
            if after.is_none_or(|a| key > a) {
                page.push((key, slot));
                last_ms = Some(ms);
            }
            true
        };
        let range = intake.range();
        match order {
            SortOrder::ReceivedAsc => {
                for entry in range {
                    if !visit(entry) {
                        break;
                    }
                }
            }
            _ => {
                for entry in range.rev() {
                    if !visit(entry) {
                        break;
                    }
                }
            }
        }
        page.sort_unstable();
        page.truncate(k);
        page
    }

    /// One page of a filtered, ordered list.
    pub fn list(
        &self,
        scope: &Scope,
        query: &ListQuery,
        now: DateTime<Utc>,
    ) -> Result<ListPage, ProjectionError> {
        let (page_size, after) = query.checked()?;
        let after = after.as_ref().map(|(primary, id)| SortKey {
            primary: *primary,
            id: id.as_str(),
        });
        let plan = self.plan(scope, &query.filter);
        let by_intake = matches!(
            query.order,
            SortOrder::ReceivedAsc | SortOrder::ReceivedDesc
        );
        // Keep page_size + 1 keys: the extra one says another page follows.
        let (total, mut keys) = match plan {
            Plan {
                source: Source::Intake(intake),
                exact: true,
            } if by_intake => (
                intake.range().count() as u64,
                self.intake_page(intake, query.order, after, page_size + 1),
            ),
            plan => {
                let matched = self.checked(plan, scope, &query.filter, now);
                (
                    matched.len() as u64,
                    self.smallest(matched, query.order, after, page_size + 1),
                )
            }
        };
        let more = keys.len() > page_size;
        keys.truncate(page_size);
        let next_page_token = match (more, keys.last()) {
            (true, Some((key, _))) => encode_cursor(query.order, key),
            _ => String::new(),
        };
        Ok(ListPage {
            rows: keys
                .iter()
                .map(|&(_, slot)| self.slots[slot as usize].clone())
                .collect(),
            next_page_token,
            total,
        })
    }

    /// The reference for [`LedgerView::list`]: the same page found by
    /// reading every row, without any index. Tests compare the two.
    pub fn list_by_full_scan(
        &self,
        scope: &Scope,
        query: &ListQuery,
        now: DateTime<Utc>,
    ) -> Result<ListPage, ProjectionError> {
        let (page_size, after) = query.checked()?;
        let text = query.filter.text.as_ref().map(|t| t.to_ascii_lowercase());
        let mut keys: Vec<SortKey<'_>> = self
            .slots
            .iter()
            .filter(|row| scope.admits(row) && query.filter.matches(row, now, text.as_deref()))
            .map(|row| query.order.key(row))
            .collect();
        let total = keys.len() as u64;
        keys.sort_unstable();
        keys.retain(|key| {
            after
                .as_ref()
                .is_none_or(|(primary, id)| (key.primary, key.id) > (*primary, id.as_str()))
        });
        let more = keys.len() > page_size;
        keys.truncate(page_size);
        let next_page_token = match (more, keys.last()) {
            (true, Some(key)) => encode_cursor(query.order, key),
            _ => String::new(),
        };
        Ok(ListPage {
            rows: keys
                .iter()
                .filter_map(|key| self.row(key.id).cloned())
                .collect(),
            next_page_token,
            total,
        })
    }

    /// What waits for `unit`, each list ordered by its earliest due time.
    /// Reads only the unit's open rows, which the index keeps as events
    /// move complaints in and out of work.
    pub fn inbox(&self, unit: &str) -> Inbox<'_> {
        let slots = self.index.open_by_unit.get(unit).into_iter().flatten();
        inbox_of(unit, slots.map(|&slot| &self.slots[slot as usize]))
    }

    /// The reference for [`LedgerView::inbox`], reading every row.
    pub fn inbox_by_full_scan(&self, unit: &str) -> Inbox<'_> {
        inbox_of(unit, self.slots.iter())
    }

    /// Open work per unit, for the dispatch centre; units in code order.
    pub fn unit_counts(&self, now: DateTime<Utc>) -> Vec<UnitCounts> {
        let mut counts: BTreeMap<&str, UnitCounts> = BTreeMap::new();
        for (unit, slots) in &self.index.open_by_unit {
            if slots.is_empty() {
                continue;
            }
            let mut c = UnitCounts {
                unit: String::from(*unit),
                ..UnitCounts::default()
            };
            for &slot in slots {
                let row = &self.slots[slot as usize];
                let overdue = u64::from(row.is_overdue(now));
                if row.lead == Some(*unit) {
                    match row.status {
                        ComplaintStatus::Dispatched => c.to_accept += 1,
                        _ => c.in_progress += 1,
                    }
                    c.overdue += overdue;
                }
                let times = row.responsible.iter().filter(|r| *r == unit).count() as u64;
                c.as_responsible += times;
                c.overdue += overdue * times;
            }
            counts.insert(unit, c);
        }
        counts.into_values().collect()
    }

    /// Deadline warnings due at `now` and not yet recorded, the first
    /// `limit` of them in intake order (a caller that writes at most so many per pass need not have
    /// the rest built). A deadline already past due gets only its red
    /// warning. `yellow_at(start, due)` is the policy's yellow mark. Reads
    /// only the rows whose clock runs with a deadline open.
    pub fn due_warnings(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        yellow_at: impl Fn(Timestamp, Timestamp) -> Timestamp + Sync,
    ) -> Vec<DueWarning<'_>> {
        let now = Timestamp::from(now);
        let words = self.index.watched.word_count();
        if limit <= DUE_WARNINGS_ON_ONE_THREAD {
            // A capped pass stops early; a second thread would scan rows
            // whose warnings are never wanted.
            return self.due_warnings_in(0..words, now, limit, &yellow_at);
        }
        // Reading every watched row is bound by fetching rows from memory:
        // two threads scan a half each, and the front half's list goes
        // first, which keeps slot order and the limit's prefix.
        let middle = words / 2;
        let (mut due, back) = crate::parallel::join(
            || self.due_warnings_in(0..middle, now, limit, &yellow_at),
            || self.due_warnings_in(middle..words, now, limit, &yellow_at),
        );
        let room = limit.saturating_sub(due.len());
        due.extend(back.into_iter().take(room));
        due
    }

    /// [`LedgerView::due_warnings`] of the watched rows in these words of
    /// the watched set (64 slots a word).
    fn due_warnings_in(
        &self,
        words: std::ops::Range<usize>,
        now: Timestamp,
        limit: usize,
        yellow_at: &impl Fn(Timestamp, Timestamp) -> Timestamp,
    ) -> Vec<DueWarning<'_>> {
        let mut due = Vec::new();
        for slot in self.index.watched.iter_words(words) {
            if due.len() >= limit {
                break;
            }
            let row = &self.slots[slot as usize];
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
                if due.len() < limit {
                    due.push(DueWarning {
                        row,
                        milestone: deadline.milestone,
                        level,
                        due_at: deadline.due_at,
                    });
                }
            }
        }
        due
    }
}

/// Up to this many warnings, [`LedgerView::due_warnings`] scans on the
/// calling thread and stops when it has them (the server's watcher asks
/// for 10,000 a pass).
const DUE_WARNINGS_ON_ONE_THREAD: usize = 50_000;

/// A deadline warning due and not yet recorded, as the watcher writes it.
/// Points at its row: a scan that finds half a million of them neither
/// copies nor reads an id its caller never asks for ([`DueWarning::id`]).
#[derive(Clone, Copy)]
pub struct DueWarning<'a> {
    row: &'a LedgerRow,
    /// Which deadline.
    pub milestone: Milestone,
    /// Yellow (approaching) or red (missed).
    pub level: WarningLevel,
    /// When the deadline is due.
    pub due_at: Timestamp,
}

impl<'a> DueWarning<'a> {
    /// The complaint.
    pub fn id(&self) -> &'a str {
        self.row.id()
    }

    fn key(&self) -> (&'a str, Milestone, WarningLevel, Timestamp) {
        (self.id(), self.milestone, self.level, self.due_at)
    }
}

impl std::fmt::Debug for DueWarning<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueWarning")
            .field("id", &self.id())
            .field("milestone", &self.milestone)
            .field("level", &self.level)
            .field("due_at", &self.due_at)
            .finish()
    }
}

/// Warnings are the same when they name the same complaint, deadline, level
/// and due time (whichever view's row they point at).
impl PartialEq for DueWarning<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for DueWarning<'_> {}

impl PartialOrd for DueWarning<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// By complaint id, then milestone, level and due time.
impl Ord for DueWarning<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// Where a query finds its candidate rows, and whether they need checking.
struct Plan<'a> {
    source: Source<'a>,
    /// Every candidate passes the scope and the filter: no row needs
    /// reading to decide.
    exact: bool,
}

/// The candidate rows of a query.
enum Source<'a> {
    /// Every row, in slot order.
    All,
    /// One unit's or one area's rows received in a range, in intake order.
    Intake(IntakeRange<'a>),
    /// These slots, in slot order.
    Slots(Vec<u32>),
}

/// An intake-ordered set and the received-at range taken from it.
#[derive(Clone, Copy)]
struct IntakeRange<'a> {
    set: &'a BTreeSet<Intake>,
    /// Received at or after.
    from: Option<DateTime<Utc>>,
    /// Received before.
    before: Option<DateTime<Utc>>,
}

impl<'a> IntakeRange<'a> {
    fn range(self) -> std::collections::btree_set::Range<'a, Intake> {
        use std::ops::Bound;
        let (from, before) = (
            self.from.map(Timestamp::from),
            self.before.map(Timestamp::from),
        );
        let lo = from.map_or(Bound::Unbounded, |t| Bound::Included((t, 0)));
        let hi = before.map_or(Bound::Unbounded, |t| Bound::Excluded((t, 0)));
        match (from, before) {
            // An inverted range matches nothing (and `range` would panic).
            (Some(from), Some(before)) if from > before => self
                .set
                .range((Bound::Included((from, 0)), Bound::Excluded((from, 0)))),
            _ => self.set.range((lo, hi)),
        }
    }
}

impl<'a> Source<'a> {
    fn into_slots(self, rows: usize) -> Box<dyn Iterator<Item = u32> + 'a> {
        match self {
            Source::All => Box::new(0..u32::try_from(rows).unwrap_or(u32::MAX)),
            Source::Intake(intake) => Box::new(intake.range().map(|&(_, slot)| slot)),
            Source::Slots(slots) => Box::new(slots.into_iter()),
        }
    }
}

/// Sorts `unit`'s open rows among `rows` into the inbox's lists, each by
/// earliest due time.
fn inbox_of<'a>(unit: &str, rows: impl Iterator<Item = &'a LedgerRow>) -> Inbox<'a> {
    let mut inbox = Inbox::default();
    for row in rows {
        if !index::is_open(row) || !row.is_assigned(unit) {
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
        list.push(row);
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
