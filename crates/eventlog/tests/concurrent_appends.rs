//! Property test: random concurrent appends with random expected versions.
//! Afterwards per-stream versions are gapless, global positions gapless and
//! increasing, every acknowledged event reads back byte-identical, and every
//! rejected append wrote nothing.

use std::collections::HashMap;

use proptest::prelude::*;
use rectify_eventlog::{
    AppendOutcome, Direction, EventStore, ExpectedVersion, Filter, Metadata, NewEvent, SledStore,
    StoreConfig, StoreError, Uuid,
};

#[derive(Debug, Clone)]
struct Op {
    stream: usize,
    expected: ExpectedVersion,
    payloads: Vec<Vec<u8>>,
}

fn op() -> impl Strategy<Value = Op> {
    let expected = prop_oneof![
        Just(ExpectedVersion::Any),
        Just(ExpectedVersion::NoStream),
        Just(ExpectedVersion::StreamExists),
        (0u64..6).prop_map(ExpectedVersion::Exact),
    ];
    (
        0usize..3,
        expected,
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..4),
    )
        .prop_map(|(stream, expected, payloads)| Op {
            stream,
            expected,
            payloads,
        })
}

fn events(op_index: usize, op: &Op) -> Vec<NewEvent> {
    op.payloads
        .iter()
        .enumerate()
        .map(|(i, payload)| NewEvent {
            id: Uuid::from_u128(((op_index as u128) << 8) | i as u128),
            event_type: format!("T{}", i % 2),
            schema_version: 1,
            payload: payload.clone(),
            metadata: Metadata {
                request_id: Some(format!("op-{op_index}")),
                recorded_at_ms: op_index as i64,
                ..Metadata::default()
            },
        })
        .collect()
}

async fn check(ops: Vec<Op>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(StoreConfig {
        path: dir.path().join("log"),
        ..StoreConfig::default()
    })
    .expect("open");
    let batches: Vec<Vec<NewEvent>> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| events(i, op))
        .collect();
    let appends = ops.iter().zip(&batches).map(|(op, batch)| {
        let store = store.clone();
        let stream = format!("stream-{}", op.stream);
        let expected = op.expected;
        let batch = batch.clone();
        tokio::spawn(async move { store.append(&stream, expected, batch).await })
    });
    let results: Vec<Result<AppendOutcome, StoreError>> = futures::future::join_all(appends)
        .await
        .into_iter()
        .map(|joined| joined.expect("append task"))
        .collect();

    let head = store.head_position().await.expect("head");
    let all = store
        .read_all(1, usize::MAX, &Filter::default())
        .await
        .expect("read all");
    assert_eq!(all.len() as u64, head);
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, e)| e.position == i as u64 + 1)
    );

    let mut acked_events = 0;
    for ((op, batch), result) in ops.iter().zip(&batches).zip(&results) {
        match result {
            Ok(outcome) => {
                assert!(!outcome.deduplicated);
                assert_eq!(
                    outcome.last_position - outcome.first_position + 1,
                    batch.len() as u64
                );
                for (i, new) in batch.iter().enumerate() {
                    let recorded = &all[(outcome.first_position - 1) as usize + i];
                    assert_eq!(recorded.stream, format!("stream-{}", op.stream));
                    assert_eq!(recorded.version, outcome.first_version + i as u64);
                    assert_eq!(
                        (
                            &recorded.id,
                            &recorded.event_type,
                            &recorded.payload,
                            &recorded.metadata
                        ),
                        (&new.id, &new.event_type, &new.payload, &new.metadata)
                    );
                }
                acked_events += batch.len() as u64;
            }
            Err(StoreError::Conflict { .. }) => {
                for new in batch {
                    assert!(store.find_event(new.id).await.expect("find").is_none());
                }
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(acked_events, head, "only acknowledged appends were written");

    let mut per_stream: HashMap<&str, u64> = HashMap::new();
    for event in &all {
        let next = per_stream.entry(event.stream.as_str()).or_default();
        assert_eq!(event.version, *next, "versions gapless in {}", event.stream);
        *next += 1;
    }
    for (stream, count) in per_stream {
        let read = store
            .read_stream(stream, 0, Direction::Forward, usize::MAX)
            .await
            .expect("read stream");
        assert_eq!(read.len() as u64, count);
        assert_eq!(
            store.stream_version(stream).await.expect("version"),
            Some(count - 1)
        );
    }
    assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_appends_keep_the_log_consistent(ops in prop::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(check(ops));
    }
}
