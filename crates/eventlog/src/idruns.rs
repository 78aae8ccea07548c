//! The event-id index of format 4: sorted runs of (event id → place) in
//! finite-state-transducer files beside the segment file.
//!
//! Idempotency needs an exact answer to "is this event id written, and
//! where?" for every id ever appended. Format 3 kept that answer in sled
//! (one random-key insert per event: most of sled's space and memory);
//! format 4 keeps it in immutable files in the `event-ids` directory:
//!
//! | file | what it holds |
//! | --- | --- |
//! | `L-F-T.fst` (level, first and last position, zero-padded) | the ids of positions F..=T, sorted, each mapped to its place packed as `position << 16 \| offset in its batch` |
//! | `*.tmp` | a run being written; removed at open |
//!
//! The indexer thread collects the ids the writer hands it; once it holds
//! `StoreConfig::id_run_events` of them it writes a level-0 run (to a temporary file,
//! synced, renamed, the directory synced) and only then drops those ids
//! from the in-memory [`Unindexed`] map, so an id is always in the map, in
//! a run, or both. When [`FANOUT`] runs of one level follow each other at
//! the end, they are merged into one run of the next level and then
//! deleted: at most `FANOUT - 1` runs a level, so a lookup (newest run
//! first) reads a handful of small maps.
//!
//! The runs always cover positions 1..=T without a gap. At open, a run
//! inside another run's range is a merge's input the merge did not get to
//! delete, and is deleted; anything else that is not a gapless cover
//! within the log's head (a gap, an overlap, a file that does not open, a
//! run past the head after a power loss with interval durability) drops
//! every run, and the ids are indexed again from the segment file, which
//! is the truth. The ids after the last run are read from the segment file
//! at every open (fewer than `StoreConfig::id_run_events` after a clean stop).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use fst::{IntoStreamer, Map, MapBuilder, Streamer};
use memmap2::Mmap;

use crate::sled_store::{Body, Loc};
use crate::{StoreError, Uuid, envelope};

/// The directory of the runs, inside the data directory.
pub(crate) const IDS_DIR: &str = "event-ids";
/// Runs of one level merged into one of the next.
pub(crate) const FANOUT: usize = 4;
/// Events read from the segment file per step when indexing at open.
const OPEN_STEP: u64 = 16_384;

/// Ids committed but not yet in a run, and where they are.
#[derive(Clone, Default)]
pub(crate) struct Unindexed(Arc<Mutex<std::collections::HashMap<Uuid, Loc>>>);

impl Unindexed {
    pub(crate) fn get(&self, id: Uuid) -> Option<Loc> {
        self.lock().get(&id).copied()
    }

    pub(crate) fn insert(&self, ids: &[(Uuid, Loc)]) {
        self.lock().extend(ids.iter().copied());
    }

    fn remove(&self, ids: &[(Uuid, Loc)]) {
        let mut map = self.lock();
        for (id, _) in ids {
            map.remove(id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Uuid, Loc>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One immutable run.
struct Run {
    level: u32,
    first: u64,
    last: u64,
    path: PathBuf,
    map: Map<Mmap>,
}

/// The runs in position order, shared by the writer, the readers and the
/// indexer (which alone changes them).
#[derive(Clone, Default)]
pub(crate) struct Runs(Arc<RwLock<Vec<Arc<Run>>>>);

impl Runs {
    /// Where the event with this id is, if a run holds it.
    pub(crate) fn get(&self, id: Uuid) -> Result<Option<Loc>, StoreError> {
        let runs = self.0.read().unwrap_or_else(|e| e.into_inner());
        for run in runs.iter().rev() {
            if let Some(packed) = run.map.get(id.as_bytes()) {
                return unpack(packed, run.first, run.last, &run.path).map(Some);
            }
        }
        Ok(None)
    }

    /// The last position the runs cover (0 for none).
    pub(crate) fn covered(&self) -> u64 {
        let runs = self.0.read().unwrap_or_else(|e| e.into_inner());
        runs.last().map_or(0, |run| run.last)
    }

    /// Bytes of the run files.
    pub(crate) fn bytes(&self) -> u64 {
        let runs = self.0.read().unwrap_or_else(|e| e.into_inner());
        runs.iter()
            .map(|run| run.map.as_fst().as_bytes().len() as u64)
            .sum()
    }

    /// Number of run files.
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn snapshot(&self) -> Vec<Arc<Run>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn replace(&self, runs: Vec<Arc<Run>>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = runs;
    }
}

fn pack(loc: Loc) -> Result<u64, StoreError> {
    let position = loc.position();
    if loc.offset >= 1 << 16 || position >= 1 << 48 {
        return Err(StoreError::Corrupt {
            position,
            reason: format!(
                "offset {} in its batch or the position is too large for the id index",
                loc.offset
            ),
        });
    }
    Ok(position << 16 | u64::from(loc.offset))
}

fn unpack(packed: u64, first: u64, last: u64, path: &Path) -> Result<Loc, StoreError> {
    let position = packed >> 16;
    let offset = (packed & 0xffff) as u32;
    if position < first || position > last || u64::from(offset) > position {
        return Err(StoreError::Corrupt {
            position,
            reason: format!(
                "the id index run {} names a place outside it",
                path.display()
            ),
        });
    }
    Ok(Loc {
        batch: position - u64::from(offset),
        offset,
    })
}

/// Writes and merges the runs: the indexer thread's, and the open's before it.
pub(crate) struct RunWriter {
    dir: PathBuf,
    runs: Runs,
    /// Ids a level-0 run holds.
    run_ids: usize,
    /// Ids after the runs, in position order.
    pending: Vec<(Uuid, Loc)>,
    /// The last position `pending` reaches.
    through: u64,
}

impl RunWriter {
    /// Opens the runs in `dir` for a log whose head is `head`, then reads
    /// the ids after them from the segment file into `unindexed` (writing
    /// runs of them as they fill). Blocking.
    pub(crate) fn open(
        dir: &Path,
        run_ids: usize,
        body: &Body,
        head: u64,
        limit: u64,
        unindexed: &Unindexed,
    ) -> Result<RunWriter, StoreError> {
        std::fs::create_dir_all(dir)?;
        let runs = match load(dir, head) {
            Ok(runs) => runs,
            Err(reason) => {
                tracing::warn!(
                    dir = %dir.display(),
                    %reason,
                    "indexing every event id again from the segment file"
                );
                remove_runs(dir)?;
                Vec::new()
            }
        };
        let through = runs.last().map_or(0, |run| run.last);
        let mut writer = RunWriter {
            dir: dir.to_path_buf(),
            runs: Runs(Arc::new(RwLock::new(runs))),
            run_ids,
            pending: Vec::new(),
            through,
        };
        while writer.through < head {
            let to = head.min(writer.through + OPEN_STEP);
            let mut ids = Vec::with_capacity((to - writer.through) as usize);
            body.walk(writer.through + 1, to, limit, &mut |loc, bytes| {
                ids.push((envelope::decode(bytes, loc.position())?.id, loc));
                Ok(true)
            })?;
            unindexed.insert(&ids);
            writer.add(ids, to, unindexed)?;
        }
        Ok(writer)
    }

    pub(crate) fn runs(&self) -> Runs {
        self.runs.clone()
    }

    /// Takes the ids of positions after the last ones added, through
    /// `through`; writes a run when `StoreConfig::id_run_events` are
    /// waiting, and drops the ids it wrote from `unindexed`.
    pub(crate) fn add(
        &mut self,
        ids: Vec<(Uuid, Loc)>,
        through: u64,
        unindexed: &Unindexed,
    ) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            self.pending = ids;
        } else {
            self.pending.extend(ids);
        }
        self.through = through;
        if self.pending.len() < self.run_ids {
            return Ok(());
        }
        let first = self.runs.covered() + 1;
        let mut ids = std::mem::take(&mut self.pending);
        let run = write_run(&self.dir, 0, first, through, &mut ids)?;
        let mut runs = self.runs.snapshot();
        runs.push(Arc::new(run));
        self.runs.replace(runs);
        unindexed.remove(&ids);
        self.merge()
    }

    /// Merges the last [`FANOUT`] runs while they share a level.
    fn merge(&mut self) -> Result<(), StoreError> {
        loop {
            let runs = self.runs.snapshot();
            let n = runs.len();
            if n < FANOUT {
                return Ok(());
            }
            let tail = &runs[n - FANOUT..];
            let level = tail[0].level;
            if tail.iter().any(|run| run.level != level) {
                return Ok(());
            }
            let merged = merge_runs(&self.dir, level + 1, tail)?;
            let mut next = runs[..n - FANOUT].to_vec();
            next.push(Arc::new(merged));
            self.runs.replace(next);
            for run in tail {
                // Unlinking a mapped file keeps the mapping valid for
                // lookups still holding it.
                std::fs::remove_file(&run.path)?;
            }
            sync_dir(&self.dir)?;
        }
    }
}

fn run_name(level: u32, first: u64, last: u64) -> String {
    format!("{level:02}-{first:020}-{last:020}.fst")
}

fn parse_name(name: &str) -> Option<(u32, u64, u64)> {
    let stem = name.strip_suffix(".fst")?;
    let mut parts = stem.split('-');
    let level = parts.next()?.parse().ok()?;
    let first = parts.next()?.parse().ok()?;
    let last = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((level, first, last))
}

/// Writes `ids` (sorted here) as the run of positions `first..=last`.
fn write_run(
    dir: &Path,
    level: u32,
    first: u64,
    last: u64,
    ids: &mut [(Uuid, Loc)],
) -> Result<Run, StoreError> {
    ids.sort_unstable_by_key(|(id, _)| *id.as_bytes());
    build(dir, level, first, last, |builder| {
        for (id, loc) in ids.iter() {
            builder
                .insert(id.as_bytes(), pack(*loc)?)
                .map_err(fst_error)?;
        }
        Ok(())
    })
}

/// Merges consecutive runs into one of `level`.
fn merge_runs(dir: &Path, level: u32, runs: &[Arc<Run>]) -> Result<Run, StoreError> {
    let first = runs[0].first;
    let last = runs[runs.len() - 1].last;
    build(dir, level, first, last, |builder| {
        let mut op = fst::map::OpBuilder::new();
        for run in runs {
            op = op.add(run.map.into_stream());
        }
        let mut union = op.union();
        while let Some((key, values)) = union.next() {
            // Ids are unique across the log; a repeat is damage.
            if values.len() != 1 {
                return Err(StoreError::Corrupt {
                    position: first,
                    reason: "an event id appears in two runs of the id index".into(),
                });
            }
            builder.insert(key, values[0].value).map_err(fst_error)?;
        }
        Ok(())
    })
}

/// Builds a run file through `fill`: a temporary file, synced, renamed
/// into place, the directory synced; then maps it.
fn build(
    dir: &Path,
    level: u32,
    first: u64,
    last: u64,
    fill: impl FnOnce(&mut MapBuilder<BufWriter<File>>) -> Result<(), StoreError>,
) -> Result<Run, StoreError> {
    let name = run_name(level, first, last);
    let tmp = dir.join(format!("{name}.tmp"));
    let file = File::create(&tmp)?;
    let mut builder =
        MapBuilder::new(BufWriter::with_capacity(1 << 20, file)).map_err(fst_error)?;
    fill(&mut builder)?;
    let mut out = builder.into_inner().map_err(fst_error)?;
    out.flush()?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let path = dir.join(&name);
    std::fs::rename(&tmp, &path)?;
    sync_dir(dir)?;
    open_run(path, level, first, last).map_err(|reason| StoreError::Corrupt {
        position: first,
        reason,
    })
}

fn open_run(path: PathBuf, level: u32, first: u64, last: u64) -> Result<Run, String> {
    let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mmap = map_file(&file).map_err(|e| format!("{}: {e}", path.display()))?;
    let map = Map::new(mmap).map_err(|e| format!("{}: {e}", path.display()))?;
    if map.len() as u64 != last - first + 1 {
        return Err(format!(
            "{} holds {} ids for {} positions",
            path.display(),
            map.len(),
            last - first + 1
        ));
    }
    Ok(Run {
        level,
        first,
        last,
        path,
        map,
    })
}

/// Maps a run file read-only.
#[allow(unsafe_code)]
fn map_file(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: run files are written whole under a temporary name, synced
    // and renamed into place, and never written again; the store's lock
    // on the data directory keeps other processes of this program out.
    // A run is only ever unlinked, which leaves existing mappings intact.
    unsafe { Mmap::map(file) }
}

/// The runs in `dir`, checked to cover 1..=T (T ≤ `head`) without a gap;
/// a merge's leftover inputs are deleted. `Err(why)` when they do not.
fn load(dir: &Path, head: u64) -> Result<Vec<Arc<Run>>, String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".tmp") {
            std::fs::remove_file(entry.path()).map_err(|e| e.to_string())?;
        } else if let Some((level, first, last)) = parse_name(&name) {
            found.push((first, last, level, entry.path()));
        } else {
            return Err(format!("an unknown file {name}"));
        }
    }
    // By first position, the widest first: a merged run before its inputs.
    found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut runs = Vec::new();
    let mut covered = 0;
    for (first, last, level, path) in found {
        if last <= covered {
            std::fs::remove_file(&path).map_err(|e| e.to_string())?;
            continue;
        }
        if first != covered + 1 || last < first {
            return Err(format!(
                "the runs do not cover the log without a gap: positions {first}..={last} after {covered}"
            ));
        }
        if last > head {
            return Err(format!(
                "a run reaches position {last}, after the end of the log ({head})"
            ));
        }
        runs.push(Arc::new(open_run(path, level, first, last)?));
        covered = last;
    }
    Ok(runs)
}

/// Removes every run file of `dir`.
fn remove_runs(dir: &Path) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn fst_error(error: fst::Error) -> StoreError {
    match error {
        fst::Error::Io(io) => StoreError::Io(io),
        other => StoreError::Storage(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::new_event;
    use crate::{EventStore, ExpectedVersion, NewEvent, SledStore, StoreConfig};

    /// Event `n`, its id scattered so that runs are not written in id order.
    fn event(n: u128) -> NewEvent {
        new_event(
            n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
            "Noted",
            "{}",
        )
    }

    fn config(dir: &Path) -> StoreConfig {
        StoreConfig {
            path: dir.join("log"),
            id_run_events: 8,
            ..StoreConfig::default()
        }
    }

    /// Appends events 1..=n, one to three an append, over five streams;
    /// returns each event's number and position.
    async fn fill(store: &SledStore, from: u128, to: u128) -> Vec<(u128, u64)> {
        let mut placed = Vec::new();
        let mut n = from;
        while n <= to {
            let take = (1 + n % 3).min(to - n + 1);
            let events: Vec<NewEvent> = (n..n + take).map(event).collect();
            let outcome = store
                .append(&format!("s{}", n % 5), ExpectedVersion::Any, events)
                .await
                .expect("append");
            for (i, m) in (n..n + take).enumerate() {
                placed.push((m, outcome.first_position + i as u64));
            }
            n += take;
        }
        placed
    }

    async fn assert_found(store: &SledStore, placed: &[(u128, u64)]) {
        for &(n, position) in placed {
            let found = store
                .find_event(event(n).id)
                .await
                .expect("find")
                .unwrap_or_else(|| panic!("event {n} not found"));
            assert_eq!(found.position, position, "event {n}");
        }
        assert!(
            store
                .find_event(Uuid::from_u128(7))
                .await
                .expect("find")
                .is_none()
        );
    }

    /// A store in `dir` with events 1..=`events`, stopped; their positions.
    async fn stopped_with(dir: &Path, events: u128) -> Vec<(u128, u64)> {
        let store = SledStore::open(config(dir)).expect("open");
        let placed = fill(&store, 1, events).await;
        store.shutdown().expect("shutdown");
        placed
    }

    fn run_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("log").join(IDS_DIR))
            .expect("ids dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn ids_stay_exact_through_runs_merges_and_reopens() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(config(dir.path())).expect("open");
        let placed = fill(&store, 1, 300).await;
        assert_found(&store, &placed).await;
        store.shutdown().expect("shutdown");
        drop(store);
        let files = run_files(dir.path());
        // 300 ids in runs of 8 (cut at commit ends), merged four into one.
        assert!(files.len() < 12, "{files:?}");
        assert!(files.iter().any(|f| f.starts_with("02-")), "{files:?}");

        let store = SledStore::open(config(dir.path())).expect("reopen");
        let written = files
            .iter()
            .map(|f| parse_name(f).expect("name").2)
            .max()
            .expect("a run");
        assert!(written > 280, "{files:?}");
        assert!((written..=300).contains(&store.id_runs().covered()));
        assert_found(&store, &placed).await;
        // A retried append is answered from the runs, and writes nothing.
        // (Event 12 was appended alone: n % 3 == 0 takes one.)
        let (n, position) = placed[11];
        assert_eq!(n, 12);
        let again = store
            .append(&format!("s{}", n % 5), ExpectedVersion::Any, vec![event(n)])
            .await
            .expect("retry");
        assert_eq!(again.first_position, position);
        assert_eq!(store.stats().expect("stats").events, 300);
        let more = fill(&store, 301, 400).await;
        assert_found(&store, &more).await;
        assert_found(&store, &placed).await;
    }

    #[tokio::test]
    async fn a_merge_cut_short_leaves_inputs_that_the_open_deletes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let placed = stopped_with(dir.path(), 120).await;
        let ids_dir = dir.path().join("log").join(IDS_DIR);
        let merged = run_files(dir.path())
            .into_iter()
            .find(|f| f.starts_with("01-"))
            .expect("a merged run");
        let (_, first, last) = parse_name(&merged).expect("name");
        // An input of that merge, as if the merge stopped before deleting
        // it, and a run being written when the process died.
        let mut inputs: Vec<(Uuid, Loc)> = placed
            .iter()
            .filter(|(_, p)| *p >= first && *p < first + 8)
            .map(|&(n, p)| {
                (
                    event(n).id,
                    Loc {
                        batch: p,
                        offset: 0,
                    },
                )
            })
            .collect();
        let input_last = first + inputs.len() as u64 - 1;
        assert!(input_last < last);
        write_run(&ids_dir, 0, first, input_last, &mut inputs).expect("input run");
        std::fs::write(ids_dir.join("00-x.fst.tmp"), b"half").expect("tmp");
        let store = SledStore::open(config(dir.path())).expect("reopen");
        let files = run_files(dir.path());
        assert!(files.contains(&merged), "{files:?}");
        assert!(!files.iter().any(|f| f.ends_with(".tmp")), "{files:?}");
        assert!(
            !files.contains(&run_name(0, first, input_last)),
            "{files:?}"
        );
        assert_found(&store, &placed).await;
    }

    #[tokio::test]
    async fn runs_that_do_not_cover_the_log_are_built_again() {
        for damage in ["gap", "garbage", "past the head", "unknown file"] {
            let dir = tempfile::tempdir().expect("temp dir");
            let placed = stopped_with(dir.path(), 100).await;
            let ids_dir = dir.path().join("log").join(IDS_DIR);
            let files = run_files(dir.path());
            assert!(files.len() >= 2, "{files:?}");
            match damage {
                "gap" => std::fs::remove_file(ids_dir.join(&files[0])).expect("remove"),
                "garbage" => std::fs::write(ids_dir.join(&files[1]), b"not an fst").expect("w"),
                "past the head" => {
                    let mut ids = vec![(
                        Uuid::from_u128(1),
                        Loc {
                            batch: 101,
                            offset: 0,
                        },
                    )];
                    write_run(&ids_dir, 0, 101, 101, &mut ids).expect("run");
                }
                _ => std::fs::write(ids_dir.join("notes.txt"), b"?").expect("w"),
            }
            let store = SledStore::open(config(dir.path())).expect("reopen");
            assert_found(&store, &placed).await;
            // The rebuilt runs alone answer after another reopen.
            store.shutdown().expect("shutdown");
            drop(store);
            let store = SledStore::open(config(dir.path())).expect("reopen");
            assert_found(&store, &placed).await;
            assert!(store.id_runs().count() >= 1, "{damage}");
        }
    }

    #[test]
    fn places_pack_and_unpack() {
        let path = Path::new("r");
        let loc = Loc {
            batch: 1_000_000,
            offset: 74,
        };
        let packed = pack(loc).expect("pack");
        assert_eq!(unpack(packed, 1, 2_000_000, path).expect("unpack"), loc);
        assert!(unpack(packed, 1, 10, path).is_err());
        assert!(
            pack(Loc {
                batch: 1,
                offset: 1 << 16
            })
            .is_err()
        );
    }
}
