//! `copy_log`: a copy up to a position holds exactly the source's events up
//! to it, with the same hash chain, and verifies.

use rectify_eventlog::{
    EventStore as _, ExpectedVersion, Filter, Metadata, NewEvent, SecretChange, SledStore,
    StoreConfig, Uuid, copy_log,
};

fn open(path: &std::path::Path) -> SledStore {
    SledStore::open(StoreConfig {
        path: path.to_path_buf(),
        ..StoreConfig::default()
    })
    .expect("open store")
}

fn event(n: u64) -> NewEvent {
    NewEvent {
        id: Uuid::new_v4(),
        event_type: format!("Type{}", n % 3),
        schema_version: 1 + (n % 2) as u32,
        payload: format!("{{\"n\":{n}}}").into_bytes(),
        metadata: Metadata {
            actor: Some(format!("actor-{n}")),
            recorded_at_ms: 1_700_000_000_000 + n as i64,
            request_id: n.is_multiple_of(2).then(|| format!("req-{n}")),
            ..Metadata::default()
        },
    }
}

#[tokio::test]
async fn a_copy_up_to_a_position_has_the_same_events_and_chain() {
    let dir = tempfile::tempdir().unwrap();
    let source = open(&dir.path().join("source"));
    // Interleaved streams and multi-event appends.
    let mut n = 0;
    for round in 0..20u64 {
        for stream in ["a", "b", "c"] {
            let count = 1 + (round % 3) as usize;
            let events = (0..count)
                .map(|_| {
                    n += 1;
                    event(n)
                })
                .collect();
            source
                .append(
                    &format!("{stream}-{}", round % 4),
                    ExpectedVersion::Any,
                    events,
                )
                .await
                .unwrap();
        }
    }
    let head = source.head_position().await.unwrap();
    let upto = head - 5;

    let dest = open(&dir.path().join("copy"));
    let mut calls = 0;
    let report = copy_log(&source, &dest, upto, &mut |_, _| calls += 1)
        .await
        .expect("copy");
    assert_eq!(report.events, upto);
    assert!(calls >= 1);
    assert_eq!(dest.head_position().await.unwrap(), upto);

    let original = source
        .read_all(1, 10_000, &Filter::default())
        .await
        .unwrap();
    let copied = dest.read_all(1, 10_000, &Filter::default()).await.unwrap();
    assert_eq!(copied.len() as u64, upto);
    assert_eq!(
        &original[..upto as usize],
        &copied[..],
        "events, versions and hashes"
    );
    let verified = dest.verify(&mut |_| {}).await.unwrap();
    assert!(verified.ok());

    // The source went on; copying into a store that is not empty is refused.
    let refused = copy_log(&source, &dest, head, &mut |_, _| {}).await;
    assert!(refused.is_err());
    let too_far = copy_log(
        &source,
        &open(&dir.path().join("other")),
        head + 1,
        &mut |_, _| {},
    )
    .await;
    assert!(too_far.is_err());
}

#[tokio::test]
async fn a_copy_carries_live_secrets_and_not_destroyed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let source = open(&dir.path().join("source"));
    for (stream, n) in [("kept", 1), ("destroyed", 2), ("plain", 3)] {
        let secret = match stream {
            "plain" => SecretChange::Keep,
            _ => SecretChange::Set(format!("secret of {stream}").into_bytes()),
        };
        source
            .append_with_secret(stream, ExpectedVersion::NoStream, vec![event(n)], secret)
            .await
            .unwrap();
    }
    source
        .append_with_secret(
            "destroyed",
            ExpectedVersion::Exact(0),
            vec![event(4)],
            SecretChange::Destroy,
        )
        .await
        .unwrap();

    let dest = open(&dir.path().join("copy"));
    let head = source.head_position().await.unwrap();
    copy_log(&source, &dest, head, &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        dest.stream_secret("kept").await.unwrap().as_deref(),
        Some(&b"secret of kept"[..])
    );
    assert_eq!(dest.stream_secret("destroyed").await.unwrap(), None);
    assert_eq!(dest.stream_secret("plain").await.unwrap(), None);
}
