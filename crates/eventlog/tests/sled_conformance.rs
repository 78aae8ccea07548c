//! Runs the backend-neutral conformance suite against the sled store: once
//! as configured by default, once with id runs of a few events, so that
//! every case also finds ids through written and merged run files.

use rectify_eventlog::{SledStore, StoreConfig};

async fn open(id_run_events: usize) -> (SledStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = StoreConfig {
        path: dir.path().join("log"),
        id_run_events,
        ..StoreConfig::default()
    };
    let store = tokio::task::spawn_blocking(move || SledStore::open(config))
        .await
        .expect("open task")
        .expect("open store");
    (store, dir)
}

async fn fresh() -> (SledStore, tempfile::TempDir) {
    open(StoreConfig::default().id_run_events).await
}

rectify_eventlog::conformance_tests!(fresh);

mod small_id_runs {
    async fn fresh() -> (rectify_eventlog::SledStore, tempfile::TempDir) {
        super::open(2).await
    }

    rectify_eventlog::conformance_tests!(fresh);
}
