//! The dispatch centre's dashboard (进度可视化), server-rendered HTML under
//! [`PREFIX`] on the gRPC port: the router, the shared request plumbing,
//! and one module per page.
//!
//! Like Open311, each page builds the gRPC requests a client would send,
//! with the identity of the signed-in session, and calls the same service
//! implementations: the role matrix, unit scoping and masking are the
//! API's, and a page's numbers are the API's numbers. No business rule
//! lives here.
//!
//! | path | page | reads |
//! | --- | --- | --- |
//! | `/dashboard` | [`overview`] 总览 | `CountLedger`, `ListLedger` |
//! | `/dashboard/units` | [`units`] 单位考评 | `GetEvaluation`, `ListUnitWorkloads` |
//! | `/dashboard/inbox` | [`inbox`] 单位待办 | `GetInbox` |
//! | `/dashboard/ledger` | [`ledger`] 台账, with `/export` | `ListLedger`, `ExportLedger` |
//! | `/dashboard/rect` | [`rect`] 整改销号 | `ListLedgers`, `GetLedger`, `ListItems` |
//! | `/dashboard/complaints/{id}` | [`complaint`] 单件 | `GetComplaint`, `GetHistory`, `VerifyLog` |
//! | `/dashboard/mechanisms` | [`mechanisms`] 城市机制 | `RankStations`, `LiaisonReport`, `OfficerReport` |
//! | `/dashboard/live` | [`live`] server-sent events | the ledger's applied position |
//!
//! Sign-in ([`signin`], [`sessions`]): with principals configured, a person
//! posts their principal's token once; a principal of a role in [`ROLES`]
//! gets a session whose opaque id is the `HttpOnly; SameSite=Strict`
//! cookie. The token is never stored, echoed or put in a URL. Without
//! principals (development on loopback) the form offers a role (and a unit
//! code for the unit role) instead. Pages without a live session answer
//! 303 to the login page.
//!
//! Every page is read-only; the only forms post sign-in and sign-out.

pub mod complaint;
pub mod inbox;
pub mod layout;
pub mod ledger;
pub mod live;
pub mod mechanisms;
pub mod overview;
pub mod rect;
pub mod sessions;
pub mod signin;
pub mod units;

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use maud::Markup;
use tonic::{Status, metadata::MetadataValue};

use self::layout::Chrome;
use self::sessions::{COOKIE, Identity, Sessions};
use crate::{
    pb,
    server::{
        auth::{self, Action},
        authn::Principals,
        form::Params,
        services::{Complaints, Events, Ledgers, Queries, Registry},
        state::AppState,
    },
    wire::{HEADER_PRINCIPAL, HEADER_ROLE, HEADER_UNIT},
};

/// Where the dashboard lives on the server's port.
pub const PREFIX: &str = "/dashboard";
/// Roles that may sign in.
pub const ROLES: &[&str] = &["dispatcher", "supervisor", "admin", "hotline", "unit"];
/// Content-Security-Policy of every page: nothing from elsewhere, the one
/// script from this server, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; \
frame-ancestors 'none'; base-uri 'none'";

/// The menu: path, label, and what the API must let the role do for the
/// page to be offered.
const MENU: &[(&str, &str, Action)] = &[
    ("/dashboard", "总览", Action::ReadLedger),
    ("/dashboard/units", "单位考评", Action::ReadEvaluation),
    ("/dashboard/inbox", "单位待办", Action::ReadInbox),
    ("/dashboard/ledger", "台账", Action::ReadLedger),
    ("/dashboard/rect", "整改销号", Action::ReadLedger),
    ("/dashboard/mechanisms", "城市机制", Action::ReadEvaluation),
];

/// What the handlers share.
#[derive(Debug)]
pub struct Dashboard {
    /// The catalog (unit and area names), the clock and the ledger.
    state: Arc<AppState>,
    /// The configured principals; none means development mode.
    principals: Principals,
    /// Signed-in sessions.
    sessions: Sessions,
    /// `ComplaintService`: one complaint and its history.
    complaints: Complaints,
    /// `EventService`: log verification.
    events: Events,
    /// `QueryService`: the ledger's counts, lists, inboxes and evaluation.
    queries: Queries,
    /// `LedgerService`: rectification ledgers.
    ledgers: Ledgers,
    /// `RegistryService`: the stations' ranking, liaison and officer reports.
    registry: Registry,
    /// Becomes `true` when the server begins to shut down.
    stop: tokio::sync::watch::Receiver<bool>,
}

/// The dashboard router, to merge with the gRPC routes; live feeds end when
/// `stop` turns `true`.
pub fn router(
    state: Arc<AppState>,
    principals: Principals,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Router {
    let dashboard = Arc::new(Dashboard {
        complaints: Complaints::new(state.clone()),
        events: Events::new(state.clone()),
        queries: Queries::new(state.clone()),
        ledgers: Ledgers::new(state.clone()),
        registry: Registry::new(state.clone()),
        sessions: Sessions::default(),
        stop,
        state,
        principals,
    });
    Router::new()
        .route(PREFIX, get(overview_page))
        .route(&format!("{PREFIX}/units"), get(units_page))
        .route(&format!("{PREFIX}/inbox"), get(inbox_page))
        .route(&format!("{PREFIX}/ledger"), get(ledger_page))
        .route(&format!("{PREFIX}/ledger/export"), get(ledger::export))
        .route(&format!("{PREFIX}/rect"), get(rect_list_page))
        .route(&format!("{PREFIX}/rect/{{id}}"), get(rect_page))
        .route(&format!("{PREFIX}/complaints/{{id}}"), get(complaint_page))
        .route(&format!("{PREFIX}/mechanisms"), get(mechanisms_page))
        .route(&format!("{PREFIX}/live"), get(live::feed))
        .route(&format!("{PREFIX}/assets/live.js"), get(live::script))
        .route(
            &format!("{PREFIX}/login"),
            get(signin::login_form).post(signin::login),
        )
        .route(&format!("{PREFIX}/logout"), post(signin::logout))
        .route(&format!("{PREFIX}/login-code"), post(signin::login_code))
        .with_state(dashboard)
}

/// An HTML response that no cache keeps and no other site frames.
fn html(code: StatusCode, markup: Markup) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
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

/// The page for a refused or failed call: the API's own message.
fn error_page(status: &Status) -> Response {
    let (code, heading) = match status.code() {
        tonic::Code::NotFound => (StatusCode::NOT_FOUND, "未找到"),
        tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => {
            (StatusCode::FORBIDDEN, "无权查看")
        }
        tonic::Code::InvalidArgument => (StatusCode::BAD_REQUEST, "查询条件有误"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "服务出错"),
    };
    let markup = layout::page(
        heading,
        None,
        maud::html! {
            section {
                h2 { (heading) }
                p.error id="error" data-code=(format!("{:?}", status.code())) { (status.message()) }
                p { a href=(PREFIX) { "返回总览" } }
            }
        },
    );
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

/// A query string's parameters; a malformed one is `INVALID_ARGUMENT`.
fn params(query: Option<&str>) -> Result<Params, Status> {
    Params::parse(query.unwrap_or_default()).map_err(Status::from)
}

impl Dashboard {
    /// The identity of the request's session, if it has a live one.
    fn identity(&self, headers: &HeaderMap) -> Option<Identity> {
        self.sessions.get(&session_id(headers)?)
    }

    /// The Chinese name of a unit, or its code when the catalog lacks it.
    fn unit_name(&self, code: &str) -> String {
        self.state
            .catalog
            .unit(code)
            .map_or_else(|| code.to_owned(), |unit| unit.name.clone())
    }

    /// The Chinese name of a task area, or its code.
    fn area_name(&self, code: &str) -> String {
        self.state
            .catalog
            .area(code)
            .map_or_else(|| code.to_owned(), |area| area.name.clone())
    }

    /// The Chinese name of a district, or its code.
    fn district_name(&self, code: &str) -> String {
        self.state
            .catalog
            .district(code)
            .map_or_else(|| code.to_owned(), |district| district.name.clone())
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

    /// Whether the API lets `identity` do `action` at all.
    fn may(identity: &Identity, action: Action) -> bool {
        Self::request(identity, ())
            .ok()
            .and_then(|request| auth::actor(&request).ok())
            .is_some_and(|actor| auth::permits(&actor.role, action))
    }

    /// The header of a page at `path` for `identity`, with the position the
    /// ledger had reached before the page's data was read.
    fn chrome(&self, identity: &Identity, path: &str) -> Chrome {
        Chrome {
            who: format!("{}（{}）", identity.principal, identity.role),
            menu: MENU
                .iter()
                .filter(|(_, _, action)| Self::may(identity, *action))
                .map(|(href, label, _)| (*href, *label, *href == path))
                .collect(),
            position: self.state.ledger.applied(),
        }
    }

    /// One page of the ledger in due order.
    async fn list_ledger(
        &self,
        identity: &Identity,
        request: pb::ListLedgerRequest,
    ) -> Result<pb::ListLedgerResponse, Status> {
        use pb::query_service_server::QueryService as _;
        Ok(self
            .queries
            .list_ledger(Self::request(identity, request)?)
            .await?
            .into_inner())
    }

    /// Counts of the ledger under `filter`, grouped by `dimensions`.
    async fn count_ledger(
        &self,
        identity: &Identity,
        filter: pb::LedgerFilter,
        dimensions: &[pb::LedgerDimension],
    ) -> Result<pb::CountLedgerResponse, Status> {
        use pb::query_service_server::QueryService as _;
        let request = pb::CountLedgerRequest {
            filter: Some(filter),
            group_by: dimensions.iter().map(|d| *d as i32).collect(),
            min_position: 0,
        };
        Ok(self
            .queries
            .count_ledger(Self::request(identity, request)?)
            .await?
            .into_inner())
    }

    /// Rows of ledger-list form for a deadline table.
    fn due_rows(&self, rows: &[pb::LedgerRow]) -> Vec<layout::DueRow> {
        rows.iter()
            .map(|row| layout::DueRow {
                id: row.complaint_id.clone(),
                title: row.title.clone(),
                lead_unit: self.unit_name(&row.lead_unit),
                due_at: row
                    .next_due_at
                    .as_ref()
                    .and_then(crate::wire::from_timestamp),
            })
            .collect()
    }

    /// The response for a page: its markup, or the API's refusal.
    fn respond(result: Result<Markup, Status>) -> Response {
        match result {
            Ok(markup) => html(StatusCode::OK, markup),
            Err(status) => error_page(&status),
        }
    }
}

/// Runs a page's loader for a signed-in request, or sends the browser to
/// sign in.
macro_rules! signed_in {
    ($dashboard:ident, $headers:ident, |$identity:ident| $load:expr) => {{
        let Some($identity) = $dashboard.identity(&$headers) else {
            return redirect(&signin::login_url(), None);
        };
        Dashboard::respond($load.await)
    }};
}

async fn overview_page(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    signed_in!(dashboard, headers, |identity| overview::load(
        &dashboard, &identity
    ))
}

async fn units_page(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    signed_in!(dashboard, headers, |identity| units::load(
        &dashboard,
        &identity,
        query.as_deref()
    ))
}

async fn inbox_page(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    signed_in!(dashboard, headers, |identity| inbox::load(
        &dashboard,
        &identity,
        query.as_deref()
    ))
}

async fn ledger_page(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    signed_in!(dashboard, headers, |identity| ledger::load(
        &dashboard,
        &identity,
        query.as_deref()
    ))
}

async fn rect_list_page(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    signed_in!(dashboard, headers, |identity| rect::load_list(
        &dashboard, &identity
    ))
}

async fn rect_page(
    State(dashboard): State<Arc<Dashboard>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    signed_in!(dashboard, headers, |identity| rect::load(
        &dashboard, &identity, &id
    ))
}

async fn complaint_page(
    State(dashboard): State<Arc<Dashboard>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    signed_in!(dashboard, headers, |identity| complaint::load(
        &dashboard, &identity, &id
    ))
}

async fn mechanisms_page(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    signed_in!(dashboard, headers, |identity| mechanisms::load(
        &dashboard, &identity
    ))
}
