//! The behaviour every [`EventStore`] backend must show, written once.
//!
//! Each check is a generic async function over a fresh, empty store opened
//! with the default limits of [`crate::StoreConfig`]. A backend's test file
//! instantiates all of them with [`conformance_tests!`](crate::conformance_tests):
//!
//! ```ignore
//! async fn fresh() -> (SledStore, tempfile::TempDir) { /* open in a temp dir */ }
//! rectify_eventlog::conformance_tests!(fresh);
//! ```
//!
//! Checks panic on failure, like any test assertion.

use std::time::Duration;

use futures::StreamExt;

use crate::{
    Direction, EventStore, ExpectedVersion, Filter, Metadata, NewEvent, RecordedEvent,
    SecretChange, StoreError, Uuid,
};

/// Longest a subscription check waits for one event before failing.
const WAIT: Duration = Duration::from_secs(10);

/// Generates one `#[tokio::test]` per conformance check. `$fresh` is an
/// async fn returning `(store, guard)`; the guard (e.g. a temp dir) lives as
/// long as the test.
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:path) => {
        $crate::conformance_tests!(@each $fresh;
            append_and_read_back,
            expected_versions,
            idempotent_retries,
            limits_and_arguments,
            read_all_filters_and_pages,
            read_stream_pages_both_ways,
            concurrent_appends_stay_gapless,
            subscription_catches_up_then_follows,
            slow_subscriber_falls_back_to_storage,
            verify_walks_the_chain,
            upcasting_reads_old_versions,
            secrets_change_only_with_written_appends,
            an_append_larger_than_a_batch_reads_whole,
            one_commit_with_several_appends_to_a_stream,
            reads_start_and_end_anywhere
        );
    };
    (@each $fresh:path; $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (store, _guard) = $fresh().await;
                $crate::conformance::$check(&store).await;
            }
        )*
    };
}

/// An event with a deterministic id and a JSON payload.
pub fn new_event(id: u128, event_type: &str, payload: &str) -> NewEvent {
    NewEvent {
        id: Uuid::from_u128(id),
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload: payload.as_bytes().to_vec(),
        metadata: Metadata {
            correlation_id: Some(format!("corr-{id}")),
            causation_id: None,
            actor: Some("tester".to_owned()),
            recorded_at_ms: 1_700_000_000_000 + id as i64,
            request_id: None,
        },
    }
}

fn assert_same(recorded: &RecordedEvent, new: &NewEvent) {
    assert_eq!(recorded.id, new.id);
    assert_eq!(recorded.event_type, new.event_type);
    assert_eq!(recorded.schema_version, new.schema_version);
    assert_eq!(recorded.payload, new.payload);
    assert_eq!(recorded.metadata, new.metadata);
}

/// Appends, then reads back through every read path.
pub async fn append_and_read_back<S: EventStore>(store: &S) {
    assert_eq!(store.head_position().await.unwrap(), 0);
    assert_eq!(store.stream_version("a").await.unwrap(), None);
    let events: Vec<_> = (1..=3).map(|i| new_event(i, "Opened", "{}")).collect();
    let outcome = store
        .append("a", ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    assert_eq!(
        (outcome.first_version, outcome.last_version),
        (0, 2),
        "versions start at 0"
    );
    assert_eq!((outcome.first_position, outcome.last_position), (1, 3));
    assert!(!outcome.deduplicated);
    let other = store
        .append(
            "b",
            ExpectedVersion::Any,
            vec![new_event(4, "Other", "[1]")],
        )
        .await
        .unwrap();
    assert_eq!((other.first_version, other.first_position), (0, 4));

    let read = store
        .read_stream("a", 0, Direction::Forward, 10)
        .await
        .unwrap();
    assert_eq!(read.len(), 3);
    for (i, (recorded, new)) in read.iter().zip(&events).enumerate() {
        assert_same(recorded, new);
        assert_eq!(recorded.stream, "a");
        assert_eq!(recorded.version, i as u64);
        assert_eq!(recorded.position, i as u64 + 1);
    }
    assert_eq!(store.stream_version("a").await.unwrap(), Some(2));
    assert_eq!(store.head_position().await.unwrap(), 4);
    let found = store.find_event(Uuid::from_u128(2)).await.unwrap().unwrap();
    assert_eq!(found, read[1]);
    assert!(
        store
            .find_event(Uuid::from_u128(99))
            .await
            .unwrap()
            .is_none()
    );
    let all = store.read_all(1, 100, &Filter::default()).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(&all[..3], &read[..]);
    assert_ne!(all[0].hash, all[1].hash);
    assert!(
        store
            .read_all(5, 10, &Filter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Every expected-version variant, accepted and rejected.
pub async fn expected_versions<S: EventStore>(store: &S) {
    let conflict = |r: Result<_, StoreError>| match r {
        Err(StoreError::Conflict { actual, .. }) => actual,
        other => panic!("expected a conflict, got {other:?}"),
    };
    let actual = conflict(
        store
            .append(
                "s",
                ExpectedVersion::StreamExists,
                vec![new_event(1, "E", "1")],
            )
            .await,
    );
    assert_eq!(actual, None);
    let actual = conflict(
        store
            .append("s", ExpectedVersion::Exact(0), vec![new_event(1, "E", "1")])
            .await,
    );
    assert_eq!(actual, None);
    store
        .append("s", ExpectedVersion::NoStream, vec![new_event(1, "E", "1")])
        .await
        .unwrap();
    let actual = conflict(
        store
            .append("s", ExpectedVersion::NoStream, vec![new_event(2, "E", "2")])
            .await,
    );
    assert_eq!(actual, Some(0));
    let actual = conflict(
        store
            .append("s", ExpectedVersion::Exact(5), vec![new_event(2, "E", "2")])
            .await,
    );
    assert_eq!(actual, Some(0));
    store
        .append("s", ExpectedVersion::Exact(0), vec![new_event(2, "E", "2")])
        .await
        .unwrap();
    store
        .append(
            "s",
            ExpectedVersion::StreamExists,
            vec![new_event(3, "E", "3")],
        )
        .await
        .unwrap();
    let outcome = store
        .append("s", ExpectedVersion::Any, vec![new_event(4, "E", "4")])
        .await
        .unwrap();
    assert_eq!(outcome.last_version, 3);
    // Rejected appends wrote nothing.
    assert_eq!(store.head_position().await.unwrap(), 4);
    assert!(
        store
            .find_event(Uuid::from_u128(5))
            .await
            .unwrap()
            .is_none()
    );
}

/// Re-sent appends return the original numbers; changed content is an error.
pub async fn idempotent_retries<S: EventStore>(store: &S) {
    let events = vec![new_event(1, "E", "1"), new_event(2, "E", "2")];
    let first = store
        .append("s", ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    store
        .append("t", ExpectedVersion::Any, vec![new_event(3, "E", "3")])
        .await
        .unwrap();
    // The expected version no longer holds, but the retry is recognised.
    let again = store
        .append("s", ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    assert!(again.deduplicated);
    assert_eq!(
        (
            again.first_version,
            again.last_version,
            again.first_position,
            again.last_position
        ),
        (
            first.first_version,
            first.last_version,
            first.first_position,
            first.last_position
        )
    );
    assert_eq!(store.head_position().await.unwrap(), 3);

    let mut changed = events.clone();
    changed[1].payload = b"other".to_vec();
    let mismatch = store.append("s", ExpectedVersion::Any, changed).await;
    assert!(
        matches!(mismatch, Err(StoreError::IdempotencyMismatch { event_id }) if event_id == Uuid::from_u128(2)),
        "{mismatch:?}"
    );
    let other_stream = store
        .append("u", ExpectedVersion::Any, events.clone())
        .await;
    assert!(matches!(
        other_stream,
        Err(StoreError::IdempotencyMismatch { .. })
    ));
    let partial = store
        .append(
            "s",
            ExpectedVersion::Any,
            vec![new_event(9, "E", "9"), new_event(1, "E", "1")],
        )
        .await;
    assert!(matches!(
        partial,
        Err(StoreError::IdempotencyMismatch { .. })
    ));
    assert_eq!(store.head_position().await.unwrap(), 3);
    assert!(
        store
            .find_event(Uuid::from_u128(9))
            .await
            .unwrap()
            .is_none()
    );

    // Concurrent duplicates: exactly one write.
    let dup = vec![new_event(20, "E", "20")];
    let (a, b) = futures::join!(
        store.append("d", ExpectedVersion::Any, dup.clone()),
        store.append("d", ExpectedVersion::Any, dup.clone())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.first_position, b.first_position);
    assert!(a.deduplicated ^ b.deduplicated);
    assert_eq!(store.stream_version("d").await.unwrap(), Some(0));
}

/// Default limits (100 events per append, 64 KiB per event) and bad arguments.
pub async fn limits_and_arguments<S: EventStore>(store: &S) {
    let many: Vec<_> = (0..101).map(|i| new_event(1000 + i, "E", "{}")).collect();
    assert!(matches!(
        store.append("s", ExpectedVersion::Any, many).await,
        Err(StoreError::LimitExceeded {
            limit: 100,
            actual: 101,
            ..
        })
    ));
    let mut big = new_event(1, "E", "");
    big.payload = vec![b'x'; 64 * 1024 + 1];
    assert!(matches!(
        store.append("s", ExpectedVersion::Any, vec![big]).await,
        Err(StoreError::LimitExceeded { .. })
    ));
    assert!(matches!(
        store.append("s", ExpectedVersion::Any, vec![]).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        store
            .append("", ExpectedVersion::Any, vec![new_event(1, "E", "")])
            .await,
        Err(StoreError::InvalidArgument(_))
    ));
    let twice = vec![new_event(1, "E", "a"), new_event(1, "E", "a")];
    assert!(matches!(
        store.append("s", ExpectedVersion::Any, twice).await,
        Err(StoreError::InvalidArgument(_))
    ));
    let mut almost = new_event(2, "E", "");
    almost.payload = vec![b'y'; 32 * 1024];
    store
        .append("s", ExpectedVersion::Any, vec![almost.clone()])
        .await
        .unwrap();
    let read = store
        .read_stream("s", 0, Direction::Forward, 1)
        .await
        .unwrap();
    assert_same(&read[0], &almost);
    assert_eq!(store.head_position().await.unwrap(), 1);
}

/// `read_all` pages by position and filters by stream prefix and type.
pub async fn read_all_filters_and_pages<S: EventStore>(store: &S) {
    for i in 0..20u128 {
        let stream = if i % 2 == 0 {
            format!("complaint-{i}")
        } else {
            format!("ledger-{i}")
        };
        let kind = if i % 3 == 0 { "Closed" } else { "Opened" };
        store
            .append(
                &stream,
                ExpectedVersion::NoStream,
                vec![new_event(i + 1, kind, "{}")],
            )
            .await
            .unwrap();
    }
    let page = store.read_all(5, 4, &Filter::default()).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.position).collect::<Vec<_>>(),
        [5, 6, 7, 8]
    );
    let prefix = Filter {
        stream_prefix: Some("ledger-".into()),
        event_types: vec![],
    };
    let ledgers = store.read_all(0, 100, &prefix).await.unwrap();
    assert_eq!(ledgers.len(), 10);
    assert!(ledgers.iter().all(|e| e.stream.starts_with("ledger-")));
    let both = Filter {
        stream_prefix: Some("complaint-".into()),
        event_types: vec!["Closed".into()],
    };
    let closed = store.read_all(1, 100, &both).await.unwrap();
    // i even and divisible by 3: 0, 6, 12, 18.
    assert_eq!(
        closed.iter().map(|e| e.position).collect::<Vec<_>>(),
        [1, 7, 13, 19]
    );
    let paged = store.read_all(8, 2, &both).await.unwrap();
    assert_eq!(
        paged.iter().map(|e| e.position).collect::<Vec<_>>(),
        [13, 19]
    );
}

/// Stream reads forward from a version and backward from the end, paged.
pub async fn read_stream_pages_both_ways<S: EventStore>(store: &S) {
    for chunk in 0..5u128 {
        let events = (0..4)
            .map(|i| new_event(chunk * 4 + i + 1, "E", "{}"))
            .collect();
        store
            .append("s", ExpectedVersion::Any, events)
            .await
            .unwrap();
        store
            .append(
                "noise",
                ExpectedVersion::Any,
                vec![new_event(100 + chunk, "N", "{}")],
            )
            .await
            .unwrap();
    }
    let versions =
        |events: Vec<RecordedEvent>| events.iter().map(|e| e.version).collect::<Vec<_>>();
    let forward = store
        .read_stream("s", 5, Direction::Forward, 3)
        .await
        .unwrap();
    assert_eq!(versions(forward), [5, 6, 7]);
    let backward = store
        .read_stream("s", u64::MAX, Direction::Backward, 3)
        .await
        .unwrap();
    assert_eq!(versions(backward), [19, 18, 17]);
    let backward = store
        .read_stream("s", 2, Direction::Backward, 10)
        .await
        .unwrap();
    assert_eq!(versions(backward), [2, 1, 0]);
    assert!(
        store
            .read_stream("s", 20, Direction::Forward, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .read_stream("none", 0, Direction::Forward, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let all = store
        .read_stream("s", 0, Direction::Forward, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 20);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
}

/// Many appenders on few streams: versions gapless, positions unique.
pub async fn concurrent_appends_stay_gapless<S: EventStore>(store: &S) {
    let appends = (0..64u128).map(|i| {
        let stream = format!("s-{}", i % 4);
        async move {
            store
                .append(
                    &stream,
                    ExpectedVersion::Any,
                    vec![
                        new_event(i * 2 + 1, "E", "{}"),
                        new_event(i * 2 + 2, "E", "{}"),
                    ],
                )
                .await
                .unwrap()
        }
    });
    let outcomes = futures::future::join_all(appends).await;
    let mut positions: Vec<_> = outcomes.iter().map(|o| o.first_position).collect();
    positions.sort_unstable();
    assert_eq!(positions, (0..64).map(|i| i * 2 + 1).collect::<Vec<_>>());
    for s in 0..4 {
        let events = store
            .read_stream(&format!("s-{s}"), 0, Direction::Forward, 100)
            .await
            .unwrap();
        assert_eq!(events.len(), 32);
        assert!(
            events
                .iter()
                .enumerate()
                .all(|(i, e)| e.version == i as u64)
        );
    }
}

async fn next_event(subscription: &mut crate::Subscription) -> RecordedEvent {
    tokio::time::timeout(WAIT, subscription.next())
        .await
        .expect("subscription stalled")
        .expect("subscription ended")
        .expect("subscription failed")
}

/// Catch-up from storage, then live events, no gap and no duplicate.
pub async fn subscription_catches_up_then_follows<S: EventStore>(store: &S) {
    for i in 1..=5u128 {
        store
            .append("s", ExpectedVersion::Any, vec![new_event(i, "E", "{}")])
            .await
            .unwrap();
    }
    let mut all = store.subscribe(3, Filter::default());
    let mut filtered = store.subscribe(
        0,
        Filter {
            stream_prefix: Some("t".into()),
            event_types: vec![],
        },
    );
    // Appends race with the switch from storage to live.
    let writer = async {
        for i in 6..=40u128 {
            let stream = if i % 2 == 0 { "s" } else { "t" };
            store
                .append(stream, ExpectedVersion::Any, vec![new_event(i, "E", "{}")])
                .await
                .unwrap();
        }
    };
    let reader = async {
        let mut seen = Vec::new();
        while seen.len() < 38 {
            seen.push(next_event(&mut all).await.position);
        }
        seen
    };
    let ((), seen) = futures::join!(writer, reader);
    assert_eq!(seen, (3..=40).collect::<Vec<_>>());
    for expected in (7..=39).step_by(2) {
        let event = next_event(&mut filtered).await;
        assert_eq!((event.position, event.stream.as_str()), (expected, "t"));
    }
}

/// A subscriber that reads nothing for a while misses nothing and blocks no one.
pub async fn slow_subscriber_falls_back_to_storage<S: EventStore>(store: &S) {
    let mut slow = store.subscribe(1, Filter::default());
    // Enough separate commits to overrun any reasonable live buffer.
    let total = 600u64;
    for i in 1..=total as u128 {
        store
            .append("s", ExpectedVersion::Any, vec![new_event(i, "E", "{}")])
            .await
            .unwrap();
    }
    for expected in 1..=total {
        assert_eq!(next_event(&mut slow).await.position, expected);
    }
    store
        .append("s", ExpectedVersion::Any, vec![new_event(9999, "E", "{}")])
        .await
        .unwrap();
    assert_eq!(next_event(&mut slow).await.position, total + 1);
}

/// `verify` checks every event and reports progress.
pub async fn verify_walks_the_chain<S: EventStore>(store: &S) {
    let empty = store.verify(&mut |_| {}).await.unwrap();
    assert!(empty.ok());
    assert_eq!(empty.events_checked, 0);
    for i in 0..30u128 {
        let events = (0..3)
            .map(|j| new_event(i * 3 + j + 1, "E", "{}"))
            .collect();
        store
            .append(&format!("s-{}", i % 5), ExpectedVersion::Any, events)
            .await
            .unwrap();
    }
    let mut last = None;
    let report = store.verify(&mut |p| last = Some(p)).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.events_checked, 90);
    let last = last.expect("progress reported");
    assert_eq!((last.checked, last.head), (90, 90));
}

/// A stream's secret is set and destroyed only by appends that write their
/// events; destroying it leaves every event and the hash chain as they were.
pub async fn secrets_change_only_with_written_appends<S: EventStore>(store: &S) {
    let set = |bytes: &[u8]| SecretChange::Set(bytes.to_vec());
    assert_eq!(store.stream_secret("s").await.unwrap(), None);
    store
        .append_with_secret(
            "s",
            ExpectedVersion::NoStream,
            vec![new_event(1, "Created", "{}")],
            set(b"key-1"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.stream_secret("s").await.unwrap().as_deref(),
        Some(&b"key-1"[..])
    );
    assert_eq!(store.stream_secret("other").await.unwrap(), None);

    // A rejected append changes no secret.
    let conflict = store
        .append_with_secret(
            "s",
            ExpectedVersion::NoStream,
            vec![new_event(2, "Created", "{}")],
            set(b"key-2"),
        )
        .await;
    assert!(matches!(conflict, Err(StoreError::Conflict { .. })));
    let destroy_rejected = store
        .append_with_secret(
            "s",
            ExpectedVersion::Exact(7),
            vec![new_event(3, "Erased", "{}")],
            SecretChange::Destroy,
        )
        .await;
    assert!(matches!(destroy_rejected, Err(StoreError::Conflict { .. })));
    // Neither does a deduplicated retry.
    let retry = store
        .append_with_secret(
            "s",
            ExpectedVersion::Any,
            vec![new_event(1, "Created", "{}")],
            set(b"key-3"),
        )
        .await
        .unwrap();
    assert!(retry.deduplicated);
    // Plain appends keep it.
    store
        .append(
            "s",
            ExpectedVersion::Exact(0),
            vec![new_event(4, "Step", "{}")],
        )
        .await
        .unwrap();
    assert_eq!(
        store.stream_secret("s").await.unwrap().as_deref(),
        Some(&b"key-1"[..])
    );

    let before = store.read_all(1, 100, &Filter::default()).await.unwrap();
    store
        .append_with_secret(
            "s",
            ExpectedVersion::Exact(1),
            vec![new_event(5, "Erased", "{}")],
            SecretChange::Destroy,
        )
        .await
        .unwrap();
    assert_eq!(store.stream_secret("s").await.unwrap(), None);
    let after = store.read_all(1, 100, &Filter::default()).await.unwrap();
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "events and hashes unchanged"
    );
    assert!(store.verify(&mut |_| {}).await.unwrap().ok());
}

/// Old schema versions are kept in the envelope and upcast on read.
pub async fn upcasting_reads_old_versions<S: EventStore>(store: &S) {
    #[derive(serde::Deserialize)]
    struct ReceivedV1 {
        text: String,
    }
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Received {
        title: String,
        text: String,
    }
    fn upcast(event: &RecordedEvent) -> Received {
        match (event.event_type.as_str(), event.schema_version) {
            ("Received", 1) => {
                let old: ReceivedV1 = serde_json::from_slice(&event.payload).unwrap();
                Received {
                    title: "(untitled)".into(),
                    text: old.text,
                }
            }
            _ => serde_json::from_slice(&event.payload).unwrap(),
        }
    }
    let old = new_event(1, "Received", r#"{"text":"noise at night"}"#);
    let mut new = new_event(2, "Received", r#"{"title":"Noise","text":"again"}"#);
    new.schema_version = 2;
    store
        .append("c", ExpectedVersion::NoStream, vec![old, new])
        .await
        .unwrap();
    let read = store
        .read_stream("c", 0, Direction::Forward, 10)
        .await
        .unwrap();
    assert_eq!(read[0].schema_version, 1);
    assert_eq!(
        read.iter().map(upcast).collect::<Vec<_>>(),
        [
            Received {
                title: "(untitled)".into(),
                text: "noise at night".into()
            },
            Received {
                title: "Noise".into(),
                text: "again".into()
            },
        ]
    );
}

/// Every window of the log read through `read_all` and of each stream
/// through `read_stream` both ways equals the same slice of the whole:
/// reads that start or end inside what a backend stores together.
async fn check_every_window<S: EventStore>(store: &S, streams: &[&str]) {
    let all = store
        .read_all(1, usize::MAX, &Filter::default())
        .await
        .unwrap();
    let head = store.head_position().await.unwrap();
    assert_eq!(all.len() as u64, head);
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, e)| e.position == i as u64 + 1)
    );
    for from in 1..=head {
        for count in [1, 2, 3, 7] {
            let page = store
                .read_all(from, count, &Filter::default())
                .await
                .unwrap();
            let start = from as usize - 1;
            let want = &all[start..(start + count).min(all.len())];
            assert_eq!(page, want, "read_all({from}, {count})");
        }
    }
    for stream in streams {
        let whole: Vec<RecordedEvent> = all
            .iter()
            .filter(|e| e.stream == *stream)
            .cloned()
            .collect();
        assert!(whole.iter().enumerate().all(|(i, e)| e.version == i as u64));
        let last = whole.len() as u64;
        for from in 0..=last {
            for count in [1, 2, 5] {
                let forward = store
                    .read_stream(stream, from, Direction::Forward, count)
                    .await
                    .unwrap();
                let start = (from as usize).min(whole.len());
                let want = &whole[start..(start + count).min(whole.len())];
                assert_eq!(forward, want, "{stream} forward from {from}, {count}");
                let backward = store
                    .read_stream(stream, from, Direction::Backward, count)
                    .await
                    .unwrap();
                let end = (from as usize + 1).min(whole.len());
                let want: Vec<_> = whole[..end].iter().rev().take(count).cloned().collect();
                assert_eq!(backward, want, "{stream} backward from {from}, {count}");
            }
        }
    }
}

/// An append of events too large to share one stored unit (five of 20 kB)
/// is still one append: whole, contiguous, readable from any event.
pub async fn an_append_larger_than_a_batch_reads_whole<S: EventStore>(store: &S) {
    let big = |id: u128| {
        let mut event = new_event(id, "Big", "{}");
        event.payload = format!("{{\"pad\":\"{}\"}}", "z".repeat(20_000)).into_bytes();
        event
    };
    store
        .append("small", ExpectedVersion::Any, vec![new_event(1, "E", "{}")])
        .await
        .unwrap();
    let outcome = store
        .append("big", ExpectedVersion::NoStream, (2..=6).map(big).collect())
        .await
        .unwrap();
    assert_eq!(
        (
            outcome.first_position,
            outcome.last_position,
            outcome.last_version
        ),
        (2, 6, 4)
    );
    store
        .append(
            "small",
            ExpectedVersion::Exact(0),
            vec![new_event(7, "E", "{}")],
        )
        .await
        .unwrap();
    // A retry of the whole append is recognised across its stored parts.
    let retry = store
        .append("big", ExpectedVersion::NoStream, (2..=6).map(big).collect())
        .await
        .unwrap();
    assert!(retry.deduplicated);
    assert_eq!((retry.first_position, retry.last_position), (2, 6));
    for id in 2..=6u128 {
        let found = store
            .find_event(Uuid::from_u128(id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.position, id as u64);
        assert_same(&found, &big(id));
    }
    assert_eq!(store.stream_version("big").await.unwrap(), Some(4));
    check_every_window(store, &["big", "small"]).await;
    assert!(store.verify(&mut |_| {}).await.unwrap().ok());
}

/// Concurrent appends to one stream, most of them committed together:
/// each keeps its own versions, and the stream reads back in order from
/// any version.
pub async fn one_commit_with_several_appends_to_a_stream<S: EventStore>(store: &S) {
    let appends = (0..24u128).map(|i| async move {
        let count = 1 + i % 3;
        let events = (0..count)
            .map(|j| new_event(i * 10 + j + 1, "E", "{}"))
            .collect();
        let stream = if i % 4 == 3 { "other" } else { "one" };
        let outcome = store
            .append(stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
        (i, stream, outcome)
    });
    let outcomes = futures::future::join_all(appends).await;
    for (i, stream, outcome) in outcomes {
        let count = 1 + i % 3;
        assert_eq!(
            outcome.last_version - outcome.first_version + 1,
            count as u64
        );
        let events = store
            .read_stream(
                stream,
                outcome.first_version,
                Direction::Forward,
                count as usize,
            )
            .await
            .unwrap();
        let ids: Vec<_> = events.iter().map(|e| e.id).collect();
        let want: Vec<_> = (0..count)
            .map(|j| Uuid::from_u128(i * 10 + j + 1))
            .collect();
        assert_eq!(ids, want, "append {i}");
        assert_eq!(events[0].position, outcome.first_position);
    }
    check_every_window(store, &["one", "other"]).await;
}

/// Reads from and to every position of a log written in appends of mixed
/// sizes to interleaved streams.
pub async fn reads_start_and_end_anywhere<S: EventStore>(store: &S) {
    let mut id = 0;
    for round in 0..6u128 {
        let appends = (0..5u128).map(|k| {
            let events: Vec<NewEvent> = (0..1 + (round + k) % 4)
                .map(|j| new_event(round * 1_000 + k * 10 + j + 1, "E", "{}"))
                .collect();
            id += events.len();
            async move {
                store
                    .append(&format!("s-{}", k % 3), ExpectedVersion::Any, events)
                    .await
                    .unwrap()
            }
        });
        futures::future::join_all(appends.collect::<Vec<_>>()).await;
    }
    assert_eq!(store.head_position().await.unwrap(), id as u64);
    check_every_window(store, &["s-0", "s-1", "s-2"]).await;
}
