//! The dashboard's pages over HTTP and in a real browser: every number a
//! page shows is checked against what `QueryService` answers the same role
//! at the same moment; sign-in, sessions and their cookie.

use std::collections::BTreeSet;

use chrono::{Duration, TimeZone as _, Utc};
use rectify::pb;

use crate::support::{HttpReply, Server, as_role, history, http, submit, submit_and_dispatch};

/// What the dashboard's pages are read for.
impl HttpReply {
    /// The session cookie's `name=value` from `Set-Cookie`.
    fn session(&self) -> String {
        self.header("set-cookie")
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    }

    /// The number in the element with `id`.
    fn number(&self, id: &str) -> u64 {
        let marker = format!("id=\"{id}\">");
        let at = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no element {id} in {}", self.body))
            + marker.len();
        let digits: String = self.body[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().expect("a number")
    }

    /// The ids of the rows of a deadline list.
    fn list(&self, kind: &str) -> BTreeSet<String> {
        let marker = format!("data-list=\"{kind}\" data-id=\"");
        self.body
            .match_indices(&marker)
            .map(|(at, _)| {
                let rest = &self.body[at + marker.len()..];
                rest[..rest.find('"').unwrap()].to_owned()
            })
            .collect()
    }
}

/// One HTTP/1.1 request to the server's port with the session `cookie`.
async fn fetch(
    server: &Server,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&[(&str, &str)]>,
) -> HttpReply {
    fetch_from(server, method, path, cookie, form, None).await
}

/// [`fetch`] with a browser's `Origin` header.
async fn fetch_from(
    server: &Server,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&[(&str, &str)]>,
    origin: Option<&str>,
) -> HttpReply {
    let mut headers = Vec::new();
    headers.extend(cookie.map(|c| ("cookie", c)));
    headers.extend(origin.map(|o| ("origin", o)));
    http(server, method, path, &headers, form).await
}

/// Signs in in development mode as `role`; returns the cookie to send.
async fn sign_in(server: &Server, role: &str) -> String {
    let reply = fetch(
        server,
        "POST",
        "/dashboard/login",
        None,
        Some(&[("role", role)]),
    )
    .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(reply.header("location"), "/dashboard");
    reply.session()
}

/// The ledger's total for `filter` as `role` sees it, after the ledger has
/// applied `min_position`.
async fn total(server: &Server, role: &'static str, filter: pb::LedgerFilter) -> u64 {
    list(server, role, filter).await.total
}

async fn list(
    server: &Server,
    role: &'static str,
    filter: pb::LedgerFilter,
) -> pb::ListLedgerResponse {
    server
        .queries()
        .await
        .list_ledger(as_role(
            pb::ListLedgerRequest {
                filter: Some(filter),
                page_size: 1_000,
                min_position: crate::support::head(server).await,
                ..Default::default()
            },
            role,
        ))
        .await
        .expect("list ledger")
        .into_inner()
}

const OPEN: &[pb::ComplaintStatus] = &[
    pb::ComplaintStatus::Received,
    pb::ComplaintStatus::AwaitingDispatch,
    pb::ComplaintStatus::Dispatched,
    pb::ComplaintStatus::InProgress,
    pb::ComplaintStatus::Resolved,
    pb::ComplaintStatus::Verified,
    pb::ComplaintStatus::CalledBack,
];

fn open() -> pb::LedgerFilter {
    pb::LedgerFilter {
        statuses: OPEN.iter().map(|s| *s as i32).collect(),
        ..Default::default()
    }
}

/// A server on a clock file, with complaints received, dispatched and —
/// after the clock moves two working weeks on — overdue with warnings
/// appended by a deadline scan; returns it and its clock file's directory.
async fn busy_server() -> (Server, tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = dir.path().join("clock");
    // Wednesday 14 October 2026, 10:00 in Ordos.
    let start = Utc.with_ymd_and_hms(2026, 10, 14, 2, 0, 0).unwrap();
    std::fs::write(&clock, start.to_rfc3339()).unwrap();
    let server = Server::fresh_with(&["--clock-file".to_owned(), clock.display().to_string()]);
    let mut complaints = server.complaints().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            submit_and_dispatch(&mut complaints, &format!("停电 {n}"))
                .await
                .0,
        );
    }
    ids.push(
        submit(&mut complaints, "<script>alert(1)</script> 未派")
            .await
            .id,
    );
    std::fs::write(&clock, (start + Duration::days(14)).to_rfc3339()).unwrap();
    server
        .admin()
        .await
        .scan_deadlines(as_role(pb::ScanDeadlinesRequest {}, "admin"))
        .await
        .expect("scan deadlines");
    (server, dir, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_the_query_apis_numbers_for_the_same_role() {
    let (server, _clock, ids) = busy_server().await;
    let cookie = sign_in(&server, "dispatcher").await;
    // Wait for the ledger to apply the whole log before reading the page.
    let open_total = total(&server, "dispatcher", open()).await;
    assert_eq!(open_total, 4);
    let page = fetch(&server, "GET", "/dashboard", Some(&cookie), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.number("open-total"), open_total);
    for status in OPEN {
        let code = status
            .as_str_name()
            .trim_start_matches("COMPLAINT_STATUS_")
            .to_lowercase();
        let api = total(
            &server,
            "dispatcher",
            pb::LedgerFilter {
                statuses: vec![*status as i32],
                ..Default::default()
            },
        )
        .await;
        assert_eq!(page.number(&format!("status-{code}")), api, "{code}");
    }
    assert!(page.body.contains("处办") && page.body.contains("in_progress"));
    let at_least = |level: pb::WarningLevel| pb::LedgerFilter {
        min_warning: level as i32,
        ..open()
    };
    let red = total(&server, "dispatcher", at_least(pb::WarningLevel::Red)).await;
    let yellow = total(&server, "dispatcher", at_least(pb::WarningLevel::Yellow)).await - red;
    assert!(red + yellow > 0, "the scan warned");
    assert_eq!(page.number("warning-red"), red);
    assert_eq!(page.number("warning-yellow"), yellow);
    let overdue = list(
        &server,
        "dispatcher",
        pb::LedgerFilter {
            overdue_only: true,
            ..open()
        },
    )
    .await;
    let overdue_rows = overdue.rows;
    let overdue: BTreeSet<String> = overdue_rows
        .iter()
        .map(|r| r.complaint_id.clone())
        .collect();
    assert!(!overdue.is_empty());
    assert_eq!(page.list("overdue"), overdue);
    assert!(page.body.contains("超期 "));
    // Due within a day of the server's clock and not yet overdue.
    let now = Utc.with_ymd_and_hms(2026, 10, 28, 2, 0, 0).unwrap();
    let soon = list(
        &server,
        "dispatcher",
        pb::LedgerFilter {
            due_before: Some(rectify::wire::timestamp(now + Duration::hours(24))),
            ..open()
        },
    )
    .await;
    let soon: BTreeSet<String> = soon
        .rows
        .into_iter()
        .filter(|r| !r.overdue)
        .map(|r| r.complaint_id)
        .collect();
    assert_eq!(page.list("soon"), soon);
    // Lead units by their Chinese names from the catalog, not their codes.
    let units = server
        .catalog()
        .await
        .list_units(as_role(pb::ListUnitsRequest::default(), "dispatcher"))
        .await
        .expect("list units")
        .into_inner()
        .units;
    for row in overdue_rows.iter().filter(|r| !r.lead_unit.is_empty()) {
        let name = &units.iter().find(|u| u.code == row.lead_unit).unwrap().name;
        assert!(page.body.contains(&format!("<td>{name}</td>")), "{name}");
    }
    // Text is escaped, never markup.
    assert!(!page.body.contains("<script>"));
    // Intake over the last 30 days by channel adds up to every complaint.
    assert_eq!(page.number("channel-hotline_12345"), ids.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_complaint_page_lists_every_event_with_its_actor() {
    let (server, _clock, ids) = busy_server().await;
    let mut complaints = server.complaints().await;
    let events = history(&mut complaints, &ids[0]).await;
    for (role, verifies) in [("supervisor", true), ("dispatcher", false)] {
        let cookie = sign_in(&server, role).await;
        let page = fetch(
            &server,
            "GET",
            &format!("/dashboard/complaints/{}", ids[0]),
            Some(&cookie),
            None,
        )
        .await;
        assert_eq!(page.status, 200, "{}", page.body);
        for event in &events {
            let row = format!("data-position=\"{}\"", event.position);
            let at = page.body.find(&row).expect("a row per event");
            let rest = &page.body[at..];
            let rest = &rest[..rest.find("</tr>").unwrap()];
            assert!(rest.contains(&event.event_type), "{rest}");
            assert!(rest.contains(&event.actor), "{rest}");
        }
        assert_eq!(
            page.body.matches("data-position=").count(),
            events.len(),
            "{role}"
        );
        assert!(page.body.contains("in_progress") || page.body.contains("dispatched"));
        // Only a role allowed to verify the log sees anything about it.
        assert_eq!(page.body.contains("log-verifies"), verifies, "{role}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_without_a_session_redirect_and_the_cookie_is_httponly_strict() {
    let server = Server::fresh();
    for path in ["/dashboard", "/dashboard/complaints/anything"] {
        let reply = fetch(&server, "GET", path, None, None).await;
        assert_eq!(reply.status, 303, "{path}");
        assert_eq!(reply.header("location"), "/dashboard/login");
        let reply = fetch(
            &server,
            "GET",
            path,
            Some("rectify_session=not-a-session"),
            None,
        )
        .await;
        assert_eq!(reply.status, 303, "{path}");
    }
    let login = fetch(&server, "GET", "/dashboard/login", None, None).await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("开发模式"));
    let reply = fetch(
        &server,
        "POST",
        "/dashboard/login",
        None,
        Some(&[("role", "dispatcher")]),
    )
    .await;
    let set_cookie = reply.header("set-cookie");
    assert!(set_cookie.starts_with("rectify_session="), "{set_cookie}");
    assert!(set_cookie.contains("; HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("; SameSite=Strict"), "{set_cookie}");
    assert!(set_cookie.contains("; Path=/dashboard"), "{set_cookie}");
    let cookie = reply.session();
    assert_eq!(
        fetch(&server, "GET", "/dashboard", Some(&cookie), None)
            .await
            .status,
        200
    );
    // A role outside the dashboard's is refused.
    let refused = fetch(
        &server,
        "POST",
        "/dashboard/login",
        None,
        Some(&[("role", "portal")]),
    )
    .await;
    assert_eq!(refused.status, 403);
    assert!(refused.header("set-cookie").is_empty());
    // A form posted from a foreign page is refused; one from the
    // dashboard's own origin is not.
    let form: &[(&str, &str)] = &[("role", "dispatcher")];
    let forged = fetch_from(
        &server,
        "POST",
        "/dashboard/login",
        None,
        Some(form),
        Some("http://evil.example"),
    )
    .await;
    assert_eq!(forged.status, 403);
    assert!(forged.header("set-cookie").is_empty());
    let own = format!("http://{}", server.addr);
    let reply = fetch_from(
        &server,
        "POST",
        "/dashboard/login",
        None,
        Some(form),
        Some(&own),
    )
    .await;
    assert_eq!(reply.status, 303);
    // Signing out ends the session.
    let out = fetch(&server, "POST", "/dashboard/logout", Some(&cookie), None).await;
    assert_eq!(out.status, 303);
    let after = fetch(&server, "GET", "/dashboard", Some(&cookie), None).await;
    assert_eq!(after.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_principals_a_wrong_token_is_refused_and_never_echoed() {
    let (token, hash) = rectify::server::authn::new_token();
    let (portal_token, portal_hash) = rectify::server::authn::new_token();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rectify.toml");
    std::fs::write(
        &config,
        format!(
            "[[principals]]\nname = \"desk-1\"\nrole = \"dispatcher\"\ntoken_blake3 = \"{hash}\"\n\n\
             [[principals]]\nname = \"city-portal\"\nrole = \"portal\"\ntoken_blake3 = \"{portal_hash}\"\n"
        ),
    )
    .unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        &["--config".to_owned(), config.display().to_string()],
    );
    let login = fetch(&server, "GET", "/dashboard/login", None, None).await;
    assert!(login.body.contains("type=\"password\""));
    assert!(!login.body.contains("开发模式"));
    let wrong = "rct_wrong-token-that-must-not-echo";
    for bad in [wrong, portal_token.as_str()] {
        let reply = fetch(
            &server,
            "POST",
            "/dashboard/login",
            None,
            Some(&[("token", bad)]),
        )
        .await;
        assert_eq!(reply.status, 403);
        assert!(!reply.body.contains(bad), "the token is echoed");
        assert!(reply.header("set-cookie").is_empty());
    }
    // Identity headers do not stand in for a session.
    let reply = fetch(&server, "GET", "/dashboard", None, None).await;
    assert_eq!(reply.status, 303);
    let reply = fetch(
        &server,
        "POST",
        "/dashboard/login",
        None,
        Some(&[("token", &token)]),
    )
    .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    let cookie = reply.session();
    assert!(!cookie.contains(&token));
    let page = fetch(&server, "GET", "/dashboard", Some(&cookie), None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("desk-1"));
    assert!(!page.body.contains(&token));
}

/// The DOM headless Chromium builds for `url` in `profile`, and its stderr.
async fn dump_dom(
    chromium: &std::path::Path,
    profile: &std::path::Path,
    url: &str,
) -> (HttpReply, String) {
    let output = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1366,768",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            url,
        ])
        .kill_on_drop(true)
        .output()
        .await
        .expect("run chromium");
    let dom = HttpReply {
        status: 200,
        headers: hyper::HeaderMap::new(),
        body: String::from_utf8_lossy(&output.stdout).into_owned(),
    };
    (dom, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// In a real browser. Headless Chromium without a driver can neither post
/// a form nor be handed a cookie, so the test signs in over HTTP and asks
/// the signed-in session for a single-use sign-in code (valid for a
/// minute, no credential of the principal); Chromium opens
/// `/dashboard/login?code=…`, which sets its own session cookie and
/// redirects to the overview, and `--dump-dom` prints the DOM the browser
/// built. Its open-complaint total must equal the API's. The session
/// cookie persists in the test's browser profile, so a second run opens a
/// complaint's page, which must list every event of its history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_headless_chromium_the_pages_show_the_apis_numbers() {
    let chromium = std::path::Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        assert!(
            std::env::var("RECTIFY_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "chromium is missing: apt-get install chromium"
        );
        eprintln!("skipped: /usr/bin/chromium is missing (apt-get install chromium)");
        return;
    }
    let (server, _clock, ids) = busy_server().await;
    let open_total = total(&server, "dispatcher", open()).await;
    let cookie = sign_in(&server, "dispatcher").await;
    let issued = fetch(
        &server,
        "POST",
        "/dashboard/login-code",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let marker = "data-code=\"";
    let at = issued.body.find(marker).expect("a code") + marker.len();
    let code = &issued.body[at..at + issued.body[at..].find('"').unwrap()];
    let profile = tempfile::tempdir().unwrap();
    let (dom, stderr) = dump_dom(
        chromium,
        profile.path(),
        &format!("http://{}/dashboard/login?code={code}", server.addr),
    )
    .await;
    assert!(
        dom.body.contains("open-total"),
        "the browser did not reach the overview: {}\n{}",
        dom.body,
        stderr
    );
    assert_eq!(dom.number("open-total"), open_total);
    // The same browser profile keeps its session cookie: the complaint page
    // shows every event of the history.
    let events = history(&mut server.complaints().await, &ids[0]).await;
    let (page, stderr) = dump_dom(
        chromium,
        profile.path(),
        &format!("http://{}/dashboard/complaints/{}", server.addr, ids[0]),
    )
    .await;
    assert_eq!(
        page.body.matches("data-position=").count(),
        events.len(),
        "{}\n{stderr}",
        page.body
    );
    // The code is spent.
    let again = fetch(
        &server,
        "GET",
        &format!("/dashboard/login?code={code}"),
        None,
        None,
    )
    .await;
    assert_eq!(again.header("location"), "/dashboard/login");
    assert!(again.header("set-cookie").is_empty());
}

/// `message` with `authorization: Bearer <token>`.
fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_signed_in_sees_only_what_the_api_shows_its_unit() {
    let tokens: Vec<(String, String)> = (0..3)
        .map(|_| rectify::server::authn::new_token())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rectify.toml");
    std::fs::write(
        &config,
        format!(
            "[[principals]]\nname = \"hotline-1\"\nrole = \"hotline\"\ntoken_blake3 = \"{}\"\n\n\
             [[principals]]\nname = \"desk-1\"\nrole = \"dispatcher\"\ntoken_blake3 = \"{}\"\n\n\
             [[principals]]\nname = \"clerk@power-bureau\"\nrole = \"unit\"\nunit = \"power-bureau\"\ntoken_blake3 = \"{}\"\n",
            tokens[0].1, tokens[1].1, tokens[2].1
        ),
    )
    .unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        &["--config".to_owned(), config.display().to_string()],
    );
    let (hotline, dispatcher, unit) = (&tokens[0].0, &tokens[1].0, &tokens[2].0);
    let mut complaints = server.complaints().await;
    let mut ids = Vec::new();
    for title in ["停电 甲", "停电 乙"] {
        let reply = complaints
            .submit_complaint(with_token(crate::support::submit_request(title), hotline))
            .await
            .expect("submit")
            .into_inner();
        ids.push(reply.result.unwrap().id);
    }
    complaints
        .classify_complaint(with_token(
            pb::ClassifyComplaintRequest {
                complaint_id: ids[0].clone(),
                area: "getting-electricity".into(),
                urgency: pb::Urgency::Normal as i32,
                ..Default::default()
            },
            dispatcher,
        ))
        .await
        .expect("classify");
    let dispatched = complaints
        .dispatch_complaint(with_token(
            pb::DispatchComplaintRequest {
                complaint_id: ids[0].clone(),
                ..Default::default()
            },
            dispatcher,
        ))
        .await
        .expect("dispatch")
        .into_inner();
    assert_eq!(dispatched.lead_unit, "power-bureau");
    let mut totals = Vec::new();
    for token in [dispatcher, unit] {
        let api = server
            .queries()
            .await
            .list_ledger(with_token(
                pb::ListLedgerRequest {
                    filter: Some(open()),
                    page_size: 1,
                    min_position: dispatched.result.as_ref().unwrap().position,
                    ..Default::default()
                },
                token,
            ))
            .await
            .expect("list ledger")
            .into_inner()
            .total;
        let reply = fetch(
            &server,
            "POST",
            "/dashboard/login",
            None,
            Some(&[("token", token)]),
        )
        .await;
        assert_eq!(reply.status, 303, "{}", reply.body);
        let page = fetch(&server, "GET", "/dashboard", Some(&reply.session()), None).await;
        assert_eq!(page.number("open-total"), api);
        totals.push(api);
    }
    assert_eq!(totals, [2, 1], "the unit sees only its own complaint");
}
