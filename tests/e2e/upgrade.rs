//! The event log's on-disk format upgrade: `rectify serve` refuses a
//! format-1 or format-2 data directory and names the command; `rectify
//! admin upgrade-store` converts it with everything kept, and the server
//! then serves the same log.

use std::path::Path;

use rectify::pb;
use rectify_eventlog::legacy_v1::V1Writer;
use rectify_eventlog::legacy_v2::V2Writer;
use rectify_eventlog::{
    AppendOutcome, EventStore as _, ExpectedVersion, FORMAT_VERSION, Filter, NewEvent,
    SecretChange, SledStore, StoreConfig, StoreError,
};

use crate::support::{Server, admin_offline, as_role, read_log, submit, submit_and_dispatch};

fn open_store(dir: &Path) -> SledStore {
    SledStore::open(StoreConfig {
        path: dir.to_path_buf(),
        ..StoreConfig::default()
    })
    .expect("open the stopped server's store")
}

/// A writer of an older format.
enum OldWriter {
    V1(V1Writer),
    V2(V2Writer),
}

impl OldWriter {
    fn append(
        &mut self,
        stream: &str,
        expected: ExpectedVersion,
        new: NewEvent,
        secret: SecretChange,
    ) -> Result<AppendOutcome, StoreError> {
        match self {
            OldWriter::V1(writer) => writer.append(stream, expected, vec![new], secret),
            OldWriter::V2(writer) => writer.append(stream, expected, vec![new], secret),
        }
    }
}

/// Writes the log of the current-format directory `from` into a new
/// directory `to` in `format` (1 or 2) with that format's writer, one
/// append per event, each stream's secret set with its first event; copies
/// the master key.
async fn write_as_format(format: u32, from: &Path, to: &Path) {
    let store = open_store(from);
    let events = store
        .read_all(1, usize::MAX, &Filter::default())
        .await
        .expect("read the log");
    let mut writer = match format {
        1 => OldWriter::V1(V1Writer::open(to).expect("format-1 writer")),
        _ => OldWriter::V2(V2Writer::open(to).expect("format-2 writer")),
    };
    for event in events {
        let secret = match event.version {
            0 => store
                .stream_secret(&event.stream)
                .await
                .expect("secret")
                .map_or(SecretChange::Keep, SecretChange::Set),
            _ => SecretChange::Keep,
        };
        let expected = match event.version {
            0 => ExpectedVersion::NoStream,
            v => ExpectedVersion::Exact(v - 1),
        };
        let new = NewEvent {
            id: event.id,
            event_type: event.event_type,
            schema_version: event.schema_version,
            payload: event.payload,
            metadata: event.metadata,
        };
        let outcome = writer
            .append(&event.stream, expected, new, secret)
            .expect("old-format append");
        assert_eq!(outcome.first_position, event.position);
    }
    store.shutdown().expect("close");
    std::fs::copy(from.join("master.key"), to.join("master.key")).expect("copy the master key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_format_1_directory_until_it_is_upgraded() {
    refuses_until_upgraded(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_format_2_directory_until_it_is_upgraded() {
    refuses_until_upgraded(2).await;
}

async fn refuses_until_upgraded(format: u32) {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("current");
    let old = dir.path().join("old");
    let server = Server::start(&current);
    let mut complaints = server.complaints().await;
    let (dispatched, _) = submit_and_dispatch(&mut complaints, "升级前的投诉").await;
    submit(&mut complaints, "第二件").await;
    let log = read_log(&server, "supervisor", None).await;
    assert!(server.stop().success());
    write_as_format(format, &current, &old).await;

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&old)
        .env_remove("RECTIFY_CONFIG")
        .output()
        .expect("run serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rectify admin upgrade-store"), "{stderr}");
    assert!(stderr.contains(&format!("format {format}")), "{stderr}");

    let printed = admin_offline("upgrade-store", &[&old]);
    assert!(
        printed.contains(&format!("{} events", log.len())),
        "{printed}"
    );
    assert!(printed.contains("hash chain verified"), "{printed}");
    // Once more: nothing left to do.
    let again = admin_offline("upgrade-store", &[&old]);
    assert!(
        again.contains(&format!("already in format {FORMAT_VERSION}")),
        "{again}"
    );

    let server = Server::start(&old);
    assert_eq!(read_log(&server, "supervisor", None).await, log);
    let view = server
        .complaints()
        .await
        .get_complaint(as_role(
            pb::GetComplaintRequest {
                complaint_id: dispatched.clone(),
                min_position: 0,
            },
            "hotline",
        ))
        .await
        .expect("get complaint")
        .into_inner()
        .complaint
        .expect("a complaint");
    assert_eq!(
        view.submitter.expect("the data key survived").name,
        "王女士"
    );
    assert!(server.stop().success());
}
