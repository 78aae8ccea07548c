//! Secondary indexes of the issue ledger, so every query people run touches
//! only the rows it needs instead of the whole ledger.
//!
//! Everything here is derived from the rows and rebuilt from them when a
//! checkpoint is loaded, but for one part: the bigram postings of each full
//! block of slots, which never change once the block is full, are stored
//! with the checkpoint and read back instead (`TextIndex::block`). Tests
//! compare the incrementally maintained index, and a loaded one, with one
//! rebuilt from the rows.
//!
//! - per unit and per task area, the row slots ordered by intake time, so a
//!   first page in intake order stops after its rows and a date range is a
//!   range of the set;
//! - per unit, the open rows (dispatched or in progress) it is assigned to:
//!   the rows of its inbox, kept as events move complaints in and out;
//! - the rows the deadline watcher must look at (not closed, clock running,
//!   some deadline open), and the same per unit, so one unit's overdue
//!   items read only its watched rows;
//! - per row, the first and last instant of the facts the evaluation counts,
//!   so a period's evaluation reads only the rows with facts in it;
//! - an inverted index of character bigrams over the searchable text (title,
//!   text, enterprise, ticket number, id; ASCII letters folded to lower
//!   case), because Chinese has no spaces to split words at.

use std::{
    borrow::Cow,
    collections::{BTreeMap, BTreeSet},
    ops::Range,
};

use foldhash::HashMap;
use roaring::RoaringBitmap;

use rectify_domain::complaint::ComplaintStatus;

use crate::{code::Code, row::LedgerRow, timestamp::Timestamp};

/// A row's place in intake order: when it was received, then its slot.
pub(crate) type Intake = (Timestamp, u32);

/// The indexes of one ledger view (see the module doc).
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    /// Unit code → rows where it is the lead or a responsible unit.
    pub(crate) by_unit: HashMap<Code, BTreeSet<Intake>>,
    /// Task area → rows classified in it.
    pub(crate) by_area: HashMap<Code, BTreeSet<Intake>>,
    /// Unit code → open rows (dispatched or in progress) assigned to it.
    pub(crate) open_by_unit: HashMap<Code, BTreeSet<u32>>,
    /// Rows with a running clock and an open deadline.
    pub(crate) watched: SlotSet,
    /// Unit code → its watched rows: every row it could find overdue.
    pub(crate) watched_by_unit: HashMap<Code, BTreeSet<u32>>,
    /// Slot → intake time in milliseconds, so ranking by intake reads a
    /// dense column instead of every matched row.
    pub(crate) received_ms: Vec<i64>,
    /// Character bigrams of the searchable text.
    pub(crate) text: TextIndex,
    /// Slot → the first and last instant (ms) of the facts the evaluation
    /// counts, so a period's evaluation skips rows with none in it.
    pub(crate) fact_span_ms: Vec<(i64, i64)>,
}

/// The span of a row without facts: it overlaps no period.
const NO_FACTS: (i64, i64) = (i64::MAX, i64::MIN);

/// The first and last instant (ms) of the facts the evaluation counts
/// (callbacks, dispatches, closure, reopenings, extensions, missed
/// deadlines).
pub(crate) fn fact_span_ms(row: &LedgerRow) -> (i64, i64) {
    let instants = row
        .callbacks
        .iter()
        .map(|c| c.at)
        .chain(row.dispatches.iter().map(|d| d.at))
        .chain(row.closed_at)
        .chain(row.reopens.iter().map(|f| f.at))
        .chain(row.extensions.iter().map(|f| f.at))
        .chain(row.missed.iter().map(|f| f.at));
    instants.fold(NO_FACTS, |(first, last), at| {
        let ms = at.millis();
        (first.min(ms), last.max(ms))
    })
}

/// Dispatched or in progress: work waits for the assigned units.
pub(crate) fn is_open(row: &LedgerRow) -> bool {
    matches!(
        row.status,
        ComplaintStatus::Dispatched | ComplaintStatus::InProgress
    )
}

/// The deadline watcher has something to look at in this row.
pub(crate) fn is_watched(row: &LedgerRow) -> bool {
    row.status != ComplaintStatus::Closed
        && !row.paused
        && row.deadlines.iter().any(|d| d.met_at.is_none())
}

fn units(row: &LedgerRow) -> impl Iterator<Item = Code> + '_ {
    row.lead.iter().chain(&row.responsible).copied()
}

impl Index {
    /// The index of `rows`, slot `i` being `rows[i]`, built in one pass
    /// (see [`IndexBuilder`]).
    pub(crate) fn build<'a>(rows: impl IntoIterator<Item = &'a LedgerRow>) -> Index {
        let mut builder = IndexBuilder::default();
        for (slot, row) in rows.into_iter().enumerate() {
            builder.add(
                u32::try_from(slot).expect("fewer than 4 billion complaints"),
                row,
            );
        }
        builder.finish()
    }

    /// Indexes a row new to the view; slots arrive in increasing order.
    pub(crate) fn add(&mut self, slot: u32, row: &LedgerRow) {
        // Slots are handed out in order and never reused.
        debug_assert_eq!(slot as usize, self.received_ms.len());
        self.received_ms.push(row.received_at.millis());
        self.fact_span_ms.push(fact_span_ms(row));
        self.text.add(slot, row, &mut Vec::with_capacity(256));
        self.insert(slot, row);
    }

    /// Enters a row under its current units, area and state.
    pub(crate) fn insert(&mut self, slot: u32, row: &LedgerRow) {
        if let Some(span) = self.fact_span_ms.get_mut(slot as usize) {
            *span = fact_span_ms(row);
        }
        let intake = (row.received_at, slot);
        let open = is_open(row);
        let watched = is_watched(row);
        for unit in units(row) {
            self.by_unit.entry(unit).or_default().insert(intake);
            if open {
                self.open_by_unit.entry(unit).or_default().insert(slot);
            }
            if watched {
                self.watched_by_unit.entry(unit).or_default().insert(slot);
            }
        }
        if let Some(area) = &row.area {
            self.by_area.entry(*area).or_default().insert(intake);
        }
        self.watched.set(slot, watched);
    }

    /// Takes a row out from under its current units, area and state.
    pub(crate) fn remove(&mut self, slot: u32, row: &LedgerRow) {
        let intake = (row.received_at, slot);
        for unit in units(row) {
            if let Some(set) = self.by_unit.get_mut(&unit) {
                set.remove(&intake);
            }
            if let Some(set) = self.open_by_unit.get_mut(&unit) {
                set.remove(&slot);
            }
            if let Some(set) = self.watched_by_unit.get_mut(&unit) {
                set.remove(&slot);
            }
        }
        if let Some(area) = &row.area
            && let Some(set) = self.by_area.get_mut(area)
        {
            set.remove(&intake);
        }
        self.watched.set(slot, false);
    }

    /// Follows an event that left the row's units and area as they were
    /// but may have opened or closed it, or started or stopped its clock.
    pub(crate) fn update(&mut self, slot: u32, row: &LedgerRow, was_open: bool, was_watched: bool) {
        let open = is_open(row);
        if open != was_open {
            for unit in units(row) {
                let set = self.open_by_unit.entry(unit).or_default();
                if open {
                    set.insert(slot);
                } else {
                    set.remove(&slot);
                }
            }
        }
        self.fact_span_ms[slot as usize] = fact_span_ms(row);
        let watched = is_watched(row);
        if watched != was_watched {
            self.watched.set(slot, watched);
            for unit in units(row) {
                let set = self.watched_by_unit.entry(unit).or_default();
                if watched {
                    set.insert(slot);
                } else {
                    set.remove(&slot);
                }
            }
        }
    }

    /// Whether two indexes hold the same entries (empty sets left behind by
    /// removals do not count).
    pub(crate) fn same_entries(&self, other: &Index) -> bool {
        fn live<K: Ord + Clone>(map: &HashMap<Code, BTreeSet<K>>) -> BTreeMap<&str, &BTreeSet<K>> {
            map.iter()
                .filter(|(_, set)| !set.is_empty())
                .map(|(k, v)| (k.as_str(), v))
                .collect()
        }
        live(&self.by_unit) == live(&other.by_unit)
            && live(&self.by_area) == live(&other.by_area)
            && live(&self.open_by_unit) == live(&other.open_by_unit)
            && live(&self.watched_by_unit) == live(&other.watched_by_unit)
            && self.watched.iter().eq(other.watched.iter())
            && self.received_ms == other.received_ms
            && self.fact_span_ms == other.fact_span_ms
            && self.text.settled() == other.text.settled()
    }
}

/// An index built from rows given in slot order, as a load does: each set
/// is collected in a vector first and built from it sorted at the end,
/// which costs less than entering the rows one by one (a test compares the
/// two).
#[derive(Debug, Default)]
pub(crate) struct IndexBuilder {
    index: Index,
    by_unit: HashMap<Code, Vec<Intake>>,
    by_area: HashMap<Code, Vec<Intake>>,
    open_by_unit: HashMap<Code, Vec<u32>>,
    watched_by_unit: HashMap<Code, Vec<u32>>,
    /// Scratch space for one row's bigrams.
    grams: Vec<u64>,
    /// Slots below this one have their bigrams from stored blocks
    /// ([`IndexBuilder::add_text_block`]), not from their rows.
    text_stored: u32,
}

impl IndexBuilder {
    /// Takes the stored bigram postings of the block of slots
    /// `slots`, which must start where the blocks taken so far end, before
    /// any row is entered.
    pub(crate) fn add_text_block(
        &mut self,
        slots: Range<u32>,
        postings: Vec<(u64, RoaringBitmap)>,
    ) -> Result<(), String> {
        if slots.start != self.text_stored || !self.index.received_ms.is_empty() {
            return Err(format!(
                "a bigram block of slots {slots:?} does not follow the blocks before it (up to slot {})",
                self.text_stored
            ));
        }
        self.index.text.add_block(postings);
        self.text_stored = slots.end;
        Ok(())
    }

    /// The slots whose bigrams came from stored blocks.
    pub(crate) fn text_stored(&self) -> u32 {
        self.text_stored
    }

    /// Enters the row of the next slot.
    pub(crate) fn add(&mut self, slot: u32, row: &LedgerRow) {
        let index = &mut self.index;
        debug_assert_eq!(slot as usize, index.received_ms.len());
        index.received_ms.push(row.received_at.millis());
        index.fact_span_ms.push(fact_span_ms(row));
        if slot >= self.text_stored {
            index.text.add(slot, row, &mut self.grams);
        }
        let intake = (row.received_at, slot);
        let (open, watched) = (is_open(row), is_watched(row));
        for unit in units(row) {
            self.by_unit.entry(unit).or_default().push(intake);
            if open {
                self.open_by_unit.entry(unit).or_default().push(slot);
            }
            if watched {
                self.watched_by_unit.entry(unit).or_default().push(slot);
            }
        }
        if let Some(area) = row.area {
            self.by_area.entry(area).or_default().push(intake);
        }
        index.watched.set(slot, watched);
    }

    /// The index of the rows entered.
    pub(crate) fn finish(mut self) -> Index {
        self.index.text.settle();
        fn sets<K: Ord>(lists: HashMap<Code, Vec<K>>) -> HashMap<Code, BTreeSet<K>> {
            lists
                .into_iter()
                .map(|(code, mut list)| {
                    list.sort_unstable();
                    (code, BTreeSet::from_iter(list))
                })
                .collect()
        }
        Index {
            by_unit: sets(self.by_unit),
            by_area: sets(self.by_area),
            open_by_unit: sets(self.open_by_unit),
            watched_by_unit: sets(self.watched_by_unit),
            ..self.index
        }
    }
}

/// A set of slots as one bit each: a scan of every row's membership reads
/// 8 KiB per 65,536 rows and visits the members in slot order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SlotSet {
    words: Vec<u64>,
}

impl SlotSet {
    fn set(&mut self, slot: u32, member: bool) {
        let (word, bit) = (slot as usize / 64, slot % 64);
        if word >= self.words.len() {
            if !member {
                return;
            }
            self.words.resize(word + 1, 0);
        }
        if member {
            self.words[word] |= 1 << bit;
        } else {
            self.words[word] &= !(1 << bit);
        }
    }

    /// The members in increasing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.iter_words(0..self.words.len())
    }

    /// How many 64-slot words the set spans.
    pub(crate) fn word_count(&self) -> usize {
        self.words.len()
    }

    /// The members in these words (slots `64 * start` up to `64 * end`),
    /// in increasing order.
    pub(crate) fn iter_words(
        &self,
        words: std::ops::Range<usize>,
    ) -> impl Iterator<Item = u32> + '_ {
        let first = words.start;
        self.words[words]
            .iter()
            .enumerate()
            .flat_map(move |(index, &word)| {
                let base = (first + index) as u32 * 64;
                let mut rest = word;
                std::iter::from_fn(move || {
                    (rest != 0).then(|| {
                        let bit = rest.trailing_zeros();
                        rest &= rest - 1;
                        base + bit
                    })
                })
            })
    }
}

/// An inverted index of character bigrams: bigram → the slots whose
/// searchable text contains it. A row's searchable text never changes after
/// intake, so postings only grow at their end.
///
/// The posting lists are roaring bitmaps: a list holding most slots of a
/// 65,536-slot block (the bigrams of common words, of ticket-number digits)
/// costs one bit a slot there, a sparse one two bytes a slot, against four
/// for a plain `Vec<u32>`; intersecting them works block by block.
///
/// New slots wait in plain per-bigram vectors (`pending`) and are appended
/// to the bitmaps in runs once [`PENDING_LIMIT`] of them wait: a roaring
/// insert searches the containers and then the container, an append of a
/// run pushes. A query reads both, so when the runs are appended changes
/// only the cost.
#[derive(Debug, Clone, Default)]
pub(crate) struct TextIndex {
    postings: HashMap<u64, RoaringBitmap>,
    /// Slots entered since the last [`TextIndex::settle`], by bigram, in
    /// increasing order.
    pending: HashMap<u64, Vec<u32>>,
    /// How many slots `pending` holds in all.
    pending_len: usize,
}

/// Pending slots (all bigrams together) that make [`TextIndex::add`]
/// append them to the bitmaps: about 1,300 rows' worth, 256 KiB.
const PENDING_LIMIT: usize = 65_536;

/// The fields free text searches, as in `ledger::text_matches`.
fn searchable(row: &LedgerRow) -> [&str; 5] {
    let strings = row.strings();
    [
        strings.title,
        strings.text,
        strings.id,
        strings.enterprise.unwrap_or(""),
        strings.external_ref.unwrap_or(""),
    ]
}

fn gram(a: char, b: char) -> u64 {
    (u64::from(u32::from(a)) << 32) | u64::from(u32::from(b))
}

/// The distinct bigrams of `text` (ASCII letters lower-cased), appended to
/// `out`.
fn bigrams(text: &str, out: &mut Vec<u64>) {
    let mut chars = text.chars().map(|c| c.to_ascii_lowercase());
    let Some(mut previous) = chars.next() else {
        return;
    };
    for c in chars {
        out.push(gram(previous, c));
        previous = c;
    }
}

impl TextIndex {
    /// Enters `row`'s bigrams; `grams` is scratch space.
    fn add(&mut self, slot: u32, row: &LedgerRow, grams: &mut Vec<u64>) {
        grams.clear();
        for field in searchable(row) {
            bigrams(field, grams);
        }
        grams.sort_unstable();
        grams.dedup();
        for &g in grams.iter() {
            let waiting = self.pending.entry(g).or_default();
            // Slots only grow, so each slot lands at the end of its lists.
            debug_assert!(waiting.last().is_none_or(|&last| last < slot));
            waiting.push(slot);
        }
        self.pending_len += grams.len();
        if self.pending_len >= PENDING_LIMIT {
            self.settle();
        }
    }

    /// Appends the pending slots to the bitmaps.
    pub(crate) fn settle(&mut self) {
        for (g, slots) in self.pending.drain() {
            let list = self.postings.entry(g).or_default();
            // Each slot is entered once, after every slot already in the list.
            let appended = list.append(slots);
            debug_assert!(appended.is_ok(), "a slot entered out of order");
        }
        self.pending_len = 0;
    }

    /// The postings of the slots in `block`, in bigram order: what the
    /// checkpoint stores of a block once every slot of it is taken (the
    /// text of a taken slot never changes, so neither does this).
    pub(crate) fn block(&mut self, block: Range<u32>) -> Vec<(u64, RoaringBitmap)> {
        self.settle();
        let mut within = RoaringBitmap::new();
        within.insert_range(block);
        let mut postings: Vec<(u64, RoaringBitmap)> = self
            .postings
            .iter()
            .map(|(&gram, slots)| (gram, slots & &within))
            .filter(|(_, slots)| !slots.is_empty())
            .collect();
        postings.sort_unstable_by_key(|&(gram, _)| gram);
        postings
    }

    /// Adds the postings of a stored block (see [`TextIndex::block`]) to
    /// slots not entered here otherwise.
    pub(crate) fn add_block(&mut self, postings: Vec<(u64, RoaringBitmap)>) {
        for (gram, slots) in postings {
            *self.postings.entry(gram).or_default() |= slots;
        }
    }

    /// The postings with every pending slot in them, for comparing indexes.
    fn settled(&self) -> HashMap<u64, RoaringBitmap> {
        let mut settled = self.clone();
        settled.settle();
        settled.postings
    }

    /// The slots whose searchable text holds every bigram of `needle`
    /// (already folded to lower case), in slot order: a superset of the rows
    /// containing it, exact when the needle is one bigram. `None` when the
    /// needle has no bigram (under two characters).
    pub(crate) fn candidates(&self, needle: &str) -> Option<Vec<u32>> {
        let mut grams = Vec::new();
        bigrams(needle, &mut grams);
        grams.sort_unstable();
        grams.dedup();
        if grams.is_empty() {
            return None;
        }
        let mut lists: Vec<Cow<'_, RoaringBitmap>> = Vec::with_capacity(grams.len());
        for g in &grams {
            let list = self.postings.get(g);
            let list = match (list, self.pending.get(g)) {
                (None, None) => return Some(Vec::new()),
                (Some(list), None) => Cow::Borrowed(list),
                (list, Some(waiting)) => {
                    let mut all = list.cloned().unwrap_or_default();
                    all.extend(waiting.iter().copied());
                    Cow::Owned(all)
                }
            };
            lists.push(list);
        }
        // The shortest list first: every intersection is at most its size.
        lists.sort_by_key(|list| list.len());
        let mut lists = lists.into_iter();
        let mut found = lists.next().expect("one list a bigram").into_owned();
        for list in lists {
            if found.is_empty() {
                break;
            }
            found &= list.as_ref();
        }
        Some(found.iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigrams_fold_ascii_and_keep_chinese() {
        let mut grams = Vec::new();
        bigrams("燃气Ab", &mut grams);
        assert_eq!(
            grams,
            vec![gram('燃', '气'), gram('气', 'a'), gram('a', 'b')]
        );
        let mut none = Vec::new();
        bigrams("燃", &mut none);
        assert!(none.is_empty());
    }

    /// Slots found through the bitmaps, the pending runs or both are the
    /// same slots.
    #[test]
    fn candidates_read_settled_and_pending_slots_alike() {
        use crate::codec::tests::full_row_with_id;
        let mut index = TextIndex::default();
        let mut grams = Vec::new();
        let ids: Vec<String> = (0..6).map(|i| format!("RC-{i:02}")).collect();
        for (slot, id) in ids.iter().enumerate() {
            index.add(slot as u32, &full_row_with_id(id), &mut grams);
            if slot == 2 {
                index.settle();
            }
        }
        assert!(!index.pending.is_empty());
        let pending = (index.candidates("接电"), index.candidates("rc-03"));
        assert_eq!(pending.0, Some((0..6).collect()));
        assert_eq!(pending.1, Some(vec![3]));
        assert_eq!(index.candidates("rc-01"), Some(vec![1]));
        index.settle();
        assert!(index.pending.is_empty());
        assert_eq!(
            (index.candidates("接电"), index.candidates("rc-03")),
            pending
        );
        assert_eq!(index.candidates("燃气"), Some(Vec::new()));
        assert_eq!(index.candidates("燃"), None);
    }

    #[test]
    fn a_slot_set_lists_its_members_in_order() {
        let mut set = SlotSet::default();
        for slot in [3, 64, 0, 200, 63] {
            set.set(slot, true);
        }
        set.set(64, false);
        set.set(10_000, false);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 3, 63, 200]);
        assert_eq!(set.word_count(), 4);
        assert_eq!(set.iter_words(0..1).collect::<Vec<_>>(), vec![0, 3, 63]);
        assert_eq!(set.iter_words(1..4).collect::<Vec<_>>(), vec![200]);
        assert!(set.iter_words(2..2).next().is_none());
    }
}
