//! The dashboard's pages over HTTP and in a real browser: every number a
//! page shows is checked against what `QueryService` answers the same role
//! at the same moment; sign-in, sessions and their cookie.

use std::collections::BTreeSet;

use chrono::{Duration, TimeZone as _, Utc};
use rectify::pb;

use crate::support::{
    HttpReply, Server, accept, as_role, as_unit, callback, get, history, http, record_callback,
    resolve, submit, submit_and_dispatch, verify,
};

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
pub(crate) async fn sign_in(server: &Server, role: &str) -> String {
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
pub(crate) async fn total(server: &Server, role: &'static str, filter: pb::LedgerFilter) -> u64 {
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

pub(crate) fn open() -> pb::LedgerFilter {
    pb::LedgerFilter {
        statuses: OPEN.iter().map(|s| *s as i32).collect(),
        ..Default::default()
    }
}

/// A server on a clock file, with complaints received, dispatched and —
/// after the clock moves two working weeks on — overdue with warnings
/// appended by a deadline scan; returns it and its clock file's directory.
pub(crate) async fn busy_server() -> (Server, tempfile::TempDir, Vec<String>) {
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

/// The busy server with one complaint taken through to a callback and the
/// action plan imported as a rectification ledger, as the pages that read
/// the evaluation and the ledgers need.
pub(crate) async fn seeded_server() -> (Server, tempfile::TempDir, Vec<String>) {
    let (server, clock, ids) = busy_server().await;
    let mut complaints = server.complaints().await;
    let lead = get(&mut complaints, &ids[0]).await.lead_unit;
    accept(&mut complaints, &ids[0], &lead).await;
    resolve(&mut complaints, &ids[0], &lead, "已送电", &[]).await;
    verify(&mut complaints, &ids[0]).await;
    record_callback(
        &mut complaints,
        &ids[0],
        callback(true, true, true, pb::Satisfaction::Satisfied),
    )
    .await;
    server
        .ledgers()
        .await
        .import_plan(as_role(pb::ImportPlanRequest {}, "admin"))
        .await
        .expect("import the plan");
    (server, clock, ids)
}

/// The value of attribute `name` on the element carrying `marker`.
fn attribute(body: &str, marker: &str, name: &str) -> String {
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {body}"));
    let tag_start = body[..at].rfind('<').unwrap();
    let tag = &body[tag_start..at + body[at..].find('>').unwrap()];
    let key = format!("{name}=\"");
    let from = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + key.len();
    tag[from..from + tag[from..].find('"').unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_ledger_groups_the_same_rows_list_ledger_counts() {
    let (server, _clock, _ids) = busy_server().await;
    let min_position = crate::support::head(&server).await;
    let counts = server
        .queries()
        .await
        .count_ledger(as_role(
            pb::CountLedgerRequest {
                filter: Some(open()),
                group_by: vec![
                    pb::LedgerDimension::Status as i32,
                    pb::LedgerDimension::LeadUnit as i32,
                    pb::LedgerDimension::ReceivedDay as i32,
                ],
                min_position,
            },
            "dispatcher",
        ))
        .await
        .expect("count")
        .into_inner();
    assert_eq!(counts.total, total(&server, "dispatcher", open()).await);
    for grouping in &counts.groupings {
        assert_eq!(
            grouping.buckets.iter().map(|b| b.count).sum::<u64>(),
            counts.total,
            "every row falls in one group of {:?}",
            grouping.dimension
        );
    }
    for bucket in &counts.groupings[0].buckets {
        let status = pb::ComplaintStatus::from_str_name(&bucket.key).expect("a status name");
        let api = total(
            &server,
            "dispatcher",
            pb::LedgerFilter {
                statuses: vec![status as i32],
                ..Default::default()
            },
        )
        .await;
        assert_eq!(bucket.count, api, "{}", bucket.key);
    }
    // Received on Wednesday 14 October 2026, Beijing time.
    assert_eq!(counts.groupings[2].buckets[0].key, "2026-10-14");
    // The CLI prints the same numbers, Chinese names beside the codes.
    let printed = crate::support::cli(
        &server,
        &[
            "ledger",
            "count",
            "--status",
            "dispatched",
            "--by",
            "status,day",
            "--as",
            "dispatcher",
        ],
    );
    let dispatched = total(
        &server,
        "dispatcher",
        pb::LedgerFilter {
            statuses: vec![pb::ComplaintStatus::Dispatched as i32],
            ..Default::default()
        },
    )
    .await;
    let line = printed
        .lines()
        .find(|l| l.contains("dispatched 已派"))
        .unwrap_or_else(|| panic!("{printed}"));
    assert!(
        line.trim_end().ends_with(&format!(" {dispatched}")),
        "{line}"
    );
    assert!(printed.contains("2026-10-14"), "{printed}");
    assert!(
        printed.contains(&format!("{dispatched} rows in all")),
        "{printed}"
    );
    let refused = server
        .queries()
        .await
        .count_ledger(as_role(
            pb::CountLedgerRequest {
                group_by: vec![
                    pb::LedgerDimension::Area as i32,
                    pb::LedgerDimension::Area as i32,
                ],
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect_err("a repeated dimension");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("group_by"),
        "{}",
        refused.message()
    );
    let empty = server
        .queries()
        .await
        .count_ledger(as_role(pb::CountLedgerRequest::default(), "dispatcher"))
        .await
        .expect_err("no dimension");
    assert_eq!(empty.code(), tonic::Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_units_page_shows_the_evaluation_and_its_red_and_black_lists() {
    let (server, _clock, _ids) = seeded_server().await;
    let min_position = crate::support::head(&server).await;
    let evaluation = server
        .queries()
        .await
        .get_evaluation(as_role(
            pb::GetEvaluationRequest {
                period: "2026-10".into(),
                group_by: pb::EvaluationGroup::Unit as i32,
                min_position,
                ..Default::default()
            },
            "supervisor",
        ))
        .await
        .expect("evaluation")
        .into_inner();
    assert!(!evaluation.groups.is_empty());
    // The trend of the two months before, from the same call, equals those
    // months' own evaluations.
    let with_trend = server
        .queries()
        .await
        .get_evaluation(as_role(
            pb::GetEvaluationRequest {
                period: "2026-11".into(),
                group_by: pb::EvaluationGroup::Unit as i32,
                trend_periods: 2,
                min_position,
                ..Default::default()
            },
            "supervisor",
        ))
        .await
        .expect("evaluation with a trend")
        .into_inner();
    let periods: Vec<&str> = with_trend.trend.iter().map(|t| t.period.as_str()).collect();
    assert_eq!(periods, ["2026-09", "2026-10"]);
    let october = &with_trend.trend[1];
    assert_eq!(october.groups.len(), evaluation.groups.len());
    for (score, group) in october.groups.iter().zip(&evaluation.groups) {
        assert_eq!(score.key, group.key);
        assert_eq!(score.valid_callbacks, group.valid_callbacks);
        assert_eq!(score.composite_score, group.composite_score);
    }
    let cookie = sign_in(&server, "supervisor").await;
    let page = fetch(
        &server,
        "GET",
        "/dashboard/units?period=2026-10&group=unit",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    for group in &evaluation.groups {
        let marker = format!("data-group=\"{}\"", group.key);
        assert_eq!(
            attribute(&page.body, &marker, "data-valid"),
            group.valid_callbacks.to_string()
        );
        let composite = group
            .composite_score
            .map_or("—".to_owned(), |c| format!("{c:.1}"));
        assert_eq!(attribute(&page.body, &marker, "data-composite"), composite);
    }
    let red_at = page.body.find("id=\"red-list\"").unwrap();
    let red = &page.body[red_at..red_at + page.body[red_at..].find("</ol>").unwrap()];
    for key in &evaluation.red_list {
        assert!(
            red.contains(&format!("data-key=\"{key}\"")),
            "{key} in {red}"
        );
    }
    assert!(page.body.contains("综合得分走势"));
    // A period the API refuses is a 400 page with the API's reason.
    let bad = fetch(
        &server,
        "GET",
        "/dashboard/units?period=someday",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("period"), "{}", bad.body);
    // The hotline may not read evaluations: no menu entry, and a refusal.
    let hotline = sign_in(&server, "hotline").await;
    let refused = fetch(&server, "GET", "/dashboard/units", Some(&hotline), None).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let overview = fetch(&server, "GET", "/dashboard", Some(&hotline), None).await;
    assert!(!overview.body.contains("href=\"/dashboard/units\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_page_filters_pages_and_exports_as_the_api_does() {
    let (server, _clock, _ids) = busy_server().await;
    let cookie = sign_in(&server, "dispatcher").await;
    let all = total(&server, "dispatcher", pb::LedgerFilter::default()).await;
    let page = fetch(&server, "GET", "/dashboard/ledger", Some(&cookie), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.number("ledger-total"), all);
    // What docs/dashboard.md promises of every page's headers.
    assert_eq!(page.header("cache-control"), "no-store");
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.body.matches("<tr data-id=").count() as u64, all);
    let dispatched = total(
        &server,
        "dispatcher",
        pb::LedgerFilter {
            statuses: vec![pb::ComplaintStatus::Dispatched as i32],
            overdue_only: true,
            ..Default::default()
        },
    )
    .await;
    let filtered = fetch(
        &server,
        "GET",
        "/dashboard/ledger?status=dispatched&overdue=1&order=due_asc",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(filtered.number("ledger-total"), dispatched);
    // The export link carries the filter.
    assert!(
        filtered
            .body
            .contains("/dashboard/ledger/export?status=dispatched&amp;overdue=1&amp;order=due_asc&amp;format=csv"),
        "{}",
        filtered.body
    );
    let csv = fetch(
        &server,
        "GET",
        "/dashboard/ledger/export?status=dispatched&overdue=1&format=csv",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(csv.header("content-type").starts_with("text/csv"));
    assert!(csv.header("content-disposition").starts_with("attachment;"));
    let lines = csv.body.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    assert_eq!(lines, dispatched + 1, "a header and a line per row");
    // Paging: a page of one row per request is not offered, but a text
    // filter narrowing to nothing shows no next page.
    let none = fetch(
        &server,
        "GET",
        "/dashboard/ledger?text=%E6%97%A0%E6%AD%A4%E8%AF%8D",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(none.number("ledger-total"), 0);
    assert!(!none.body.contains("id=\"next-page\""));
    // Bad parameters name themselves.
    for (query, param) in [
        ("status=lost", "status"),
        ("channel=pigeon", "channel"),
        ("from=yesterday", "from"),
        ("order=random", "order"),
    ] {
        let bad = fetch(
            &server,
            "GET",
            &format!("/dashboard/ledger?{query}"),
            Some(&cookie),
            None,
        )
        .await;
        assert_eq!(bad.status, 400, "{query}: {}", bad.body);
        assert!(bad.body.contains(param), "{query}: {}", bad.body);
    }
    let bad_format = fetch(
        &server,
        "GET",
        "/dashboard/ledger/export?format=pdf",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(bad_format.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rectification_page_shows_item_by_item_closure_as_the_api_does() {
    let (server, _clock, _ids) = seeded_server().await;
    let min_position = crate::support::head(&server).await;
    let mut ledgers = server.ledgers().await;
    let ledger = ledgers
        .get_ledger(as_role(
            pb::GetLedgerRequest {
                ledger_id: "plan-2021".into(),
                min_position,
            },
            "dispatcher",
        ))
        .await
        .expect("get ledger")
        .into_inner();
    let tally = ledger.ledger.unwrap().tally.unwrap();
    assert!(tally.total > 100, "the plan's tasks");
    let open_items = ledgers
        .list_items(as_role(
            pb::ListItemsRequest {
                ledger_id: "plan-2021".into(),
                open_only: true,
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("list items")
        .into_inner()
        .items;
    let cookie = sign_in(&server, "dispatcher").await;
    let list = fetch(&server, "GET", "/dashboard/rect", Some(&cookie), None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body.contains("href=\"/dashboard/rect/plan-2021\""),
        "{}",
        list.body
    );
    let page = fetch(
        &server,
        "GET",
        "/dashboard/rect/plan-2021",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        attribute(&page.body, "id=\"ledger-closed\"", "data-total"),
        tally.total.to_string()
    );
    assert_eq!(
        attribute(&page.body, "id=\"ledger-closed\"", "data-done"),
        tally.closed.to_string()
    );
    assert_eq!(page.number("open-items"), open_items.len() as u64);
    for group in &ledger.groups {
        let t = group.tally.unwrap();
        assert_eq!(
            attribute(
                &page.body,
                &format!("id=\"group-{}\"", group.group),
                "data-total"
            ),
            t.total.to_string()
        );
    }
    assert!(
        page.body.contains("获得电力"),
        "areas by their Chinese names"
    );
    let missing = fetch(
        &server,
        "GET",
        "/dashboard/rect/no-such",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_sees_its_own_inbox_and_not_another_units() {
    let (server, _clock, ids) = busy_server().await;
    let mut complaints = server.complaints().await;
    let lead = get(&mut complaints, &ids[0]).await.lead_unit;
    let min_position = crate::support::head(&server).await;
    let inbox = server
        .queries()
        .await
        .get_inbox(as_unit(
            pb::GetInboxRequest {
                unit: lead.clone(),
                min_position,
            },
            &lead,
        ))
        .await
        .expect("inbox")
        .into_inner();
    let reply = fetch(
        &server,
        "POST",
        "/dashboard/login",
        None,
        Some(&[("role", "unit"), ("unit", &lead)]),
    )
    .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    let cookie = reply.session();
    let page = fetch(&server, "GET", "/dashboard/inbox", Some(&cookie), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.number("count-lead-to-accept"),
        inbox.lead_to_accept.len() as u64
    );
    assert!(!inbox.lead_to_accept.is_empty());
    for row in &inbox.lead_to_accept {
        assert!(page.body.contains(&format!(
            "data-list=\"lead-to-accept\" data-id=\"{}\"",
            row.complaint_id
        )));
    }
    // Another unit's inbox is the API's refusal, and no unit picker shows.
    assert!(!page.body.contains("name=\"unit\""));
    let other = fetch(
        &server,
        "GET",
        "/dashboard/inbox?unit=water-resources",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(other.status, 403, "{}", other.body);
    assert!(other.body.contains("PermissionDenied"), "{}", other.body);
    // An unknown unit code cannot sign in.
    let unknown = fetch(
        &server,
        "POST",
        "/dashboard/login",
        None,
        Some(&[("role", "unit"), ("unit", "no-such-unit")]),
    )
    .await;
    assert_eq!(unknown.status, 403);
    // The dispatch centre picks any unit.
    let desk = sign_in(&server, "dispatcher").await;
    let chosen = fetch(
        &server,
        "GET",
        &format!("/dashboard/inbox?unit={lead}"),
        Some(&desk),
        None,
    )
    .await;
    assert_eq!(chosen.status, 200);
    assert_eq!(
        chosen.number("count-lead-to-accept"),
        inbox.lead_to_accept.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_code_opens_the_same_identity_once() {
    let server = Server::fresh();
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
    let path = format!("/dashboard/login?code={code}");
    let redeemed = fetch(&server, "GET", &path, None, None).await;
    assert_eq!(redeemed.status, 303);
    assert_eq!(redeemed.header("location"), "/dashboard");
    let page = fetch(
        &server,
        "GET",
        "/dashboard",
        Some(&redeemed.session()),
        None,
    )
    .await;
    assert!(page.body.contains("dashboard-dispatcher"), "{}", page.body);
    // The code is spent.
    let again = fetch(&server, "GET", &path, None, None).await;
    assert_eq!(again.header("location"), "/dashboard/login");
    assert!(again.header("set-cookie").is_empty());
}

#[tokio::test]
async fn the_mechanisms_page_shows_the_apis_station_ranking_and_officer_reports() {
    use rectify::pb::registry_service_client::RegistryServiceClient;
    let server = Server::fresh();
    for kind in ["stations", "officers"] {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("seeds/registry/sample-{kind}.csv"));
        crate::support::cli(
            &server,
            &[
                "admin",
                &format!("import-{kind}"),
                file.to_str().unwrap(),
                "--as",
                "dispatcher",
            ],
        );
    }
    let mut c = server.complaints().await;
    for (channel, station, officer) in [
        (pb::Channel::QrCode, "sample-jungar-station", ""),
        (pb::Channel::QrCode, "sample-jungar-station", ""),
        (pb::Channel::QrCode, "sample-dalad-station", ""),
        (pb::Channel::ExperienceOfficer, "", "TYG-SAMPLE-004"),
    ] {
        c.submit_complaint(as_role(
            pb::SubmitComplaintRequest {
                channel: channel as i32,
                station_code: station.into(),
                officer_id: officer.into(),
                ..crate::support::submit_request("窗口服务")
            },
            "portal",
        ))
        .await
        .expect("submit");
    }
    let position = crate::support::head(&server).await;
    let ranking = RegistryServiceClient::new(server.channel().await)
        .rank_stations(as_role(
            pb::RankStationsRequest {
                min_position: position,
            },
            "dispatcher",
        ))
        .await
        .unwrap()
        .into_inner()
        .stations;
    let cookie = sign_in(&server, "dispatcher").await;
    let page = fetch(&server, "GET", "/dashboard/mechanisms", Some(&cookie), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("城市机制"));
    assert_eq!(ranking.len(), 4);
    let mut seen = Vec::new();
    for row in page.body.split("<tr data-station=\"").skip(1) {
        let code = row.split('"').next().unwrap();
        let complaints: u32 = row
            .split("<td class=\"complaints\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .and_then(|n| n.parse().ok())
            .expect("a complaints cell");
        seen.push((code.to_owned(), complaints));
    }
    let expected: Vec<(String, u32)> = ranking
        .iter()
        .map(|s| (s.station.clone().unwrap().code, s.complaints))
        .collect();
    assert_eq!(seen, expected, "the page's ranking is the API's");
    assert_eq!(seen[0], ("sample-jungar-station".to_owned(), 2));
    // The station's district and owning unit by Chinese name, code beside.
    let jungar = page
        .body
        .split("<tr data-station=\"sample-jungar-station\"")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("the station's row");
    assert!(jungar.contains("准格尔旗 <code>jungar</code>"), "{jungar}");
    assert!(
        jungar.contains("准格尔旗政府 <code>jungar-gov</code>"),
        "{jungar}"
    );
    assert_eq!(page.number("officer-reports"), 1);
}
