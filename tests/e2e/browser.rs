//! The dashboard in a real browser: Debian's Chromium, headless, driven
//! through chromedriver (WebDriver). It signs in through the form, loads
//! every page against a server holding seeded data (the action plan
//! imported as a ledger, complaints taken through the lifecycle, some
//! overdue, and traffic through the stations, liaison cadres and
//! experience officers), checks each page's numbers against the query and
//! registry APIs, watches a
//! complaint submitted during the test appear without a reload, checks a
//! unit user cannot open another unit's inbox, and saves a screenshot of
//! each page (into `RECTIFY_SCREENSHOT_DIR`, by default a directory under
//! the build's temporary directory).
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` the test is
//! skipped with a message, unless `RECTIFY_REQUIRE_BROWSER=1` (as in CI),
//! when it fails saying what is missing.

use std::{path::PathBuf, time::Duration};

use fantoccini::{Client, Locator};
use rectify::pb;

use crate::chrome::{CHROMEDRIVER, CHROMIUM, browser, start_chromedriver};
use crate::dashboard::{open, seeded_server, total};
use crate::support::{Server, as_role, get, history, submit};

/// The longest a page may take to show a change made through the API.
const LIVE_WITHIN: Duration = Duration::from_secs(20);

/// Whether the browser is there; when it must be and is not, fails saying
/// what to install.
fn browser_present() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !std::path::Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("RECTIFY_REQUIRE_BROWSER").as_deref() != Ok("1"),
        "{missing:?} missing: apt-get install chromium chromium-driver"
    );
    eprintln!("skipped: {missing:?} missing (apt-get install chromium chromium-driver)");
    false
}

/// Where screenshots go.
fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("RECTIFY_SCREENSHOT_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("save screenshot");
}

/// The text of the element `css`.
async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .expect("text")
}

/// Attribute `name` of the element `css`.
async fn attr(client: &Client, css: &str, name: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .attr(name)
        .await
        .expect("attribute")
        .unwrap_or_default()
}

/// Signs in through the form in development mode.
async fn sign_in(client: &Client, server: &Server, fields: &[(&str, &str)]) {
    client.delete_all_cookies().await.expect("sign out");
    client
        .goto(&format!("http://{}/dashboard/login", server.addr))
        .await
        .expect("open the sign-in page");
    let form = client.form(Locator::Css("form")).await.expect("the form");
    for (name, value) in fields {
        form.set_by_name(name, value).await.expect("fill the form");
    }
    form.submit().await.expect("submit the form");
    client
        .wait()
        .at_most(LIVE_WITHIN)
        .for_element(Locator::Css("#open-total"))
        .await
        .expect("the overview after sign-in");
}

async fn open_page(client: &Client, server: &Server, path: &str) {
    client
        .goto(&format!("http://{}{path}", server.addr))
        .await
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
}

/// The numbers in table `table`'s cells `cell`, by the row's attribute
/// `key`.
async fn column(
    client: &Client,
    table: &str,
    key: &str,
    cell: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut values = std::collections::BTreeMap::new();
    for row in client
        .find_all(Locator::Css(&format!("#{table} tr[{key}]")))
        .await
        .expect("the table's rows")
    {
        let name = row
            .attr(key)
            .await
            .expect("the row's key")
            .unwrap_or_default();
        let value = row
            .find(Locator::Css(cell))
            .await
            .unwrap_or_else(|e| panic!("no {cell} in {table}: {e}"))
            .text()
            .await
            .expect("text");
        values.insert(name, value);
    }
    values
}

/// 城市机制, after traffic through every mechanism: the page's figures per
/// station, per cadre and per officer kind are the registry API's.
async fn mechanisms_page(client: &Client, server: &Server) {
    let head = crate::mechanisms::mechanism_traffic(server).await;
    let mut registry =
        pb::registry_service_client::RegistryServiceClient::new(server.channel().await);
    let stations = registry
        .rank_stations(as_role(
            pb::RankStationsRequest { min_position: head },
            "supervisor",
        ))
        .await
        .expect("rank stations")
        .into_inner()
        .stations;
    let cadres = registry
        .liaison_report(as_role(
            pb::LiaisonReportRequest {
                cadre: String::new(),
                min_position: head,
            },
            "supervisor",
        ))
        .await
        .expect("liaison report")
        .into_inner()
        .cadres;
    let officers = registry
        .officer_report(as_role(
            pb::OfficerReportRequest {
                officer: String::new(),
                min_position: head,
            },
            "supervisor",
        ))
        .await
        .expect("officer report")
        .into_inner();
    // The traffic shows: a page of zeros would match a view of zeros.
    assert!(stations.iter().any(|s| s.complaints == 2), "{stations:?}");
    assert!(cadres.iter().any(|c| c.complaints == 1), "{cadres:?}");
    assert!(
        officers
            .kinds
            .iter()
            .any(|k| k.tally.unwrap_or_default().reports > 0)
    );

    open_page(client, server, "/dashboard/mechanisms").await;
    let expected = |pairs: Vec<(String, u32)>| -> std::collections::BTreeMap<String, String> {
        pairs.into_iter().map(|(k, v)| (k, v.to_string())).collect()
    };
    let by_station = |figure: fn(&pb::StationRanking) -> u32| {
        expected(
            stations
                .iter()
                .map(|s| (s.station.clone().unwrap_or_default().code, figure(s)))
                .collect(),
        )
    };
    assert_eq!(
        column(client, "stations", "data-station", "td.complaints").await,
        by_station(|s| s.complaints)
    );
    assert_eq!(
        column(client, "stations", "data-station", "td.closed").await,
        by_station(|s| s.closed)
    );
    // In the API's order: most complaints first.
    let rows = client
        .find_all(Locator::Css("#stations tr[data-station]"))
        .await
        .expect("station rows");
    let mut order = Vec::new();
    for row in rows {
        order.push(
            row.attr("data-station")
                .await
                .expect("attr")
                .unwrap_or_default(),
        );
    }
    let api_order: Vec<String> = stations
        .iter()
        .map(|s| s.station.clone().unwrap_or_default().code)
        .collect();
    assert_eq!(order, api_order);
    assert_eq!(
        column(client, "cadres", "data-cadre", "td.complaints").await,
        expected(
            cadres
                .iter()
                .map(|c| (c.cadre.clone(), c.complaints))
                .collect()
        )
    );
    assert_eq!(
        column(client, "officer-kinds", "data-kind", "td.reports").await,
        expected(
            officers
                .kinds
                .iter()
                .map(|k| (k.kind.clone(), k.tally.unwrap_or_default().reports))
                .collect()
        )
    );
    let reports: u32 = officers
        .officers
        .iter()
        .map(|o| o.tally.unwrap_or_default().reports)
        .sum();
    assert_eq!(text(client, "#officer-reports").await, reports.to_string());
    screenshot(client, "mechanisms").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_headless_chromium_every_page_shows_the_apis_numbers_and_updates_live() {
    if !browser_present() {
        return;
    }
    let (server, _clock, ids) = seeded_server().await;
    let (_driver, port) = start_chromedriver().await;
    let client = browser(port).await;
    sign_in(&client, &server, &[("role", "supervisor")]).await;

    // 总览, then a complaint submitted through the API appears without a
    // reload: a marker set in the page survives the update.
    let open_total = total(&server, "supervisor", open()).await;
    assert_eq!(text(&client, "#open-total").await, open_total.to_string());
    screenshot(&client, "overview").await;
    client
        .execute("window.stillThisPage = true; return null;", vec![])
        .await
        .expect("mark the page");
    let mut complaints = server.complaints().await;
    submit(&mut complaints, "路灯不亮 实时").await;
    client
        .wait()
        .at_most(LIVE_WITHIN)
        .for_element(Locator::XPath(&format!(
            "//span[@id='open-total' and text()='{}']",
            open_total + 1
        )))
        .await
        .expect("the new complaint counted without a reload");
    let same_page = client
        .execute("return window.stillThisPage === true;", vec![])
        .await
        .expect("read the marker");
    assert_eq!(
        same_page,
        serde_json::Value::Bool(true),
        "the page was reloaded"
    );

    // 单位考评.
    open_page(&client, &server, "/dashboard/units?period=2026-10").await;
    let evaluation = server
        .queries()
        .await
        .get_evaluation(as_role(
            pb::GetEvaluationRequest {
                period: "2026-10".into(),
                group_by: pb::EvaluationGroup::Unit as i32,
                ..Default::default()
            },
            "supervisor",
        ))
        .await
        .expect("evaluation")
        .into_inner();
    for group in &evaluation.groups {
        let css = format!("tr[data-group='{}']", group.key);
        assert_eq!(
            attr(&client, &css, "data-valid").await,
            group.valid_callbacks.to_string()
        );
    }
    screenshot(&client, "units").await;

    // 台账.
    open_page(&client, &server, "/dashboard/ledger").await;
    let all = total(&server, "supervisor", pb::LedgerFilter::default()).await;
    assert_eq!(text(&client, "#ledger-total").await, all.to_string());
    screenshot(&client, "ledger").await;

    // 整改销号.
    open_page(&client, &server, "/dashboard/rect/plan-2021").await;
    let ledger = server
        .ledgers()
        .await
        .get_ledger(as_role(
            pb::GetLedgerRequest {
                ledger_id: "plan-2021".into(),
                min_position: 0,
            },
            "supervisor",
        ))
        .await
        .expect("ledger")
        .into_inner();
    let tally = ledger.ledger.unwrap().tally.unwrap();
    assert_eq!(
        attr(&client, "#ledger-closed", "data-total").await,
        tally.total.to_string()
    );
    screenshot(&client, "rect").await;

    // 单件, with the log's verification for a supervisor.
    open_page(
        &client,
        &server,
        &format!("/dashboard/complaints/{}", ids[0]),
    )
    .await;
    let events = history(&mut complaints, &ids[0]).await;
    let rows = client
        .find_all(Locator::Css("tr[data-position]"))
        .await
        .expect("timeline rows");
    assert_eq!(rows.len(), events.len());
    assert_eq!(text(&client, "#log-verifies").await, "通过");
    screenshot(&client, "complaint").await;

    mechanisms_page(&client, &server).await;

    // A unit's own inbox, and not another unit's.
    let lead = get(&mut complaints, &ids[1]).await.lead_unit;
    sign_in(&client, &server, &[("role", "unit"), ("unit", &lead)]).await;
    open_page(&client, &server, "/dashboard/inbox").await;
    let inbox = server
        .queries()
        .await
        .get_inbox(crate::support::as_unit(
            pb::GetInboxRequest {
                unit: lead.clone(),
                min_position: 0,
            },
            &lead,
        ))
        .await
        .expect("inbox")
        .into_inner();
    assert_eq!(
        text(&client, "#count-lead-to-accept").await,
        inbox.lead_to_accept.len().to_string()
    );
    screenshot(&client, "inbox").await;
    let other = if lead == "water-resources" {
        "market-regulation"
    } else {
        "water-resources"
    };
    open_page(&client, &server, &format!("/dashboard/inbox?unit={other}")).await;
    assert_eq!(
        attr(&client, "#error", "data-code").await,
        "PermissionDenied"
    );
    client.close().await.expect("close the browser");
}
