//! Personal data (PIPL): sealed at rest with a per-complaint data key,
//! opened only for the roles that need it, and erased for good by
//! destroying the key while the history stays verifiable.

use std::path::{Path, PathBuf};

use rectify::pb::{self, complaint_service_client::ComplaintServiceClient};
use rectify_eventlog::{EventStore as _, SledStore, StoreConfig};
use tonic::{Code, transport::Channel};

use crate::support::{
    Server, admin_offline, as_role, as_unit, backup, classify_and_dispatch, read_log,
    submit_as_hotline, submit_request,
};

const NAME: &str = "欧阳明月";
const PHONE: &str = "13998761234";
const ID_NUMBER: &str = "15060219850312771X";

fn private_submission(title: &str) -> pb::SubmitComplaintRequest {
    let mut request = submit_request(title);
    request.submitter = Some(pb::Submitter {
        name: NAME.into(),
        phone: PHONE.into(),
        id_number: ID_NUMBER.into(),
    });
    request
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        } else {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

async fn view_as(
    server: &Server,
    id: &str,
    request: impl FnOnce(pb::GetComplaintRequest) -> tonic::Request<pb::GetComplaintRequest>,
) -> pb::ComplaintView {
    server
        .complaints()
        .await
        .get_complaint(request(pb::GetComplaintRequest {
            complaint_id: id.into(),
            min_position: 0,
        }))
        .await
        .expect("get complaint")
        .into_inner()
        .complaint
        .expect("a complaint")
}

fn open_store(dir: &Path) -> SledStore {
    SledStore::open(StoreConfig {
        path: dir.to_path_buf(),
        ..StoreConfig::default()
    })
    .expect("open the stopped server's store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_is_sealed_at_rest_and_shown_only_to_those_who_need_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let mut c = server.complaints().await;
    let id = submit_private(&mut c, "供电所拖延接电").await;
    let lead = classify_and_dispatch(&mut c, &id).await;

    // Those who handle the submitter see the data in clear: the hotline,
    // the dispatch centre and the assigned unit.
    for view in [
        view_as(&server, &id, |r| as_role(r, "hotline")).await,
        view_as(&server, &id, |r| as_role(r, "dispatcher")).await,
        view_as(&server, &id, |r| as_unit(r, &lead)).await,
    ] {
        let submitter = view.submitter.expect("submitter");
        assert_eq!(
            (submitter.name.as_str(), submitter.phone.as_str()),
            (NAME, PHONE)
        );
        assert_eq!(submitter.id_number, ID_NUMBER);
        assert!(
            !view.state_json.contains("s1."),
            "no sealed token in replies"
        );
    }
    // Supervisors see it masked.
    let masked = view_as(&server, &id, |r| as_role(r, "supervisor"))
        .await
        .submitter
        .unwrap();
    assert_eq!(masked.phone, "139****1234");
    assert_eq!(masked.name, "欧***");
    assert!(!masked.id_number.contains("19850312"));

    // The log as read: clear for the hotline, masked for supervisors; the
    // sealed token never leaves the server.
    let clear = read_log(&server, "hotline", None).await;
    let received = |events: &[pb::Event]| {
        events
            .iter()
            .find(|e| e.event_type == "ComplaintReceived")
            .unwrap()
            .payload_json
            .clone()
    };
    assert!(received(&clear).contains(PHONE));
    let supervised = received(&read_log(&server, "supervisor", None).await);
    assert!(!supervised.contains(PHONE) && supervised.contains("139****1234"));
    assert!(!supervised.contains("s1.") && !received(&clear).contains("s1."));

    // At rest: stop the server and search every file of the data directory.
    drop(c);
    let status = server.stop();
    assert!(status.success());
    // The search works: text that is not personal data is found in clear.
    assert!(!files_containing(&data, "供电所拖延接电".as_bytes()).is_empty());
    for secret in [NAME, PHONE, ID_NUMBER, "139****1234"] {
        assert_eq!(
            files_containing(&data, secret.as_bytes()),
            Vec::<String>::new(),
            "{secret} is stored in clear"
        );
    }
    // The stored event holds only the sealed token; its key is the stream's
    // secret, wrapped by the master key.
    let store = open_store(&data);
    let stream = format!("complaint-{id}");
    let stored = store
        .read_stream(&stream, 0, rectify_eventlog::Direction::Forward, 1)
        .await
        .unwrap();
    let payload = String::from_utf8(stored[0].payload.clone()).unwrap();
    assert!(payload.contains("\"sealed_submitter\":\"s1."), "{payload}");
    assert!(!payload.contains("\"submitter\""), "{payload}");
    assert!(store.stream_secret(&stream).await.unwrap().is_some());
}

/// Whether the event log's segment file in `data` holds `bytes`.
fn segment_holds(data: &Path, bytes: &[u8]) -> bool {
    let segment = std::fs::read(data.join("events.seg")).unwrap();
    segment.windows(bytes.len()).any(|w| w == bytes)
}

/// The erasure test's two complaints and where their data lives.
struct Erasure {
    /// The test's directory: data, backup, restored copy, stray keys.
    root: PathBuf,
    data: PathBuf,
    /// The complaint whose submitter asks for erasure, and its stream.
    erased: String,
    stream: String,
    /// Another complaint, whose data stays.
    kept: String,
    lead: String,
}

impl Erasure {
    fn backup(&self) -> PathBuf {
        self.root.join("backup")
    }

    fn master_key(&self) -> PathBuf {
        self.data.join("master.key")
    }

    /// The erased complaint shows no submitter, even to the hotline.
    async fn assert_erased_on(&self, server: &Server) {
        let view = view_as(server, &self.erased, |r| as_role(r, "hotline")).await;
        assert!(view.personal_data_erased && view.submitter.is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_destroys_the_key_keeps_the_chain_and_survives_restart_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let mut c = server.complaints().await;
    let erased = submit_private(&mut c, "要求删除个人信息的诉求").await;
    let kept = submit_private(&mut c, "另一件诉求").await;
    let lead = classify_and_dispatch(&mut c, &erased).await;
    let e = Erasure {
        root: dir.path().to_path_buf(),
        data,
        stream: format!("complaint-{erased}"),
        erased,
        kept,
        lead,
    };
    only_the_dispatch_centre_erases_and_with_a_reason(&mut c, &e).await;

    // Keep the stored wrapped key to look for it on disk afterwards.
    let before = read_log(&server, "supervisor", None).await;
    drop(c);
    assert!(server.stop().success());
    let wrapped = {
        let store = open_store(&e.data);
        let secret = store
            .stream_secret(&e.stream)
            .await
            .unwrap()
            .expect("a key");
        store.shutdown().unwrap();
        secret
    };
    // The intake wrote the wrapped key into the log's segment file too.
    assert!(segment_holds(&e.data, &wrapped));
    let server = Server::start(&e.data);
    erased_once_the_complaint_goes_on_without_its_data(&server, &e).await;
    earlier_events_keep_their_hashes_and_the_chain_verifies(&server, &before).await;
    // A backup and its restore carry the kept complaint's key, not the
    // erased one's.
    backup(&server, &e.backup(), "admin").await.expect("backup");
    the_key_stays_gone_after_a_restart(server, &e, &wrapped).await;
    rotating_the_master_key_retires_every_old_copy(&e, &wrapped).await;
    the_restored_backup_opens_only_the_kept_complaint(&e).await;
}

/// Submits [`private_submission`] as the hotline; returns the id.
async fn submit_private(c: &mut ComplaintServiceClient<Channel>, title: &str) -> String {
    submit_as_hotline(c, private_submission(title)).await.id
}

fn erase_request(id: &str, reason: &str) -> pb::ErasePersonalDataRequest {
    pb::ErasePersonalDataRequest {
        complaint_id: id.into(),
        reason: reason.into(),
        ..Default::default()
    }
}

/// Only the dispatch centre (or an administrator) erases, and only with a
/// reason.
async fn only_the_dispatch_centre_erases_and_with_a_reason(
    c: &mut ComplaintServiceClient<Channel>,
    e: &Erasure,
) {
    let erase = || erase_request(&e.erased, "PIPL-2026-0042");
    for request in [
        as_unit(erase(), &e.lead),
        as_role(erase(), "supervisor"),
        as_role(erase(), "hotline"),
    ] {
        let status = c.erase_personal_data(request).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    let status = c
        .erase_personal_data(as_role(erase_request(&e.erased, ""), "dispatcher"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("reason"), "{}", status.message());
}

/// Erasure happens once; the complaint goes on without the data, the other
/// keeps its own, and the history says who erased without showing the data.
async fn erased_once_the_complaint_goes_on_without_its_data(server: &Server, e: &Erasure) {
    let mut c = server.complaints().await;
    let erase = || as_role(erase_request(&e.erased, "PIPL-2026-0042"), "dispatcher");
    c.erase_personal_data(erase()).await.expect("erase");
    let again = c.erase_personal_data(erase()).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");

    // The complaint goes on without the data; the other keeps its own.
    let view = view_as(server, &e.erased, |r| as_role(r, "hotline")).await;
    assert!(view.personal_data_erased);
    assert_eq!(view.submitter, None);
    assert!(!view.state_json.contains(PHONE));
    assert_eq!(view.lead_unit, e.lead);
    let other = view_as(server, &e.kept, |r| as_role(r, "hotline")).await;
    assert_eq!(other.submitter.unwrap().phone, PHONE);
    assert!(!other.personal_data_erased);

    // The history keeps every event, says who erased, and no longer shows
    // the data, not even to the hotline.
    let history = c
        .get_history(as_role(
            pb::GetHistoryRequest {
                complaint_id: e.erased.clone(),
            },
            "hotline",
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let received = &history[0];
    assert_eq!(received.event_type, "ComplaintReceived");
    assert!(
        !received.payload_json.contains(PHONE),
        "{}",
        received.payload_json
    );
    assert!(!received.payload_json.contains("submitter"));
    let last = history.last().unwrap();
    assert_eq!(last.event_type, "PersonalDataErased");
    assert_eq!(last.actor, "test-dispatcher");
}

/// Events before the erasure are unchanged, hash for hash, and the chain
/// verifies. (The hash covers the stored bytes; only the reply's rendering
/// of the erased submitter differs.)
async fn earlier_events_keep_their_hashes_and_the_chain_verifies(
    server: &Server,
    before: &[pb::Event],
) {
    let stored = |events: &[pb::Event]| {
        events
            .iter()
            .map(|e| (e.position, e.event_id.clone(), e.hash.clone()))
            .collect::<Vec<_>>()
    };
    let after = read_log(server, "supervisor", None).await;
    assert_eq!(stored(&after[..before.len()]), stored(before));
    let verified = server
        .events()
        .await
        .verify_log(as_role(pb::VerifyLogRequest {}, "supervisor"))
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
}

/// After a restart, the key is still gone, from the live store and from
/// the files on disk; stops the server.
async fn the_key_stays_gone_after_a_restart(server: Server, e: &Erasure, wrapped: &[u8]) {
    let server = server.restart();
    let view = view_as(&server, &e.erased, |r| as_role(r, "dispatcher")).await;
    assert!(view.personal_data_erased && view.submitter.is_none());
    assert!(server.stop().success());
    // The erasure overwrote the key's copy in the segment file with zeros.
    assert!(!segment_holds(&e.data, wrapped));
    let store = open_store(&e.data);
    assert_eq!(store.stream_secret(&e.stream).await.unwrap(), None);
    let report = store.verify(&mut |_| {}).await.unwrap();
    assert!(report.ok());
    store.shutdown().unwrap();
}

/// sled may keep the destroyed value in an old segment until it reuses the
/// space, and an earlier backup holds it too. Those copies are wrapped by
/// the master key: rotating it makes them useless for good.
async fn rotating_the_master_key_retires_every_old_copy(e: &Erasure, wrapped: &[u8]) {
    let old_key = std::fs::read_to_string(e.master_key()).unwrap();
    let printed = admin_offline("rotate-master-key", &[&e.data]);
    assert!(printed.contains("re-wrapped 1 data keys"), "{printed}");
    assert_ne!(std::fs::read_to_string(e.master_key()).unwrap(), old_key);
    assert_eq!(
        files_containing(&e.root, old_key.trim().as_bytes()),
        vec![e.backup().join("master.key").display().to_string()],
        "the old key is left only in the earlier backup"
    );
    let rotated =
        rectify::server::vault::Vault::from_files(&e.master_key(), &[] as &[&Path]).unwrap();
    // Whatever copy of the erased complaint's key is left is wrapped by the
    // retired key, which nothing holds any more.
    assert!(!rotated.is_current(wrapped));
    assert!(rotated.open(&e.stream, Some(wrapped), "s1.AAAA").is_err());
    let server = Server::start(&e.data);
    let view = view_as(&server, &e.kept, |r| as_role(r, "hotline")).await;
    assert_eq!(view.submitter.expect("opened after rotation").phone, PHONE);
    e.assert_erased_on(&server).await;
}

/// The backup restores with its own master key: a server given another key
/// refuses to start, naming it; with the right one the kept complaint opens
/// and the erased one stays erased.
async fn the_restored_backup_opens_only_the_kept_complaint(e: &Erasure) {
    let restored = e.root.join("restored");
    admin_offline("restore", &[&e.backup(), &restored]);
    // A server pointed at the wrong master key refuses to start, naming it.
    let stranger = e.root.join("stranger.key");
    std::fs::write(&stranger, "ab".repeat(32)).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&restored)
        .arg("--master-key-file")
        .arg(&stranger)
        .output()
        .expect("run serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("which is not configured"), "{stderr}");

    let server = Server::start(&restored);
    let view = view_as(&server, &e.kept, |r| as_role(r, "hotline")).await;
    assert_eq!(view.submitter.expect("opened after restore").name, NAME);
    e.assert_erased_on(&server).await;
}
