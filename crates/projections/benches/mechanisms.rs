//! The mechanisms view (stations, liaison cadres, experience officers) at
//! city scale: generates a log of about `--events` events (default 1M) —
//! a few thousand registry records, then complaints decided by the domain
//! of which 10% come through a station's QR code, 5% are experience
//! officers' reports and 10% name an enterprise paired with a cadre — into a
//! sled event log, then measures
//!
//! - `read_all` of the whole log in the view's pages (the reference);
//! - the refold: reading the log from position 1 and applying every event
//!   to an empty view, what every start cost before the view had a
//!   checkpoint;
//! - the first start ([`mechanisms::start`] on an empty projection store:
//!   the same fold, writing checkpoints);
//! - a restart ([`mechanisms::start`] again: loading the checkpoint, with
//!   nothing to catch up);
//!
//! and prints what the view holds, as a check that the log is what it
//! claims and that the restarted view equals the refolded one.
//!
//! Run: `cargo bench -p rectify-projections --bench mechanisms -- --events 1000000`
//! (add `--keep DIR` to reuse a generated log on later runs, `--runs N` for
//! more than three of each measurement).

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, TimeZone as _, Utc};
use futures::StreamExt as _;
use rectify_catalog::{Catalog, RouteQuery};
use rectify_domain::{
    Actor, AreaCode, ComplaintId, ComplaintState, DistrictCode, Role, StationCode, UnitCode,
    complaint::{
        self, Channel, Command, CommandKind, ComplaintKind, LiaisonRef, Satisfaction, Submission,
        Submitter, Urgency,
    },
    registry::{
        CreditCode, Enterprise, EnterpriseKind, Liaison, LiaisonLevel, Officer, OfficerKind,
        RegistryEvent, RegistryRecord, Station, credit::check_character,
    },
};
use rectify_eventlog::{
    Durability, EventStore as _, ExpectedVersion, Filter, Metadata, NewEvent, SledStore,
    StoreConfig, Uuid,
};
use rectify_projections::{ProjectionDb, mechanisms, runner::CATCH_UP_PAGE};

const ENTERPRISES: usize = 3_000;
const PAIRED: usize = 2_000;
const CADRES: usize = 200;
const OFFICERS: usize = 300;
const STATIONS: usize = 400;
/// Events per complaint on average (the stages below); sizes the log.
const EVENTS_PER_COMPLAINT: usize = 8;

/// xorshift64*: deterministic choices without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn credit_code(i: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let mut organisation = String::new();
    let mut n = i;
    for _ in 0..9 {
        organisation.insert(0, char::from(ALPHABET[n % ALPHABET.len()]));
        n /= ALPHABET.len();
    }
    let first17 = format!("91150602{organisation}");
    let check = check_character(&first17).unwrap();
    format!("{first17}{check}")
}

fn enterprise_name(i: usize) -> String {
    format!("鄂尔多斯市第{i}商贸有限公司")
}

fn cadre(i: usize) -> String {
    format!("cadre-{:03}", i % CADRES)
}

/// The registries: enterprises, liaison pairs, officers, stations.
fn registry_records(catalog: &Catalog) -> Vec<RegistryRecord> {
    let districts = catalog.districts();
    let units = catalog.units();
    let mut records = Vec::new();
    for i in 0..ENTERPRISES {
        records.push(RegistryRecord::Enterprise(Enterprise {
            credit_code: CreditCode::new(&credit_code(i)).unwrap(),
            name: enterprise_name(i),
            aliases: vec![format!("第{i}商贸")],
            kind: EnterpriseKind::AboveScale,
            district: Some(DistrictCode::new(&districts[i % districts.len()].code).unwrap()),
        }));
    }
    for i in 0..PAIRED {
        records.push(RegistryRecord::Liaison(Liaison {
            credit_code: CreditCode::new(&credit_code(i)).unwrap(),
            cadre: cadre(i),
            level: LiaisonLevel::City,
            from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            to: None,
        }));
    }
    for i in 0..OFFICERS {
        records.push(RegistryRecord::Officer(Officer {
            id: format!("TYG-{i:04}"),
            kind: [
                OfficerKind::PartyGovernment,
                OfficerKind::Business,
                OfficerKind::SocialOrganisation,
                OfficerKind::Citizen,
            ][i % 4],
            round: 1,
            active: true,
        }));
    }
    for i in 0..STATIONS {
        records.push(RegistryRecord::Station(Station {
            code: StationCode::new(&format!("station-{i:04}")).unwrap(),
            name: format!("第{i}便民服务站"),
            district: DistrictCode::new(&districts[i % districts.len()].code).unwrap(),
            unit: UnitCode::new(&units[i % units.len()].code).unwrap(),
        }));
    }
    records
}

/// How complaint `i` came in: through a station, an officer, a paired
/// enterprise, or none of them.
enum Through {
    Station(usize),
    Officer(usize),
    Paired(usize),
    Plain,
}

fn through(rng: &mut Rng) -> Through {
    match rng.below(20) {
        0 | 1 => Through::Station(rng.below(STATIONS)),
        2 => Through::Officer(rng.below(OFFICERS)),
        3 | 4 => Through::Paired(rng.below(PAIRED)),
        _ => Through::Plain,
    }
}

/// The events of one complaint, decided by the domain; stops at a stage
/// chosen by `rng`.
fn lifecycle(i: usize, catalog: &Catalog, rng: &mut Rng, start: DateTime<Utc>) -> Vec<NewEvent> {
    let areas = catalog.areas();
    let districts = catalog.districts();
    let area = &areas[rng.below(areas.len())];
    let district = &districts[rng.below(districts.len())];
    let routing = catalog
        .route(&RouteQuery {
            area: &area.code,
            task: None,
            district: Some(&district.code),
        })
        .expect("every area routes");
    let lead = UnitCode::new(&routing.lead[0]).unwrap();
    let actor = |role, principal: &str| Actor {
        principal: principal.to_owned(),
        role,
    };
    let hotline = actor(Role::Hotline, "bench-hotline");
    let dispatcher = actor(Role::Dispatcher, "bench-dispatcher");
    let unit = actor(Role::Unit(lead.clone()), "bench-unit");
    let hours = |h: i64| start + Duration::hours(h);
    let how = through(rng);
    let (channel, station, officer, enterprise, liaison) = match how {
        Through::Station(s) => (
            Channel::QrCode,
            Some(StationCode::new(&format!("station-{s:04}")).unwrap()),
            None,
            None,
            None,
        ),
        Through::Officer(o) => (
            Channel::ExperienceOfficer,
            None,
            Some(format!("TYG-{o:04}")),
            None,
            None,
        ),
        Through::Paired(e) => (
            Channel::Hotline12345,
            None,
            None,
            Some(enterprise_name(e)),
            Some(LiaisonRef {
                credit_code: credit_code(e),
                enterprise: enterprise_name(e),
                cadre: cadre(e),
                level: LiaisonLevel::City,
            }),
        ),
        Through::Plain => (
            Channel::Hotline12345,
            None,
            None,
            Some(enterprise_name(ENTERPRISES + i % 5_000)),
            None,
        ),
    };
    let cadre_actor = liaison.as_ref().map(|l| actor(Role::Liaison, &l.cadre));
    let mut steps: Vec<(Actor, DateTime<Utc>, CommandKind)> = vec![
        (
            hotline.clone(),
            start,
            CommandKind::Submit(Submission {
                id: ComplaintId::new(&format!("RC-{i:08}")).unwrap(),
                channel,
                kind: ComplaintKind::Complaint,
                submitter: Some(Submitter {
                    name: "王女士".into(),
                    phone: "13812345678".into(),
                    id_number: None,
                }),
                sealed_submitter: None,
                enterprise,
                district: Some(DistrictCode::new(&district.code).unwrap()),
                location: None,
                title: "窗口排队时间长".into(),
                text: "到服务大厅办理营业执照变更，排队两个小时仍未办理。".into(),
                external_ref: Some(format!("12345-{i:08}")),
                station,
                officer,
                dispatch_due_at: hours(2),
            }),
        ),
        (
            dispatcher.clone(),
            hours(1),
            CommandKind::Classify {
                area: AreaCode::new(&area.code).unwrap(),
                task: None,
                district: None,
                tags: vec![],
                urgency: Urgency::Normal,
            },
        ),
        (
            dispatcher.clone(),
            hours(1),
            CommandKind::Dispatch {
                lead: lead.clone(),
                responsible: vec![],
                rule_id: routing.rule_id.clone(),
                override_reason: None,
                accept_due_at: hours(9),
                first_contact_due_at: hours(25),
                resolve_due_at: hours(24 * 15),
                liaison,
            },
        ),
        (unit.clone(), hours(3), CommandKind::Accept),
    ];
    if let Some(cadre) = cadre_actor {
        steps.push((
            cadre,
            hours(5),
            CommandKind::RecordLiaisonNote {
                note: "电话联系企业了解情况".into(),
                contacted: true,
            },
        ));
    }
    steps.extend([
        (
            unit.clone(),
            hours(20),
            CommandKind::RecordStep {
                description: "电话联系投诉人，现场核实".into(),
                evidence: vec![],
                contacted_submitter: true,
            },
        ),
        (
            unit,
            hours(24 * 5),
            CommandKind::SubmitResolution {
                result: "问题已解决".into(),
                evidence: vec![],
            },
        ),
        (
            dispatcher.clone(),
            hours(24 * 6),
            CommandKind::VerifyResolution { note: None },
        ),
        (
            hotline,
            hours(24 * 7),
            CommandKind::RecordCallback {
                valid: true,
                contacted: true,
                solved: rng.below(10) < 8,
                satisfaction: Some(
                    [
                        Satisfaction::Satisfied,
                        Satisfaction::BasicallySatisfied,
                        Satisfaction::Unsatisfied,
                    ][rng.below(3)],
                ),
                comment: None,
            },
        ),
        (dispatcher, hours(24 * 7), CommandKind::Close { note: None }),
    ]);
    // 70% closed, the rest stopped along the way.
    let stage = match rng.below(10) {
        0 => 1,
        1 => 3,
        2 => 5,
        _ => steps.len(),
    };
    steps.truncate(stage);
    let mut state = ComplaintState::default();
    let mut events = Vec::new();
    for (actor, at, kind) in steps {
        let command = Command {
            actor: actor.clone(),
            at,
            kind,
        };
        let decided = complaint::decide(&state, &command).expect("a valid lifecycle");
        for event in decided {
            let (event_type, schema_version, payload) = event.encode();
            events.push(new_event(event_type, schema_version, payload, &actor, at));
            state = complaint::evolve(state, &event);
        }
    }
    events
}

fn new_event(
    event_type: &str,
    schema_version: u32,
    payload: Vec<u8>,
    actor: &Actor,
    at: DateTime<Utc>,
) -> NewEvent {
    NewEvent {
        id: Uuid::new_v4(),
        event_type: event_type.to_owned(),
        schema_version,
        payload,
        metadata: Metadata {
            actor: Some(actor.principal.clone()),
            recorded_at_ms: at.timestamp_millis(),
            ..Metadata::default()
        },
    }
}

/// Appends the registries, then complaints until about `events` events,
/// 256 appends at a time, their intake spread over 90 days.
async fn generate(store: &SledStore, catalog: &Catalog, events: usize) {
    let started = Instant::now();
    let base = Utc.with_ymd_and_hms(2026, 9, 1, 1, 0, 0).unwrap();
    let admin = Actor {
        principal: "bench-admin".into(),
        role: Role::Admin,
    };
    futures::stream::iter(registry_records(catalog))
        .map(|record| {
            let stream = record.stream_name();
            let (event_type, version, payload) =
                RegistryEvent::RegistryRecorded { at: base, record }.encode();
            let event = new_event(event_type, version, payload, &admin, base);
            async move {
                store
                    .append(&stream, ExpectedVersion::NoStream, vec![event])
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(256)
        .collect::<()>()
        .await;
    let complaints = events / EVENTS_PER_COMPLAINT;
    let spacing_ms = (90 * 24 * 3600 * 1000 / complaints.max(1)) as i64;
    futures::stream::iter(0..complaints)
        .map(|i| async move {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64).wrapping_mul(31) | 1);
            let start = base + Duration::milliseconds(spacing_ms * i as i64);
            let events = lifecycle(i, catalog, &mut rng, start);
            store
                .append(
                    &format!("complaint-RC-{i:08}"),
                    ExpectedVersion::NoStream,
                    events,
                )
                .await
                .unwrap();
        })
        .buffer_unordered(256)
        .collect::<()>()
        .await;
    println!(
        "generated {complaints} complaints and the registries, {} events in {:.1} s",
        store.head_position().await.unwrap(),
        started.elapsed().as_secs_f64()
    );
}

/// The command line: `--events N` (default 1M), `--keep DIR`, `--runs N`.
struct Args {
    events: usize,
    keep: Option<PathBuf>,
    runs: usize,
}

fn args() -> Args {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    Args {
        events: arg("--events").map_or(1_000_000, |n| n.parse().unwrap()),
        keep: arg("--keep").map(PathBuf::from),
        runs: arg("--runs").map_or(3, |n| n.parse().unwrap()),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

/// Reads the whole log in the view's pages, applying each page with
/// `apply`: seconds.
async fn read_log(
    store: &SledStore,
    head: u64,
    mut apply: impl FnMut(&[rectify_eventlog::RecordedEvent]),
) -> f64 {
    let started = Instant::now();
    let mut from = 1;
    while from <= head {
        let page = store
            .read_all(from, CATCH_UP_PAGE, &Filter::default())
            .await
            .unwrap();
        apply(&page);
        from = page.last().map_or(head + 1, |e| e.position + 1);
    }
    started.elapsed().as_secs_f64()
}

/// The view's start on `db`, as the server runs it: seconds, and the view.
async fn start(store: &SledStore, db: &ProjectionDb) -> (f64, mechanisms::Mechanisms) {
    let started = Instant::now();
    let (view, task) = mechanisms::start(store.clone(), db).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    task.abort();
    (seconds, view)
}

#[tokio::main]
async fn main() {
    let args = args();
    let temp = tempfile::tempdir().unwrap();
    let dir = args.keep.clone().unwrap_or_else(|| temp.path().join("log"));
    let catalog = Catalog::embedded().unwrap();
    let store = SledStore::open(StoreConfig {
        path: dir,
        durability: Durability::Interval { every_ms: 100 },
        ..StoreConfig::default()
    })
    .unwrap();
    if store.head_position().await.unwrap() == 0 {
        generate(&store, &catalog, args.events).await;
    }
    let head = store.head_position().await.unwrap();
    println!(
        "log: {head} events, {:.0} MiB on disk",
        store.stats().unwrap().size_on_disk_bytes as f64 / 1_048_576.0
    );
    let mut samples: [Vec<f64>; 4] = Default::default();
    let mut refolded = mechanisms::MechanismsView::default();
    let mut restarted = None;
    println!();
    println!(
        "| run | raw read_all s | refold from position 1 s | first start (checkpointing) s | restart from the checkpoint s |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for run in 1..=args.runs {
        let read_s = read_log(&store, head, |_| {}).await;
        refolded = mechanisms::MechanismsView::default();
        let refold_s = read_log(&store, head, |page| {
            for event in page {
                refolded.apply(event).unwrap();
            }
        })
        .await;
        let db = ProjectionDb::open(&temp.path().join(format!("projections-{run}"))).unwrap();
        let (first_s, _) = start(&store, &db).await;
        let (restart_s, view) = start(&store, &db).await;
        println!("| {run} | {read_s:.2} | {refold_s:.2} | {first_s:.2} | {restart_s:.2} |");
        for (sample, value) in samples
            .iter_mut()
            .zip([read_s, refold_s, first_s, restart_s])
        {
            sample.push(value);
        }
        restarted = Some(view);
    }
    let [read_s, refold_s, first_s, restart_s] = samples.map(|mut s| median(&mut s));
    println!();
    println!(
        "median: raw read_all {read_s:.2} s ({:.0} events/s); refold {refold_s:.2} s ({:.0} events/s, {:.2} of the raw read rate); first start {first_s:.2} s; restart {restart_s:.3} s ({:.0}x faster than the refold)",
        head as f64 / read_s,
        head as f64 / refold_s,
        read_s / refold_s,
        refold_s / restart_s
    );
    let stations: u32 = refolded
        .station_rankings()
        .iter()
        .map(|r| r.complaints)
        .sum();
    let liaison: u32 = refolded
        .liaison_reports()
        .iter()
        .map(|r| r.complaints)
        .sum();
    let officers: u32 = refolded
        .officer_tallies()
        .by_officer
        .iter()
        .map(|(_, t)| t.reports)
        .sum();
    println!(
        "the view holds {stations} station complaints, {liaison} liaison complaints, {officers} officer reports"
    );
    if let Some(view) = restarted {
        assert!(
            view.read(|view| *view == refolded),
            "the view restarted from its checkpoint equals the refolded one"
        );
        println!("the view restarted from its checkpoint equals the refolded one");
    }
    let _ = (store.shutdown(), args.keep);
}
