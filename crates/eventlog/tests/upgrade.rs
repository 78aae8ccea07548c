//! Upgrading format-1 and format-2 directories, written by the writers of
//! those formats, to the current format: everything preserved, the chain
//! verifies, a format-1 run cut short resumes and a format-2 run cut short
//! leaves format 2.

use std::path::Path;

use rectify_eventlog::legacy_v1::V1Writer;
use rectify_eventlog::legacy_v2::V2Writer;
use rectify_eventlog::{
    Direction, EventStore, ExpectedVersion, FORMAT_VERSION, Filter, Metadata, NewEvent,
    RecordedEvent, SecretChange, SledStore, StoreConfig, StoreError, Uuid, upgrade_store,
};

fn event(n: u128) -> NewEvent {
    NewEvent {
        id: Uuid::from_u128(n),
        event_type: format!("Type{}", n % 3),
        schema_version: 1 + (n % 2) as u32,
        payload: format!(
            "{{\"n\":{n},\"pad\":\"{}\"}}",
            "y".repeat((n % 50) as usize)
        )
        .into_bytes(),
        metadata: Metadata {
            correlation_id: Some(format!("corr-{}", n / 10)),
            causation_id: n.is_multiple_of(4).then(|| format!("cause-{n}")),
            actor: Some("tester".into()),
            recorded_at_ms: 1_700_000_000_000 + n as i64,
            request_id: None,
        },
    }
}

/// `appends` appends of 1–5 events over 7 streams, with secrets set on
/// every stream and destroyed on one, through `append`.
fn each_append(appends: u128, append: &mut dyn FnMut(&str, Vec<NewEvent>, SecretChange)) {
    let mut n = 0;
    for a in 0..appends {
        let stream = format!("stream-{}", a % 7);
        let count = 1 + a % 5;
        let events = (0..count).map(|_| {
            n += 1;
            event(n)
        });
        let secret = match a {
            0..=6 => SecretChange::Set(format!("secret-{a}").into_bytes()),
            8 => SecretChange::Destroy,
            _ => SecretChange::Keep,
        };
        append(&stream, events.collect(), secret);
    }
}

/// A format-1 log of [`each_append`]'s appends; returns its events.
fn write_v1(dir: &Path, appends: u128) -> Vec<RecordedEvent> {
    let mut writer = V1Writer::open(dir).expect("v1 writer");
    each_append(appends, &mut |stream, events, secret| {
        writer
            .append(stream, ExpectedVersion::Any, events, secret)
            .expect("v1 append");
    });
    writer.events().expect("v1 events")
}

/// A format-2 log of [`each_append`]'s appends; returns its events (read
/// from the same appends through the format-1 writer: both formats store
/// the same envelopes and hashes).
fn write_v2(dir: &Path, appends: u128) -> Vec<RecordedEvent> {
    let mut writer = V2Writer::open(dir).expect("v2 writer");
    each_append(appends, &mut |stream, events, secret| {
        writer
            .append(stream, ExpectedVersion::Any, events, secret)
            .expect("v2 append");
    });
    drop(writer);
    let reference = tempfile::tempdir().expect("temp dir");
    write_v1(reference.path(), appends)
}

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        path: dir.to_path_buf(),
        ..StoreConfig::default()
    }
}

async fn assert_preserved(dir: &Path, expected: &[RecordedEvent]) {
    let store = SledStore::open(config(dir)).expect("opens after the upgrade");
    let all = store
        .read_all(1, usize::MAX, &Filter::default())
        .await
        .expect("read all");
    assert_eq!(all, expected);
    for stream in 0..7 {
        let name = format!("stream-{stream}");
        let of_stream: Vec<_> = expected.iter().filter(|e| e.stream == name).collect();
        let read = store
            .read_stream(&name, 0, Direction::Forward, usize::MAX)
            .await
            .expect("read stream");
        assert_eq!(read.iter().collect::<Vec<_>>(), of_stream);
        let secret = store.stream_secret(&name).await.expect("secret");
        let want = (stream != 1).then(|| format!("secret-{stream}").into_bytes());
        assert_eq!(secret, want, "secret of {name}");
    }
    for event in expected.iter().step_by(13) {
        assert_eq!(
            store.find_event(event.id).await.expect("find").as_ref(),
            Some(event)
        );
    }
    let stats = store.stats().expect("stats");
    assert_eq!((stats.events, stats.streams), (expected.len() as u64, 7));
    let report = store.verify(&mut |_| {}).await.expect("verify");
    assert!(report.ok(), "{report:?}");
    // The upgraded log takes appends where the old one ended.
    let next = store
        .append("stream-0", ExpectedVersion::Any, vec![event(1_000_000)])
        .await
        .expect("append after the upgrade");
    assert_eq!(next.first_position, expected.len() as u64 + 1);
    // A retry of an append made before the upgrade is recognised.
    let first = &expected[0];
    let retry = store
        .append(&first.stream, ExpectedVersion::Any, vec![event(1)])
        .await
        .expect("retry");
    assert!(retry.deduplicated);
    assert_eq!(retry.first_position, 1);
    store.shutdown().expect("shutdown");
}

#[tokio::test]
async fn a_format_1_log_upgrades_with_everything_preserved() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("data");
    let expected = write_v1(&dir, 60);
    assert!(matches!(
        SledStore::open(config(&dir)),
        Err(StoreError::Format { found: 1, .. })
    ));
    let mut last = (0, 0);
    let report = upgrade_store(&dir, &mut |done, head| last = (done, head)).expect("upgrade");
    let head = expected.len() as u64;
    assert_eq!(last, (head, head));
    assert_eq!(
        (report.events, report.converted, report.streams),
        (head, head, 7)
    );
    assert_eq!(report.last_hash, expected[expected.len() - 1].hash);
    assert!(!report.already_current);
    assert_preserved(&dir, &expected).await;
    // Running it again on the upgraded directory changes nothing.
    let again = upgrade_store(&dir, &mut |_, _| {}).expect("upgrade again");
    assert!(again.already_current);
    assert_eq!(FORMAT_VERSION, 5);
}

#[tokio::test]
async fn an_interrupted_upgrade_resumes() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("data");
    // More than one step of the conversion (8 192 events).
    let expected = write_v1(&dir, 3_500);
    let head = expected.len() as u64;
    assert!(head > 8_192, "{head} events");
    let cut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        upgrade_store(&dir, &mut |done, _| {
            assert!(done == 0, "cut short after {done} events");
        })
    }));
    assert!(cut.is_err(), "the first run was cut short");
    // Still format 1: refused, and not half-read.
    assert!(matches!(
        SledStore::open(config(&dir)),
        Err(StoreError::Format { found: 1, .. })
    ));
    let report = upgrade_store(&dir, &mut |_, _| {}).expect("resumed upgrade");
    assert_eq!(report.events, head);
    assert!(report.converted < head, "resumed, not restarted");
    assert_preserved(&dir, &expected).await;
}

#[test]
fn a_directory_without_a_log_is_refused() {
    let temp = tempfile::tempdir().expect("temp dir");
    assert!(matches!(
        upgrade_store(temp.path(), &mut |_, _| {}),
        Err(StoreError::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn a_format_2_log_upgrades_with_everything_preserved() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("data");
    let expected = write_v2(&dir, 60);
    assert!(matches!(
        SledStore::open(config(&dir)),
        Err(StoreError::Format { found: 2, .. })
    ));
    let mut last = (0, 0);
    let report = upgrade_store(&dir, &mut |done, head| last = (done, head)).expect("upgrade");
    let head = expected.len() as u64;
    assert_eq!(last, (head, head));
    assert_eq!(
        (report.events, report.converted, report.streams),
        (head, head, 7)
    );
    assert_eq!(report.last_hash, expected[expected.len() - 1].hash);
    assert!(!report.already_current);
    assert_preserved(&dir, &expected).await;
    let again = upgrade_store(&dir, &mut |_, _| {}).expect("upgrade again");
    assert!(again.already_current);
    assert_eq!(again.events, head + 1, "with the append after the upgrade");
}

#[tokio::test]
async fn a_format_2_upgrade_cut_short_changes_nothing() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("data");
    // More than one progress step of the conversion (8 192 events).
    let expected = write_v2(&dir, 3_500);
    let head = expected.len() as u64;
    assert!(head > 8_192, "{head} events");
    let cut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        upgrade_store(&dir, &mut |done, _| {
            assert!(done == 0, "cut short after {done} events");
        })
    }));
    assert!(cut.is_err(), "the first run was cut short");
    // Still format 2: refused, and not half-read.
    assert!(matches!(
        SledStore::open(config(&dir)),
        Err(StoreError::Format { found: 2, .. })
    ));
    let report = upgrade_store(&dir, &mut |_, _| {}).expect("upgrade");
    assert_eq!((report.events, report.converted), (head, head));
    assert_preserved(&dir, &expected).await;
}
