//! Runs the backend-neutral conformance suite against the sled store.

use rectify_eventlog::{SledStore, StoreConfig};

async fn fresh() -> (SledStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = StoreConfig {
        path: dir.path().join("log"),
        ..StoreConfig::default()
    };
    let store = tokio::task::spawn_blocking(move || SledStore::open(config))
        .await
        .expect("open task")
        .expect("open store");
    (store, dir)
}

rectify_eventlog::conformance_tests!(fresh);
