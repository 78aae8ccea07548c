//! The dispatch centre's dashboard (进度可视化), server-rendered HTML under
//! [`PREFIX`] on the gRPC port: the router and its handlers.
//!
//! Like Open311, each handler builds the gRPC request a client would send,
//! with the identity of the signed-in session, and calls the same service
//! implementations: the role matrix, unit scoping and masking are the
//! API's. No business rule lives here; the pages are in [`pages`].
//!
//! Sign-in ([`sessions`]): with principals configured, a person posts their
//! principal's token once; a principal of a role in [`ROLES`] gets a
//! session whose opaque id is the `HttpOnly; SameSite=Strict` cookie. The
//! token is never stored, echoed or put in a URL. Without principals
//! (development on loopback) the form offers a role instead. Pages without
//! a live session answer 303 to the login page.
//!
//! A signed-in session may ask for a single-use sign-in code
//! (`POST /dashboard/login-code`, valid for a minute) and open
//! `/dashboard/login?code=…` in another browser: the code is no credential
//! of the principal, only a key to this server's memory, and is spent on
//! first use.
//!
//! Counts come from `QueryService.ListLedger` totals, one call per status,
//! warning level, channel and area with `page_size` 1 — no list is paged
//! through; the deadline lists show at most [`LIST_MAX`] rows each.

pub mod pages;
pub mod sessions;

use std::sync::Arc;

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Path, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Duration, Utc};
use maud::Markup;
use tonic::{Status, metadata::MetadataValue};

use self::pages::{ComplaintPage, Count, DeadlineRow, DueRow, EventRow, Overview};
use self::sessions::{COOKIE, Identity, Sessions};
use crate::{
    pb::{
        self, complaint_service_server::ComplaintService, event_service_server::EventService,
        query_service_server::QueryService,
    },
    server::{
        authn::Principals,
        services::{Complaints, Events, Queries},
        state::AppState,
    },
    wire::{HEADER_PRINCIPAL, HEADER_ROLE, HEADER_UNIT, from_timestamp, timestamp},
};

/// Where the dashboard lives on the server's port.
pub const PREFIX: &str = "/dashboard";
/// Roles that may sign in.
pub const ROLES: &[&str] = &["dispatcher", "supervisor", "admin", "hotline", "unit"];
/// Roles offered by the development-mode form (a unit needs a unit code).
const DEV_ROLES: &[&str] = &["dispatcher", "supervisor", "admin", "hotline"];
/// Most rows in each deadline list.
pub const LIST_MAX: u32 = 50;
/// The intake window of the overview's charts, in days.
pub const WINDOW_DAYS: i64 = 30;
/// How far ahead the soon-due list looks, in hours.
pub const SOON_HOURS: i64 = 24;
/// Largest sign-in form accepted, in bytes.
const FORM_BYTES_MAX: usize = 4_096;
/// Statuses of open complaints, with their Chinese names.
const OPEN_STATUSES: &[(pb::ComplaintStatus, &str)] = &[
    (pb::ComplaintStatus::Received, "受理"),
    (pb::ComplaintStatus::AwaitingDispatch, "待派"),
    (pb::ComplaintStatus::Dispatched, "已派"),
    (pb::ComplaintStatus::InProgress, "处办"),
    (pb::ComplaintStatus::Resolved, "已办结"),
    (pb::ComplaintStatus::Verified, "已核查"),
    (pb::ComplaintStatus::CalledBack, "已回访"),
];
/// Intake channels with their Chinese names.
const CHANNELS: &[(pb::Channel, &str)] = &[
    (pb::Channel::Hotline12345, "12345热线"),
    (pb::Channel::MengsubanApp, "蒙速办"),
    (pb::Channel::Wechat, "微信"),
    (pb::Channel::WebPortal, "网站"),
    (pb::Channel::QrCode, "二维码"),
    (pb::Channel::ExperienceOfficer, "体验官"),
    (pb::Channel::SupervisionInspection, "督查"),
    (pb::Channel::Other, "其他"),
];

/// What the handlers share.
#[derive(Debug)]
struct Dashboard {
    /// The catalog (unit and area names) and the clock.
    state: Arc<AppState>,
    /// The configured principals; none means development mode.
    principals: Principals,
    /// Signed-in sessions.
    sessions: Sessions,
    /// `ComplaintService`: one complaint and its history.
    complaints: Complaints,
    /// `EventService`: log verification.
    events: Events,
    /// `QueryService`: the ledger's counts and lists.
    queries: Queries,
}

/// The dashboard router, to merge with the gRPC routes.
pub fn router(state: Arc<AppState>, principals: Principals) -> Router {
    let dashboard = Arc::new(Dashboard {
        complaints: Complaints::new(state.clone()),
        events: Events::new(state.clone()),
        queries: Queries::new(state.clone()),
        sessions: Sessions::default(),
        state,
        principals,
    });
    Router::new()
        .route(PREFIX, get(overview))
        .route(&format!("{PREFIX}/login"), get(login_form).post(login))
        .route(&format!("{PREFIX}/logout"), post(logout))
        .route(&format!("{PREFIX}/login-code"), post(login_code))
        .route(&format!("{PREFIX}/complaints/{{id}}"), get(complaint))
        .with_state(dashboard)
}

fn html(code: StatusCode, markup: Markup) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        markup.into_string(),
    )
        .into_response()
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .header(header::CACHE_CONTROL, "no-store");
    if let Some(cookie) = cookie {
        response = response.header(header::SET_COOKIE, cookie);
    }
    response
        .body(Body::empty())
        .expect("a redirect is a valid response")
}

fn error_page(status: &Status) -> Response {
    let code = match status.code() {
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => StatusCode::FORBIDDEN,
        tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let markup = maud::html! { p { (status.message()) } };
    html(code, markup)
}

/// The session id in the request's cookies.
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// One field of a form-encoded body.
fn form_field(body: &[u8], field: &str) -> Option<String> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == field)
        .and_then(|(_, value)| {
            let value = value.replace('+', " ");
            percent_encoding::percent_decode_str(&value)
                .decode_utf8()
                .ok()
                .map(|v| v.into_owned())
        })
}

impl Dashboard {
    fn identity(&self, headers: &HeaderMap) -> Option<Identity> {
        self.sessions.get(&session_id(headers)?)
    }

    fn who(identity: &Identity) -> String {
        format!("{}（{}）", identity.principal, identity.role)
    }

    fn unit_name(&self, code: &str) -> String {
        self.state
            .catalog
            .unit(code)
            .map_or_else(|| code.to_owned(), |unit| unit.name.clone())
    }

    /// Who a sign-in form names, or why not.
    fn sign_in(&self, body: &[u8]) -> Result<Identity, &'static str> {
        if self.principals.enabled() {
            let token = form_field(body, "token").unwrap_or_default();
            let principal = self
                .principals
                .find(&token)
                .filter(|p| ROLES.contains(&p.role.as_str()))
                .ok_or("令牌无效或无权使用看板 (unknown token or a role without the dashboard)")?;
            return Ok(Identity {
                role: principal.role.clone(),
                principal: principal.name.clone(),
                unit: principal.unit.clone(),
            });
        }
        let role = form_field(body, "role").unwrap_or_default();
        let role = DEV_ROLES
            .iter()
            .find(|r| **r == role)
            .ok_or("请选择角色 (choose a role)")?;
        Ok(Identity {
            role: (*role).to_owned(),
            principal: format!("dashboard-{role}"),
            unit: None,
        })
    }

    /// A gRPC request carrying `identity`'s metadata.
    fn request<T>(identity: &Identity, message: T) -> Result<tonic::Request<T>, Status> {
        let mut request = tonic::Request::new(message);
        let value = |text: &str| {
            MetadataValue::try_from(text)
                .map_err(|_| Status::internal("a principal is not a valid header value"))
        };
        let metadata = request.metadata_mut();
        metadata.insert(HEADER_ROLE, value(&identity.role)?);
        metadata.insert(HEADER_PRINCIPAL, value(&identity.principal)?);
        if let Some(unit) = &identity.unit {
            metadata.insert(HEADER_UNIT, value(unit)?);
        }
        Ok(request)
    }

    async fn ledger(
        &self,
        identity: &Identity,
        filter: pb::LedgerFilter,
        page_size: u32,
    ) -> Result<pb::ListLedgerResponse, Status> {
        let request = pb::ListLedgerRequest {
            filter: Some(filter),
            order: pb::LedgerOrder::DueAsc as i32,
            page_size,
            ..Default::default()
        };
        Ok(self
            .queries
            .list_ledger(Self::request(identity, request)?)
            .await?
            .into_inner())
    }

    async fn total(&self, identity: &Identity, filter: pb::LedgerFilter) -> Result<u64, Status> {
        Ok(self.ledger(identity, filter, 1).await?.total)
    }

    fn open_filter() -> pb::LedgerFilter {
        pb::LedgerFilter {
            statuses: OPEN_STATUSES.iter().map(|(s, _)| *s as i32).collect(),
            ..Default::default()
        }
    }

    fn due_rows(&self, rows: Vec<pb::LedgerRow>, overdue: bool) -> Vec<DueRow> {
        rows.into_iter()
            .filter(|row| row.overdue == overdue)
            .filter_map(|row| {
                let due_at = row.next_due_at.as_ref().and_then(from_timestamp)?;
                Some(DueRow {
                    lead_unit: self.unit_name(&row.lead_unit),
                    id: row.complaint_id,
                    title: row.title,
                    due_at,
                })
            })
            .collect()
    }

    async fn overview(&self, identity: &Identity) -> Result<Overview, Status> {
        let now = self.state.clock.now();
        let mut by_status = Vec::new();
        for (status, label) in OPEN_STATUSES {
            let filter = pb::LedgerFilter {
                statuses: vec![*status as i32],
                ..Default::default()
            };
            by_status.push(Count {
                code: status_code(*status),
                label: (*label).to_owned(),
                count: self.total(identity, filter).await?,
            });
        }
        let open_total = self.total(identity, Self::open_filter()).await?;
        let at_least = |level: pb::WarningLevel| pb::LedgerFilter {
            min_warning: level as i32,
            ..Self::open_filter()
        };
        let red = self
            .total(identity, at_least(pb::WarningLevel::Red))
            .await?;
        let yellow_or_red = self
            .total(identity, at_least(pb::WarningLevel::Yellow))
            .await?;
        let by_warning = vec![
            Count {
                code: "yellow".into(),
                label: "黄色预警".into(),
                count: yellow_or_red - red,
            },
            Count {
                code: "red".into(),
                label: "红色预警".into(),
                count: red,
            },
        ];
        let (by_channel, by_area) = self.intake(identity, now).await?;
        let overdue = self
            .ledger(
                identity,
                pb::LedgerFilter {
                    overdue_only: true,
                    ..Self::open_filter()
                },
                LIST_MAX,
            )
            .await?;
        let soon = self
            .ledger(
                identity,
                pb::LedgerFilter {
                    due_before: Some(timestamp(now + Duration::hours(SOON_HOURS))),
                    ..Self::open_filter()
                },
                LIST_MAX,
            )
            .await?;
        Ok(Overview {
            who: Self::who(identity),
            now,
            open_total,
            by_status,
            by_warning,
            by_channel,
            by_area,
            window_days: WINDOW_DAYS,
            overdue: self.due_rows(overdue.rows, true),
            soon_due: self.due_rows(soon.rows, false),
            soon_hours: SOON_HOURS,
        })
    }

    /// Intake over the window by channel and by area (areas with none left
    /// out).
    async fn intake(
        &self,
        identity: &Identity,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Count>, Vec<Count>), Status> {
        let since = Some(timestamp(now - Duration::days(WINDOW_DAYS)));
        let mut by_channel = Vec::new();
        for (channel, label) in CHANNELS {
            let filter = pb::LedgerFilter {
                channel: *channel as i32,
                received_from: since,
                ..Default::default()
            };
            by_channel.push(Count {
                code: channel
                    .as_str_name()
                    .trim_start_matches("CHANNEL_")
                    .to_lowercase(),
                label: (*label).to_owned(),
                count: self.total(identity, filter).await?,
            });
        }
        let mut by_area = Vec::new();
        for area in self.state.catalog.areas() {
            let filter = pb::LedgerFilter {
                area: area.code.clone(),
                received_from: since,
                ..Default::default()
            };
            let count = self.total(identity, filter).await?;
            if count > 0 {
                by_area.push(Count {
                    code: area.code.clone(),
                    label: area.name.clone(),
                    count,
                });
            }
        }
        Ok((by_channel, by_area))
    }

    async fn complaint(&self, identity: &Identity, id: &str) -> Result<ComplaintPage, Status> {
        let view = self
            .complaints
            .get_complaint(Self::request(
                identity,
                pb::GetComplaintRequest {
                    complaint_id: id.to_owned(),
                    min_position: 0,
                },
            )?)
            .await?
            .into_inner()
            .complaint
            .ok_or_else(|| Status::internal("a complaint reply without its complaint"))?;
        let events = self
            .complaints
            .get_history(Self::request(
                identity,
                pb::GetHistoryRequest {
                    complaint_id: id.to_owned(),
                },
            )?)
            .await?
            .into_inner()
            .events;
        // Only roles the API lets verify see anything about it.
        let log_verifies = match self
            .events
            .verify_log(Self::request(identity, pb::VerifyLogRequest {})?)
            .await
        {
            Ok(reply) => Some(reply.into_inner().ok),
            Err(status) if status.code() == tonic::Code::PermissionDenied => None,
            Err(status) => return Err(status),
        };
        let status = pb::ComplaintStatus::try_from(view.status).unwrap_or_default();
        Ok(ComplaintPage {
            who: Self::who(identity),
            now: self.state.clock.now(),
            id: view.complaint_id,
            title: view.title,
            status: (status_code(status), status_label(status).to_owned()),
            routing_rule: view.routing_rule,
            lead_unit: self.unit_name(&view.lead_unit),
            responsible_units: view
                .responsible_units
                .iter()
                .map(|u| self.unit_name(u))
                .collect(),
            deadlines: view
                .deadlines
                .iter()
                .map(|d| DeadlineRow {
                    milestone: milestone_label(d.milestone).to_owned(),
                    due_at: d.due_at.as_ref().and_then(from_timestamp),
                    met_at: d.met_at.as_ref().and_then(from_timestamp),
                })
                .collect(),
            events: events
                .into_iter()
                .map(|e| EventRow {
                    position: e.position,
                    recorded_at: e.recorded_at.as_ref().and_then(from_timestamp),
                    event_type: e.event_type,
                    actor: e.actor,
                })
                .collect(),
            log_verifies,
        })
    }
}

/// `in_progress` for `COMPLAINT_STATUS_IN_PROGRESS`.
fn status_code(status: pb::ComplaintStatus) -> String {
    status
        .as_str_name()
        .trim_start_matches("COMPLAINT_STATUS_")
        .to_lowercase()
}

fn status_label(status: pb::ComplaintStatus) -> &'static str {
    match status {
        pb::ComplaintStatus::Closed => "销号",
        other => OPEN_STATUSES
            .iter()
            .find(|(s, _)| *s == other)
            .map_or("未知", |(_, label)| label),
    }
}

fn milestone_label(milestone: i32) -> &'static str {
    match pb::Milestone::try_from(milestone).unwrap_or_default() {
        pb::Milestone::Dispatch => "转派",
        pb::Milestone::Accept => "签收",
        pb::Milestone::FirstContact => "首次联系",
        pb::Milestone::Resolve => "办结",
        pb::Milestone::Unspecified => "未知",
    }
}

fn login_url() -> String {
    format!("{PREFIX}/login")
}

/// The sign-in form, or with `?code=` the redemption of a sign-in code.
async fn login_form(State(dashboard): State<Arc<Dashboard>>, request: Request) -> Response {
    let code = request
        .uri()
        .query()
        .and_then(|query| form_field(query.as_bytes(), "code"));
    if let Some(code) = code {
        return match dashboard.sessions.redeem(&code) {
            Some(identity) => {
                let id = dashboard.sessions.start(identity);
                redirect(PREFIX, Some(session_cookie(&id, is_tls(&request))))
            }
            None => redirect(&login_url(), None),
        };
    }
    let development = !dashboard.principals.enabled();
    html(StatusCode::OK, pages::login(development, DEV_ROLES, None))
}

/// Issues a single-use sign-in code to a signed-in session, to open the
/// same identity in another browser within a minute.
async fn login_code(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return cross_origin();
    }
    let Some(identity) = dashboard.identity(&headers) else {
        return redirect(&login_url(), None);
    };
    let who = Dashboard::who(&identity);
    let code = dashboard.sessions.issue_code(identity);
    html(StatusCode::OK, pages::login_code(&who, &code))
}

/// Whether a form post comes from the dashboard's own pages: a browser's
/// `Origin`, when sent, must name the host the request was sent to. This
/// refuses sign-in forgery (a foreign page signing a browser in as someone
/// else), which `SameSite` does not cover.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(a), Some(b)) if a == b)
}

fn cross_origin() -> Response {
    html(
        StatusCode::FORBIDDEN,
        maud::html! { p { "跨站请求被拒绝 (cross-origin form refused)" } },
    )
}

/// Whether `request` came over TLS.
fn is_tls(request: &Request) -> bool {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .is_some()
}

/// The session cookie for session `id`.
fn session_cookie(id: &str, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    let max_age = sessions::SESSION_TTL.as_secs();
    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path={PREFIX}; Max-Age={max_age}{secure}")
}

async fn login(State(dashboard): State<Arc<Dashboard>>, request: Request) -> Response {
    if !same_origin(request.headers()) {
        return cross_origin();
    }
    let tls = is_tls(&request);
    let Ok(body) = to_bytes(request.into_body(), FORM_BYTES_MAX).await else {
        return html(
            StatusCode::PAYLOAD_TOO_LARGE,
            maud::html! { p { "表单过大" } },
        );
    };
    let development = !dashboard.principals.enabled();
    match dashboard.sign_in(&body) {
        Ok(identity) => {
            tracing::info!(
                principal = identity.principal,
                role = identity.role,
                "dashboard sign-in"
            );
            let id = dashboard.sessions.start(identity);
            redirect(PREFIX, Some(session_cookie(&id, tls)))
        }
        Err(message) => html(
            StatusCode::FORBIDDEN,
            pages::login(development, DEV_ROLES, Some(message)),
        ),
    }
}

async fn logout(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return cross_origin();
    }
    if let Some(id) = session_id(&headers) {
        dashboard.sessions.end(&id);
    }
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path={PREFIX}; Max-Age=0");
    redirect(&login_url(), Some(cookie))
}

async fn overview(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let Some(identity) = dashboard.identity(&headers) else {
        return redirect(&login_url(), None);
    };
    match dashboard.overview(&identity).await {
        Ok(view) => html(StatusCode::OK, pages::overview(&view)),
        Err(status) => error_page(&status),
    }
}

async fn complaint(
    State(dashboard): State<Arc<Dashboard>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(identity) = dashboard.identity(&headers) else {
        return redirect(&login_url(), None);
    };
    match dashboard.complaint(&identity, &id).await {
        Ok(view) => html(StatusCode::OK, pages::complaint(&view)),
        Err(status) => error_page(&status),
    }
}
