//! The checkpoint's binary encoding of a ledger row, and of what the
//! mechanisms view keeps of a complaint ([`encode_mechanism_facts`]).
//!
//! Compact and quick to read back at start-up: unsigned integers as LEB128
//! varints, signed ones zig-zagged first; a row's instants as nanoseconds
//! since the epoch in 8 little-endian bytes (fewer than the 9 a varint of
//! today's nanoseconds takes, and read without a loop), the mechanisms
//! view's as seconds and nanoseconds; enums as one byte (their index in the
//! lists below), strings and lists prefixed by their length, options by a
//! 0/1 tag, the row's flags in one byte. A row's six strings are one
//! string and where each part ends, so a load checks and copies them once.
//! There is no per-row version: the store keeps one format number
//! (`runner::LEDGER_FORMAT`), and a store in another format is rebuilt from
//! the log, so changing anything here means bumping it (the mechanisms
//! view's facts: `mechanisms::CHECKPOINT_FORMAT`).
//!
//! Decoding checks every length and tag against the bytes at hand and
//! returns an error naming what is wrong; it never panics on bad bytes.

use chrono::{DateTime, Utc};
use rectify_domain::complaint::{
    Channel, ComplaintKind, ComplaintStatus, Milestone, Satisfaction, Urgency, WarningLevel,
};
use roaring::RoaringBitmap;

use crate::{
    code::Code,
    mechanisms::{LiaisonComplaint, OfficerComplaint, StationComplaint},
    row::{CallbackFact, DispatchFact, LedgerRow, PackedStrings, RowDeadline, UnitFact},
    timestamp::Timestamp,
};

const STATUSES: [ComplaintStatus; 8] = [
    ComplaintStatus::Received,
    ComplaintStatus::AwaitingDispatch,
    ComplaintStatus::Dispatched,
    ComplaintStatus::InProgress,
    ComplaintStatus::Resolved,
    ComplaintStatus::Verified,
    ComplaintStatus::CalledBack,
    ComplaintStatus::Closed,
];
const CHANNELS: [Channel; 8] = [
    Channel::Hotline12345,
    Channel::MengSuBanApp,
    Channel::WeChat,
    Channel::WebPortal,
    Channel::QrCode,
    Channel::ExperienceOfficer,
    Channel::SupervisionInspection,
    Channel::Other,
];
const KINDS: [ComplaintKind; 5] = [
    ComplaintKind::Complaint,
    ComplaintKind::Consultation,
    ComplaintKind::Suggestion,
    ComplaintKind::Report,
    ComplaintKind::Praise,
];
const URGENCIES: [Urgency; 4] = [
    Urgency::Emergency,
    Urgency::Urgent,
    Urgency::Normal,
    Urgency::Complex,
];
const SATISFACTIONS: [Satisfaction; 3] = [
    Satisfaction::Satisfied,
    Satisfaction::BasicallySatisfied,
    Satisfaction::Unsatisfied,
];
const MILESTONES: [Milestone; 4] = [
    Milestone::Dispatch,
    Milestone::Accept,
    Milestone::FirstContact,
    Milestone::Resolve,
];
const LEVELS: [WarningLevel; 2] = [WarningLevel::Yellow, WarningLevel::Red];

/// Longest list a decoded row may claim, so a corrupt length cannot make
/// the decoder reserve gigabytes.
const MAX_LIST: usize = 1 << 16;

/// Bits of the flags byte.
const PAUSED: u8 = 1;
const EXTENSION_PENDING: u8 = 2;
const SUPERVISED: u8 = 4;
const APPEAL_UPHELD: u8 = 8;

/// Appends the encoding of `row` to `out`.
pub(crate) fn encode_row(row: &LedgerRow, out: &mut Vec<u8>) {
    let w = &mut Writer(out);
    let strings = row.packed_strings();
    w.str(strings.all);
    for end in strings.ends {
        w.u64(u64::from(end));
    }
    w.0.push(strings.present);
    w.u64(row.version);
    w.u64(row.position);
    w.enumeration(&STATUSES, row.status);
    w.enumeration(&CHANNELS, row.channel);
    w.enumeration(&KINDS, row.kind);
    w.opt_str(row.area.as_deref());
    w.option(row.task, |w, task| w.u64(u64::from(task)));
    w.opt_str(row.district.as_deref());
    w.option(row.urgency, |w, u| w.enumeration(&URGENCIES, u));
    w.opt_str(row.lead.as_deref());
    w.strs(&row.responsible);
    w.strs(&row.accepted);
    w.strs(&row.stepped);
    w.instant(row.received_at);
    w.option(row.resolved_at, Writer::instant);
    w.option(row.closed_at, Writer::instant);
    w.list(&row.deadlines, |w, d| {
        w.enumeration(&MILESTONES, d.milestone);
        w.instant(d.start);
        w.instant(d.due_at);
        w.option(d.met_at, Writer::instant);
        w.option(d.warning, |w, l| w.enumeration(&LEVELS, l));
    });
    w.list(&row.warned, |w, &(milestone, level, due_at)| {
        w.enumeration(&MILESTONES, milestone);
        w.enumeration(&LEVELS, level);
        w.instant(due_at);
    });
    let flags = [
        (row.paused, PAUSED),
        (row.extension_pending, EXTENSION_PENDING),
        (row.supervised, SUPERVISED),
        (row.appeal_upheld, APPEAL_UPHELD),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .fold(0, |flags, (_, bit)| flags | bit);
    w.0.push(flags);
    w.u64(u64::from(row.chase_count));
    w.list(&row.callbacks, |w, c| {
        w.instant(c.at);
        w.opt_str(c.unit.as_deref());
        w.0.push(u8::from(c.valid) | u8::from(c.contacted) << 1 | u8::from(c.solved) << 2);
        w.option(c.satisfaction, |w, s| w.enumeration(&SATISFACTIONS, s));
    });
    w.list(&row.dispatches, |w, d| {
        w.instant(d.at);
        w.str(&d.lead);
        w.instant(d.accept_due_at);
        w.option(d.accepted_at, Writer::instant);
        w.option(d.returned_at, Writer::instant);
    });
    for facts in [&row.extensions, &row.reopens, &row.missed] {
        w.list(facts, |w, f| {
            w.instant(f.at);
            w.opt_str(f.unit.as_deref());
        });
    }
    w.strs(&row.ledger_items);
}

/// Decodes a row [`encode_row`] wrote; every byte must be used.
pub(crate) fn decode_row(bytes: &[u8]) -> Result<LedgerRow, String> {
    let r = &mut Reader(bytes);
    let all = r.str()?;
    let mut ends = [0; 5];
    for end in &mut ends {
        *end = r.u32()?;
    }
    let strings = PackedStrings {
        all,
        ends,
        present: r.byte()?,
    };
    let (version, position) = (r.u64()?, r.u64()?);
    let status = r.enumeration(&STATUSES, "status")?;
    let channel = r.enumeration(&CHANNELS, "channel")?;
    let kind = r.enumeration(&KINDS, "kind")?;
    // The intake time comes later in the bytes; it is set below.
    let mut row = LedgerRow::from_packed(
        strings,
        channel,
        kind,
        Timestamp::from_nanos(0),
        (position, version),
    )?;
    row.status = status;
    row.area = r.option(Reader::code)?;
    row.task =
        r.option(|r| u32::try_from(r.u64()?).map_err(|_| "task number over u32".to_owned()))?;
    row.district = r.option(Reader::code)?;
    row.urgency = r.option(|r| r.enumeration(&URGENCIES, "urgency"))?;
    row.lead = r.option(Reader::code)?;
    row.responsible = r.list(Reader::code)?;
    row.accepted = r.list(Reader::code)?;
    row.stepped = r.list(Reader::code)?;
    row.received_at = r.instant()?;
    row.resolved_at = r.option(Reader::instant)?;
    row.closed_at = r.option(Reader::instant)?;
    row.deadlines = r.list(|r| {
        Ok(RowDeadline {
            milestone: r.enumeration(&MILESTONES, "milestone")?,
            start: r.instant()?,
            due_at: r.instant()?,
            met_at: r.option(Reader::instant)?,
            warning: r.option(|r| r.enumeration(&LEVELS, "warning level"))?,
        })
    })?;
    row.warned = r.list(|r| {
        Ok((
            r.enumeration(&MILESTONES, "milestone")?,
            r.enumeration(&LEVELS, "warning level")?,
            r.instant()?,
        ))
    })?;
    let flags = r.byte()?;
    if flags & !(PAUSED | EXTENSION_PENDING | SUPERVISED | APPEAL_UPHELD) != 0 {
        return Err(format!("unknown row flags {flags:#04x}"));
    }
    row.paused = flags & PAUSED != 0;
    row.extension_pending = flags & EXTENSION_PENDING != 0;
    row.supervised = flags & SUPERVISED != 0;
    row.appeal_upheld = flags & APPEAL_UPHELD != 0;
    row.chase_count = u32::try_from(r.u64()?).map_err(|_| "chase count over u32".to_owned())?;
    row.callbacks = r.list(|r| {
        let at = r.instant()?;
        let unit = r.option(Reader::code)?;
        let bits = r.byte()?;
        if bits > 7 {
            return Err(format!("unknown callback bits {bits:#04x}"));
        }
        Ok(CallbackFact {
            at,
            unit,
            valid: bits & 1 != 0,
            contacted: bits & 2 != 0,
            solved: bits & 4 != 0,
            satisfaction: r.option(|r| r.enumeration(&SATISFACTIONS, "satisfaction"))?,
        })
    })?;
    row.dispatches = r.list(|r| {
        Ok(DispatchFact {
            at: r.instant()?,
            lead: r.code()?,
            accept_due_at: r.instant()?,
            accepted_at: r.option(Reader::instant)?,
            returned_at: r.option(Reader::instant)?,
        })
    })?;
    let unit_facts = |r: &mut Reader<'_>| {
        r.list(|r| {
            Ok(UnitFact {
                at: r.instant()?,
                unit: r.option(Reader::code)?,
            })
        })
    };
    row.extensions = unit_facts(r)?;
    row.reopens = unit_facts(r)?;
    row.missed = unit_facts(r)?;
    row.ledger_items = r.list(Reader::string)?;
    if !r.0.is_empty() {
        return Err(format!("{} bytes left after the row", r.0.len()));
    }
    Ok(row)
}

/// What the mechanisms view keeps of one complaint: its facts as a
/// station's, a liaison cadre's and an officer's complaint, each when it is
/// one.
pub(crate) type MechanismFacts = (
    Option<StationComplaint>,
    Option<LiaisonComplaint>,
    Option<OfficerComplaint>,
);

/// Appends the encoding of one complaint's mechanism facts to `out`.
pub(crate) fn encode_mechanism_facts(
    station: Option<&StationComplaint>,
    liaison: Option<&LiaisonComplaint>,
    officer: Option<&OfficerComplaint>,
    out: &mut Vec<u8>,
) {
    let w = &mut Writer(out);
    w.option(station, |w, f| {
        w.str(&f.station);
        w.datetime(f.received_at);
        w.option(f.closed_at, Writer::datetime);
        w.u64(u64::from(f.callbacks));
        w.u64(u64::from(f.satisfied));
    });
    w.option(liaison, |w, f| {
        w.str(&f.cadre);
        w.str(&f.credit_code);
        w.datetime(f.assigned_at);
        w.option(f.contacted_at, Writer::datetime);
        w.u64(u64::from(f.notes));
        w.0.push(u8::from(f.resolved));
        w.option(f.closed_at, Writer::datetime);
        w.u64(u64::from(f.callbacks));
        w.u64(u64::from(f.satisfied));
        w.u64(u64::from(f.solved));
    });
    w.option(officer, |w, f| {
        w.str(&f.officer);
        w.datetime(f.received_at);
        w.option(f.acknowledged_at, Writer::datetime);
        w.u64(u64::from(f.warnings));
        w.option(f.closed_at, Writer::datetime);
        w.u64(u64::from(f.callbacks));
        w.u64(u64::from(f.satisfied));
    });
}

/// Decodes what [`encode_mechanism_facts`] wrote; every byte must be used.
pub(crate) fn decode_mechanism_facts(bytes: &[u8]) -> Result<MechanismFacts, String> {
    let r = &mut Reader(bytes);
    let station = r.option(|r| {
        Ok(StationComplaint {
            station: r.string()?,
            received_at: r.datetime()?,
            closed_at: r.option(Reader::datetime)?,
            callbacks: r.u32()?,
            satisfied: r.u32()?,
        })
    })?;
    let liaison = r.option(|r| {
        Ok(LiaisonComplaint {
            cadre: r.string()?,
            credit_code: r.string()?,
            assigned_at: r.datetime()?,
            contacted_at: r.option(Reader::datetime)?,
            notes: r.u32()?,
            resolved: match r.byte()? {
                0 => false,
                1 => true,
                other => return Err(format!("{other} is not a yes/no")),
            },
            closed_at: r.option(Reader::datetime)?,
            callbacks: r.u32()?,
            satisfied: r.u32()?,
            solved: r.u32()?,
        })
    })?;
    let officer = r.option(|r| {
        Ok(OfficerComplaint {
            officer: r.string()?,
            received_at: r.datetime()?,
            acknowledged_at: r.option(Reader::datetime)?,
            warnings: r.u32()?,
            closed_at: r.option(Reader::datetime)?,
            callbacks: r.u32()?,
            satisfied: r.u32()?,
        })
    })?;
    if !r.0.is_empty() {
        return Err(format!("{} bytes left after the facts", r.0.len()));
    }
    Ok((station, liaison, officer))
}

/// Appends the encoding of one block of the bigram index: the slots it
/// covers, then each bigram with the slots of the block that hold it (a
/// roaring bitmap in its portable serialisation), in bigram order.
pub(crate) fn encode_text_block(
    slots: std::ops::Range<u32>,
    postings: &[(u64, RoaringBitmap)],
    out: &mut Vec<u8>,
) {
    let w = &mut Writer(out);
    w.u64(u64::from(slots.start));
    w.u64(u64::from(slots.end));
    w.list(postings, |w, (gram, slots)| {
        w.0.extend_from_slice(&gram.to_le_bytes());
        w.u64(slots.serialized_size() as u64);
        // Writing into a `Vec` cannot fail.
        let written = slots.serialize_into(&mut *w.0);
        debug_assert!(written.is_ok());
    });
}

/// One block of the bigram index: the slots it covers and the postings.
pub(crate) type TextBlock = (std::ops::Range<u32>, Vec<(u64, RoaringBitmap)>);

/// Decodes what [`encode_text_block`] wrote; every posting must lie in the
/// block's slots and every byte must be used.
pub(crate) fn decode_text_block(bytes: &[u8]) -> Result<TextBlock, String> {
    let r = &mut Reader(bytes);
    let slots = r.u32()?..r.u32()?;
    if slots.start > slots.end {
        return Err(format!("a block of slots {slots:?} runs backwards"));
    }
    // A block names as many bigrams as its text holds, far more than a
    // row's lists: bounded only by the bytes at hand.
    let postings = r.list_of_at_most(usize::MAX, |r| {
        let gram = u64::from_le_bytes(
            r.bytes(8)?
                .try_into()
                .map_err(|_| "a bigram is not 8 bytes".to_owned())?,
        );
        let len = r.len()?;
        let list = RoaringBitmap::deserialize_from(r.bytes(len)?)
            .map_err(|e| format!("the slots of a bigram do not decode: {e}"))?;
        match (list.min(), list.max()) {
            (Some(first), Some(last)) if slots.contains(&first) && slots.contains(&last) => {
                Ok((gram, list))
            }
            _ => Err(format!("a bigram's slots lie outside the block {slots:?}")),
        }
    })?;
    if !r.0.is_empty() {
        return Err(format!("{} bytes left after the block", r.0.len()));
    }
    Ok((slots, postings))
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u64(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn i64(&mut self, value: i64) {
        self.u64(((value << 1) ^ (value >> 63)) as u64);
    }

    fn str(&mut self, value: &str) {
        self.u64(value.len() as u64);
        self.0.extend_from_slice(value.as_bytes());
    }

    fn opt_str(&mut self, value: Option<&str>) {
        self.option(value, |w, s| w.str(s));
    }

    fn strs<S: AsRef<str>>(&mut self, values: &[S]) {
        self.list(values, |w, s| w.str(s.as_ref()));
    }

    fn instant(&mut self, at: Timestamp) {
        self.0.extend_from_slice(&at.nanos().to_le_bytes());
    }

    fn datetime(&mut self, at: DateTime<Utc>) {
        self.i64(at.timestamp());
        self.u64(u64::from(at.timestamp_subsec_nanos()));
    }

    fn enumeration<T: PartialEq + Copy>(&mut self, all: &[T], value: T) {
        let index = all.iter().position(|v| *v == value);
        // The lists above name every variant; a new one must be added there.
        debug_assert!(index.is_some());
        self.0.push(index.unwrap_or(0) as u8);
    }

    fn option<T>(&mut self, value: Option<T>, f: impl FnOnce(&mut Self, T)) {
        match value {
            None => self.0.push(0),
            Some(value) => {
                self.0.push(1);
                f(self, value);
            }
        }
    }

    fn list<T>(&mut self, values: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.u64(values.len() as u64);
        for value in values {
            f(self, value);
        }
    }
}

/// `bytes` as a string if they are UTF-8. A checkpoint's rows are mostly
/// Chinese text, where the standard library's check walks byte by byte and
/// was a sixth of decoding a row; `simdutf8` checks 32 bytes at a time.
fn utf8(bytes: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(bytes).ok()
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let (&first, rest) = self
            .0
            .split_first()
            .ok_or_else(|| "the row ends early".to_owned())?;
        self.0 = rest;
        Ok(first)
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a number runs over 64 bits".to_owned())
    }

    fn u32(&mut self) -> Result<u32, String> {
        let value = self.u64()?;
        u32::try_from(value).map_err(|_| format!("{value} runs over 32 bits"))
    }

    fn i64(&mut self) -> Result<i64, String> {
        let z = self.u64()?;
        Ok((z >> 1) as i64 ^ -((z & 1) as i64))
    }

    fn len(&mut self) -> Result<usize, String> {
        let len = self.u64()?;
        usize::try_from(len)
            .ok()
            .filter(|&len| len <= self.0.len())
            .ok_or_else(|| format!("a length of {len} runs past the row"))
    }

    fn string(&mut self) -> Result<String, String> {
        self.str().map(str::to_owned)
    }

    /// The next `len` bytes, borrowed.
    fn bytes(&mut self, len: usize) -> Result<&'a [u8], String> {
        if len > self.0.len() {
            return Err(format!("{len} bytes run past the end"));
        }
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(taken)
    }

    /// A string borrowed from the bytes.
    fn str(&mut self) -> Result<&'a str, String> {
        let len = self.len()?;
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        utf8(text).ok_or_else(|| "a string is not UTF-8".to_owned())
    }

    /// A string that is a code, interned without an allocation per row.
    fn code(&mut self) -> Result<Code, String> {
        let len = self.len()?;
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        Code::from_utf8(text).ok_or_else(|| "a code is not UTF-8".to_owned())
    }

    fn instant(&mut self) -> Result<Timestamp, String> {
        let (bytes, rest) = self
            .0
            .split_first_chunk::<8>()
            .ok_or_else(|| "an instant runs past the end".to_owned())?;
        self.0 = rest;
        Ok(Timestamp::from_nanos(i64::from_le_bytes(*bytes)))
    }

    fn datetime(&mut self) -> Result<DateTime<Utc>, String> {
        let secs = self.i64()?;
        let nanos = u32::try_from(self.u64()?).map_err(|_| "nanoseconds over u32".to_owned())?;
        DateTime::from_timestamp(secs, nanos)
            .ok_or_else(|| format!("{secs}.{nanos} is not an instant"))
    }

    fn enumeration<T: Copy>(&mut self, all: &[T], what: &str) -> Result<T, String> {
        let index = self.byte()?;
        all.get(usize::from(index))
            .copied()
            .ok_or_else(|| format!("{index} is no {what}"))
    }

    fn option<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        match self.byte()? {
            0 => Ok(None),
            1 => f(self).map(Some),
            tag => Err(format!("{tag} is not an option tag")),
        }
    }

    /// A list into whichever collection the field keeps (a `Vec`, or a
    /// `SmallVec` or `ThinVec` of the compact row).
    fn list<T, C: Default + Extend<T>>(
        &mut self,
        f: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<C, String> {
        self.list_of_at_most(MAX_LIST, f)
    }

    /// A list of at most `max` items (and, as every item takes a byte or
    /// more, at most as many as bytes remain).
    fn list_of_at_most<T, C: Default + Extend<T>>(
        &mut self,
        max: usize,
        mut f: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<C, String> {
        let len = self.u64()?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= max && len <= self.0.len())
            .ok_or_else(|| format!("a list of {len} items runs past the row"))?;
        let mut items = C::default();
        for _ in 0..len {
            items.extend(Some(f(self)?));
        }
        Ok(items)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::row::RowStrings;
    use chrono::TimeZone as _;
    use smallvec::smallvec;
    use thin_vec::thin_vec;

    fn datetime(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 8, hour, 0, 0).unwrap()
    }

    fn at(hour: u32) -> Timestamp {
        Timestamp::from(datetime(hour))
    }

    /// A row with every field set, options both ways.
    pub(crate) fn full_row() -> LedgerRow {
        full_row_with_id("RC-1")
    }

    /// [`full_row`] with another id.
    pub(crate) fn full_row_with_id(id: &str) -> LedgerRow {
        let strings = RowStrings {
            id,
            submitted_by: "hotline-1",
            title: "用电报装",
            text: "两个月还没有接电",
            enterprise: Some("鄂尔多斯市商贸公司"),
            external_ref: None,
        };
        let received_at = Timestamp::from_nanos(at(1).nanos() + 123_456_789);
        let mut row = LedgerRow::new(
            strings,
            Channel::Other,
            ComplaintKind::Praise,
            received_at,
            (1 << 40, 7),
        );
        row.status = ComplaintStatus::CalledBack;
        row.area = Some("getting-electricity".into());
        row.task = Some(u32::MAX);
        row.urgency = Some(Urgency::Complex);
        row.lead = Some("power-bureau".into());
        // Five units: more than a row keeps inline.
        row.responsible = smallvec![
            "tax-bureau".into(),
            "market-regulation".into(),
            "water".into(),
            "gas-company".into(),
            "housing-bureau".into()
        ];
        row.accepted = smallvec!["power-bureau".into()];
        row.resolved_at = Some(at(5));
        row.deadlines = smallvec![RowDeadline {
            milestone: Milestone::Resolve,
            start: at(1),
            due_at: at(9),
            met_at: None,
            warning: Some(WarningLevel::Red),
        }];
        row.warned = thin_vec![(Milestone::Accept, WarningLevel::Yellow, at(3))];
        row.paused = true;
        row.chase_count = 3;
        row.supervised = true;
        row.appeal_upheld = true;
        row.callbacks = vec![CallbackFact {
            at: at(6),
            unit: None,
            valid: true,
            contacted: false,
            solved: true,
            satisfaction: Some(Satisfaction::BasicallySatisfied),
        }];
        row.dispatches = vec![DispatchFact {
            at: at(2),
            lead: "power-bureau".into(),
            accept_due_at: at(3),
            accepted_at: Some(at(2)),
            returned_at: None,
        }];
        row.extensions = thin_vec![UnitFact {
            at: at(4),
            unit: Some("power-bureau".into()),
        }];
        row.missed = thin_vec![UnitFact {
            at: Timestamp::from_nanos(-5_000_000_000),
            unit: None,
        }];
        row.ledger_items = thin_vec!["L-1/3".into()];
        row
    }

    #[test]
    fn a_row_round_trips() {
        let row = full_row();
        let mut bytes = Vec::new();
        encode_row(&row, &mut bytes);
        assert_eq!(decode_row(&bytes).unwrap(), row);
    }

    /// The strings' packed form: absent parts stay absent, and ends that
    /// leave the text, go backwards or split a character are errors.
    #[test]
    fn packed_strings_round_trip_and_bad_ends_are_errors() {
        let strings = RowStrings {
            id: "RC-1",
            submitted_by: "portal",
            title: "燃气",
            text: "接入收费",
            enterprise: None,
            external_ref: Some("12345-1"),
        };
        let row = LedgerRow::new(
            strings,
            Channel::WebPortal,
            ComplaintKind::Complaint,
            at(1),
            (1, 1),
        );
        let mut bytes = Vec::new();
        encode_row(&row, &mut bytes);
        let decoded = decode_row(&bytes).unwrap();
        assert_eq!(decoded.strings(), strings);
        // The text, then the five ends (one byte each here) and the flags.
        let ends = 1 + "RC-1portal燃气接入收费12345-1".len();
        let decode_with = |end: usize, value: u8| {
            let mut damaged = bytes.clone();
            damaged[ends + end] = value;
            decode_row(&damaged).map(|_| ())
        };
        assert_eq!(bytes[ends..ends + 6], [4, 10, 16, 28, 28, 2]);
        assert!(decode_with(0, 60).unwrap_err().contains("not within"));
        assert!(decode_with(3, 3).unwrap_err().contains("not within"));
        assert!(decode_with(2, 11).unwrap_err().contains("not within"));
        assert_eq!(
            decode_with(4, 30).unwrap_err(),
            "string 4 is absent but not empty"
        );
        assert!(decode_with(5, 4).unwrap_err().contains("string flags"));
        assert_eq!(decode_with(5, 3).map(|_| "present"), Ok("present"));
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        encode_row(&full_row(), &mut bytes);
        // Every truncation fails cleanly.
        for len in 0..bytes.len() {
            assert!(decode_row(&bytes[..len]).is_err(), "prefix of {len} bytes");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            decode_row(&longer).unwrap_err(),
            "1 bytes left after the row"
        );
        // Every single-byte change either fails or decodes to some row.
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0xff;
            let _ = decode_row(&damaged);
        }
    }
    #[test]
    fn mechanism_facts_round_trip_and_damage_is_an_error() {
        let station = StationComplaint {
            station: "dongsheng-hall".into(),
            received_at: datetime(1),
            closed_at: Some(datetime(20)),
            callbacks: 2,
            satisfied: 1,
        };
        let liaison = LiaisonComplaint {
            cadre: "cadre-1".into(),
            credit_code: "91150602MA0YL00019".into(),
            assigned_at: datetime(2),
            contacted_at: Some(datetime(3)),
            notes: 4,
            resolved: true,
            closed_at: None,
            callbacks: 1,
            satisfied: 1,
            solved: 1,
        };
        let officer = OfficerComplaint {
            officer: "TYG-001".into(),
            received_at: datetime(1),
            acknowledged_at: None,
            warnings: 3,
            closed_at: Some(datetime(23)),
            callbacks: 0,
            satisfied: 0,
        };
        for facts in [
            (Some(&station), Some(&liaison), Some(&officer)),
            (Some(&station), None, None),
            (None, Some(&liaison), None),
            (None, None, Some(&officer)),
        ] {
            let mut bytes = Vec::new();
            encode_mechanism_facts(facts.0, facts.1, facts.2, &mut bytes);
            let decoded = decode_mechanism_facts(&bytes).unwrap();
            assert_eq!(decoded.0.as_ref(), facts.0);
            assert_eq!(decoded.1.as_ref(), facts.1);
            assert_eq!(decoded.2.as_ref(), facts.2);
            for len in 0..bytes.len() {
                assert!(decode_mechanism_facts(&bytes[..len]).is_err());
            }
            for i in 0..bytes.len() {
                let mut damaged = bytes.clone();
                damaged[i] ^= 0xff;
                let _ = decode_mechanism_facts(&damaged);
            }
        }
    }
}
