//! Headless Chromium under chromedriver, for the browser test and the
//! dashboard bench (which includes this file by path).

use fantoccini::{Client, ClientBuilder};
use tokio::io::{AsyncBufReadExt as _, BufReader};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a port of its choosing, and the port; the process ends
/// when the handle is dropped.
pub async fn start_chromedriver() -> (tokio::process::Child, u16) {
    let mut driver = tokio::process::Command::new(CHROMEDRIVER)
        .arg("--port=0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let mut lines = BufReader::new(driver.stdout.take().expect("stdout")).lines();
    let marker = "started successfully on port ";
    while let Some(line) = lines.next_line().await.expect("read chromedriver") {
        if let Some(at) = line.find(marker) {
            let port = line[at + marker.len()..]
                .trim_end_matches('.')
                .parse()
                .expect("a port");
            // Keep draining its output so it never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (driver, port);
        }
    }
    panic!("chromedriver exited before saying its port");
}

/// A headless Chromium session at 1366×768 through chromedriver on `port`.
pub async fn browser(port: u16) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1366,768", "--lang=zh-CN"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap_or_else(|e| panic!("chromium did not start under chromedriver: {e}"))
}
