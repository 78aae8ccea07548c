//! Open311 GeoReport v2 over HTTP, served on the gRPC port under
//! [`PREFIX`] (`/open311/v2`): the router and its handlers.
//!
//! Each handler turns its parameters ([`params`]) into the gRPC request a
//! gRPC client would send, with the identity metadata of the caller's
//! `api_key`, and calls the same service implementation gRPC calls — so
//! authorization, validation, sealing of personal data, masking and the log
//! are gRPC's. The reply becomes a [`format::Document`] rendered as JSON or
//! XML by the path's suffix; a `tonic::Status` becomes an Open311 error
//! list with its HTTP status ([`http_status`]).
//!
//! Identity headers sent by the HTTP client are never read here: the
//! requests are built fresh, and [`crate::server::authn`] strips them on
//! these paths. The `api_key` decides who calls ([`Open311::caller`]):
//!
//! - with principals configured, it is a principal's token and the
//!   principal must have role `portal` or `hotline`; every call needs one;
//! - without (trusted development mode), `api_key` names the principal
//!   `portal:<api_key>` with role `portal`; it is required to submit, and
//!   reads without one run as the principal `open311-anonymous`.
//!
//! Endpoints: `discovery`, `services`, `services/{code}`, `requests` (GET
//! and POST), `requests/{id}` (with the complaint's history as `notes` when
//! the caller's role may read it) and `tokens/{token}`, each with `.json`
//! or `.xml`. A request's token is its id.

pub mod format;
pub mod params;

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{Path, RawQuery, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use chrono::{DateTime, SecondsFormat, Utc};
use prost_types::Timestamp;
use tonic::{Code, Status, metadata::MetadataValue};

use self::format::{Document, Format, Node, errors, render};
use self::params::{MAX_DESCRIPTION_CHARS, Params};
use crate::{
    pb::{
        self, catalog_service_server::CatalogService, complaint_service_server::ComplaintService,
        query_service_server::QueryService,
    },
    server::{
        authn::Principals,
        error::ServiceError,
        services::{CatalogApi, Complaints, Queries},
        state::AppState,
    },
    wire::{HEADER_PRINCIPAL, HEADER_ROLE, from_timestamp},
};

/// Where the Open311 endpoints live on the server's port.
pub const PREFIX: &str = "/open311/v2";
/// The GeoReport v2 specification the discovery document names.
pub const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";
/// When this endpoint's shape last changed (discovery's `changeset`).
pub const CHANGESET: &str = "2026-11-30T00:00:00Z";
/// Most requests `GET /requests` returns, as the specification suggests.
pub const MAX_REQUESTS: u32 = 1_000;
/// Most ids one `service_request_id` filter may list.
pub const MAX_REQUEST_IDS: usize = 100;
/// Longest `start_date`..`end_date` window, and the default one ending now.
pub const MAX_WINDOW_DAYS: i64 = 90;
/// The principal of reads without an `api_key` in development mode.
pub const ANONYMOUS: &str = "open311-anonymous";

/// What the handlers share: the gRPC service implementations and the
/// principals that `api_key`s are checked against.
#[derive(Debug, Clone)]
struct Open311 {
    /// The catalog, for names the gRPC replies give only as codes.
    state: Arc<AppState>,
    /// The configured principals; none means trusted development mode.
    principals: Principals,
    /// `ComplaintService`: submit, read one complaint and its history.
    complaints: Complaints,
    /// `QueryService`: the ledger for request lists.
    queries: Queries,
    /// `CatalogService`: areas (services) and districts.
    catalog: CatalogApi,
}

/// Who an Open311 call runs as.
#[derive(Debug, Clone)]
struct Caller {
    /// The role metadata: `portal`, or `hotline` for a hotline token.
    role: String,
    /// The principal metadata, recorded as the events' actor.
    principal: String,
}

/// Whether a call writes (an `api_key` is always required) or reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// A GET: without principals, a missing `api_key` reads anonymously.
    Read,
    /// A POST: an `api_key` is always required.
    Write,
}

/// The Open311 router, to merge with the gRPC routes.
pub fn router(state: Arc<AppState>, principals: Principals) -> Router {
    let api = Arc::new(Open311 {
        complaints: Complaints::new(state.clone()),
        queries: Queries::new(state.clone()),
        catalog: CatalogApi::new(state.clone()),
        state,
        principals,
    });
    let open311 = Router::new()
        .route("/{file}", get(get_top).post(post_top))
        .route("/services/{file}", get(get_service))
        .route("/requests/{file}", get(get_request))
        .route("/tokens/{file}", get(get_token))
        // Misses under the prefix answer in Open311's terms, not with the
        // gRPC fallback (`UNIMPLEMENTED` in an HTTP 200) of the rest of the
        // port.
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(api);
    // The nested fallback does not cover the prefix itself.
    Router::new()
        .route(PREFIX, any(no_route))
        .route(&format!("{PREFIX}/"), any(no_route))
        .nest(PREFIX, open311)
}

async fn no_route() -> Response {
    respond(
        Format::Json,
        Err(Status::not_found("no such Open311 resource")),
    )
}

async fn wrong_method() -> Response {
    let code = StatusCode::METHOD_NOT_ALLOWED;
    let message = "this Open311 resource does not take that method";
    reply(Format::Json, code, &errors(code.as_u16(), message))
}

/// The HTTP status of an Open311 error for a gRPC status.
pub fn http_status(status: &Status) -> StatusCode {
    match status.code() {
        Code::InvalidArgument | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::PermissionDenied | Code::Unauthenticated => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn respond(format: Format, result: Result<Document, Status>) -> Response {
    let (code, document) = match result {
        Ok(document) => (StatusCode::OK, document),
        Err(status) => {
            let code = http_status(&status);
            if code == StatusCode::INTERNAL_SERVER_ERROR {
                tracing::warn!(code = ?status.code(), message = status.message(), "open311 call failed");
            }
            (code, errors(code.as_u16(), status.message()))
        }
    };
    reply(format, code, &document)
}

fn reply(format: Format, code: StatusCode, document: &Document) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, format.content_type())],
        render(document, format),
    )
        .into_response()
}

/// The reply to a path without a known format suffix: a JSON 404.
fn unknown_format() -> Response {
    respond(
        Format::Json,
        Err(Status::not_found("paths end in .json or .xml")),
    )
}

fn not_found(what: &str) -> Status {
    Status::not_found(format!("no such Open311 resource: {what}"))
}

async fn get_top(
    State(api): State<Arc<Open311>>,
    Path(file): Path<String>,
    request: Request,
) -> Response {
    let Some((stem, format)) = Format::split(&file) else {
        return unknown_format();
    };
    // The request's body is not Sync: take what is needed before awaiting.
    let base_url = base_url(&request);
    let query = request.uri().query().unwrap_or_default().to_owned();
    drop(request);
    let result = async {
        let query = Params::parse(&query)?;
        match stem {
            "discovery" => Ok(discovery(&base_url)),
            "services" => api.services(&query).await,
            "requests" => api.list_requests(&query).await,
            other => Err(not_found(other)),
        }
    }
    .await;
    respond(format, result)
}

async fn post_top(
    State(api): State<Arc<Open311>>,
    Path(file): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((stem, format)) = Format::split(&file) else {
        return unknown_format();
    };
    let result = async {
        if stem != "requests" {
            return Err(not_found(stem));
        }
        let body = std::str::from_utf8(&body)
            .map_err(|_| ServiceError::invalid("body", "must be UTF-8 form data"))?;
        let form = Params::parse(body)?;
        let idempotency_key = match headers.get("idempotency-key") {
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| ServiceError::invalid("Idempotency-Key", "must be ASCII"))?
                    .to_owned(),
            ),
            None => None,
        };
        api.create_request(&form, idempotency_key).await
    }
    .await;
    respond(format, result)
}

async fn get_service(
    State(api): State<Arc<Open311>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((code, format)) = Format::split(&file) else {
        return unknown_format();
    };
    let result = async {
        let query = Params::parse(query.as_deref().unwrap_or_default())?;
        api.service_definition(&query, code).await
    }
    .await;
    respond(format, result)
}

async fn get_request(
    State(api): State<Arc<Open311>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((id, format)) = Format::split(&file) else {
        return unknown_format();
    };
    let result = async {
        let query = Params::parse(query.as_deref().unwrap_or_default())?;
        let caller = api.caller(query.get("api_key"), Access::Read)?;
        let record = api.request_record(&caller, id, true).await?;
        Ok(Document::list("service_requests", "request", vec![record]))
    }
    .await;
    respond(format, result)
}

async fn get_token(
    State(api): State<Arc<Open311>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((token, format)) = Format::split(&file) else {
        return unknown_format();
    };
    let result = async {
        let query = Params::parse(query.as_deref().unwrap_or_default())?;
        let caller = api.caller(query.get("api_key"), Access::Read)?;
        // The token is the request id: reading the complaint checks that it
        // exists and that the caller may see it.
        let view = api.complaint(&caller, token).await?;
        Ok(Document::list(
            "service_requests",
            "request",
            vec![Node::Record(vec![
                ("service_request_id", Node::text(&view.complaint_id)),
                ("token", Node::text(token)),
            ])],
        ))
    }
    .await;
    respond(format, result)
}

/// This endpoint's base URL as `request` reached it.
fn base_url(request: &Request) -> String {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("localhost");
    let tls = request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .is_some();
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}{PREFIX}")
}

/// The discovery document, naming `base_url`.
fn discovery(base_url: &str) -> Document {
    let formats = Node::List {
        item: "format",
        items: vec![Node::text("text/xml"), Node::text("application/json")],
    };
    Document {
        root: "discovery",
        body: Node::Record(vec![
            ("changeset", Node::text(CHANGESET)),
            ("contact", Node::text("12345 政务服务便民热线 operators")),
            (
                "key_service",
                Node::text("api_key: a portal token issued by the hotline's operators"),
            ),
            (
                "endpoints",
                Node::List {
                    item: "endpoint",
                    items: vec![Node::Record(vec![
                        ("specification", Node::text(SPECIFICATION)),
                        ("url", Node::text(base_url)),
                        ("changeset", Node::text(CHANGESET)),
                        ("type", Node::text("production")),
                        ("formats", formats),
                    ])],
                },
            ),
        ]),
    }
}

impl Open311 {
    /// Who the call runs as, from its `api_key`; see the module docs.
    fn caller(&self, api_key: Option<&str>, access: Access) -> Result<Caller, Status> {
        if self.principals.enabled() {
            let key = api_key.ok_or_else(|| Status::permission_denied("api_key required"))?;
            let principal = self
                .principals
                .find(key)
                .filter(|p| matches!(p.role.as_str(), "portal" | "hotline"))
                .ok_or_else(|| Status::permission_denied("unknown api_key"))?;
            return Ok(Caller {
                role: principal.role.clone(),
                principal: principal.name.clone(),
            });
        }
        match (api_key, access) {
            (Some(key), _) if params::api_key_shape_ok(key) => Ok(Caller {
                role: "portal".to_owned(),
                principal: format!("portal:{key}"),
            }),
            (Some(_), _) => Err(ServiceError::invalid(
                "api_key",
                "1 to 64 characters of A-Z a-z 0-9 . _ : -",
            )
            .into()),
            (None, Access::Write) => Err(Status::permission_denied("api_key required")),
            (None, Access::Read) => Ok(Caller {
                role: "portal".to_owned(),
                principal: ANONYMOUS.to_owned(),
            }),
        }
    }

    /// A gRPC request carrying `caller`'s identity metadata.
    fn request<T>(caller: &Caller, message: T) -> Result<tonic::Request<T>, Status> {
        let mut request = tonic::Request::new(message);
        let value = |text: &str| {
            MetadataValue::try_from(text)
                .map_err(|_| Status::internal("a principal is not a valid header value"))
        };
        request
            .metadata_mut()
            .insert(HEADER_ROLE, value(&caller.role)?);
        request
            .metadata_mut()
            .insert(HEADER_PRINCIPAL, value(&caller.principal)?);
        Ok(request)
    }

    async fn services(&self, query: &Params) -> Result<Document, Status> {
        let caller = self.caller(query.get("api_key"), Access::Read)?;
        let areas = self
            .catalog
            .list_areas(Self::request(&caller, pb::ListAreasRequest {})?)
            .await?
            .into_inner()
            .areas;
        let catalog = &self.state.catalog;
        let services = areas
            .iter()
            .map(|area| {
                let keywords = catalog
                    .area(&area.code)
                    .map(|a| a.keywords.join(","))
                    .unwrap_or_default();
                let group = catalog
                    .working_groups()
                    .iter()
                    .find(|g| g.code == area.working_group)
                    .map_or_else(|| area.working_group.clone(), |g| g.name.clone());
                let description = area
                    .tasks
                    .iter()
                    .map(|task| task.title.as_str())
                    .collect::<Vec<_>>()
                    .join("；");
                Node::Record(vec![
                    ("service_code", Node::text(&area.code)),
                    ("service_name", Node::text(&area.name)),
                    ("description", Node::text(description)),
                    ("metadata", Node::Bool(true)),
                    ("type", Node::text("realtime")),
                    ("keywords", Node::text(keywords)),
                    ("group", Node::text(group)),
                ])
            })
            .collect();
        Ok(Document::list("services", "service", services))
    }

    async fn service_definition(&self, query: &Params, code: &str) -> Result<Document, Status> {
        let caller = self.caller(query.get("api_key"), Access::Read)?;
        let areas = self
            .catalog
            .list_areas(Self::request(&caller, pb::ListAreasRequest {})?)
            .await?
            .into_inner()
            .areas;
        if !areas.iter().any(|area| area.code == code) {
            return Err(Status::not_found(format!("unknown service_code {code:?}")));
        }
        let districts = self
            .catalog
            .list_districts(Self::request(&caller, pb::ListDistrictsRequest {})?)
            .await?
            .into_inner()
            .districts;
        let values = districts
            .iter()
            .map(|d| {
                Node::Record(vec![
                    ("key", Node::text(&d.code)),
                    ("name", Node::text(&d.name)),
                ])
            })
            .collect();
        let district = Node::Record(vec![
            ("variable", Node::Bool(true)),
            ("code", Node::text("district")),
            ("datatype", Node::text("singlevaluelist")),
            ("required", Node::Bool(false)),
            (
                "datatype_description",
                Node::text("旗区 (banner or district)"),
            ),
            ("order", Node::Integer(1)),
            ("description", Node::text("所在旗区")),
            (
                "values",
                Node::List {
                    item: "value",
                    items: values,
                },
            ),
        ]);
        Ok(Document {
            root: "service_definition",
            body: Node::Record(vec![
                ("service_code", Node::text(code)),
                (
                    "attributes",
                    Node::List {
                        item: "attribute",
                        items: vec![district],
                    },
                ),
            ]),
        })
    }

    /// `POST /requests`: a complaint through `SubmitComplaint`.
    async fn create_request(
        &self,
        form: &Params,
        idempotency_key: Option<String>,
    ) -> Result<Document, Status> {
        let caller = self.caller(form.get("api_key"), Access::Write)?;
        let code = form.required("service_code")?;
        let area = self.state.catalog.area(code).ok_or_else(|| {
            ServiceError::invalid("service_code", format!("unknown service {code:?}"))
        })?;
        let description = form.required("description")?;
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ServiceError::invalid(
                "description",
                format!("longer than {MAX_DESCRIPTION_CHARS} characters"),
            )
            .into());
        }
        let location = params::location(form)?;
        let name = params::full_name(form)?;
        let phone = form.required("phone")?;
        let channel = match form.get("channel").unwrap_or("web_portal") {
            "web_portal" => pb::Channel::WebPortal,
            "mengsuban_app" => pb::Channel::MengsubanApp,
            "wechat" => pb::Channel::Wechat,
            // A station's QR code opens the portal with the station's code.
            "qr_code" => pb::Channel::QrCode,
            "experience_officer" => pb::Channel::ExperienceOfficer,
            _ => {
                return Err(ServiceError::invalid(
                    "channel",
                    "web_portal, mengsuban_app, wechat, qr_code or experience_officer",
                )
                .into());
            }
        };
        let message = pb::SubmitComplaintRequest {
            options: Some(pb::CommandOptions {
                request_id: idempotency_key.unwrap_or_default(),
                ..Default::default()
            }),
            channel: channel as i32,
            kind: pb::ComplaintKind::Complaint as i32,
            submitter: Some(pb::Submitter {
                name,
                phone: phone.to_owned(),
                id_number: String::new(),
            }),
            district: form
                .get("attribute[district]")
                .unwrap_or_default()
                .to_owned(),
            location,
            // The citizen's choice of service is a hint for the dispatch
            // centre, which classifies: its name and code make the title.
            title: format!("{} ({})", area.name, area.code),
            text: description.to_owned(),
            station_code: form
                .get("attribute[station]")
                .unwrap_or_default()
                .to_owned(),
            officer_id: form
                .get("attribute[officer_id]")
                .unwrap_or_default()
                .to_owned(),
            ..Default::default()
        };
        let reply = self
            .complaints
            .submit_complaint(Self::request(&caller, message)?)
            .await?
            .into_inner();
        let id = reply.result.map(|r| r.id).unwrap_or_default();
        Ok(Document::list(
            "service_requests",
            "request",
            vec![Node::Record(vec![
                ("service_request_id", Node::text(id)),
                (
                    "service_notice",
                    Node::text("已受理，等待转派 (received, awaiting dispatch)"),
                ),
                ("account_id", Node::text(&caller.principal)),
            ])],
        ))
    }

    async fn complaint(&self, caller: &Caller, id: &str) -> Result<pb::ComplaintView, Status> {
        let message = pb::GetComplaintRequest {
            complaint_id: id.to_owned(),
            min_position: 0,
        };
        self.complaints
            .get_complaint(Self::request(caller, message)?)
            .await?
            .into_inner()
            .complaint
            .ok_or_else(|| Status::internal("GetComplaint returned no complaint"))
    }

    /// One request's record from `GetComplaint`, and with `notes` its
    /// history from `GetHistory` when the caller's role may read it.
    async fn request_record(&self, caller: &Caller, id: &str, notes: bool) -> Result<Node, Status> {
        let view = self.complaint(caller, id).await?;
        let history = if notes {
            let message = pb::GetHistoryRequest {
                complaint_id: id.to_owned(),
            };
            match self
                .complaints
                .get_history(Self::request(caller, message)?)
                .await
            {
                Ok(reply) => Some(reply.into_inner().events),
                Err(status) if status.code() == Code::PermissionDenied => None,
                Err(status) => return Err(status),
            }
        } else {
            None
        };
        Ok(self.view_record(&view, history.as_deref()))
    }

    fn view_record(&self, view: &pb::ComplaintView, history: Option<&[pb::Event]>) -> Node {
        let (address, coordinates) = params::split_location(&view.location);
        let resolve_due = view
            .deadlines
            .iter()
            .find(|d| d.milestone == pb::Milestone::Resolve as i32)
            .and_then(|d| d.due_at.as_ref());
        let met = view.deadlines.iter().filter_map(|d| d.met_at.as_ref());
        let updated = match history.and_then(|events| events.last()) {
            Some(event) => event.recorded_at.as_ref().and_then(from_timestamp),
            None => [view.received_at.as_ref(), view.closed_at.as_ref()]
                .into_iter()
                .flatten()
                .chain(met)
                .filter_map(from_timestamp)
                .max(),
        };
        let mut fields =
            self.common_fields(&view.complaint_id, view.status, &view.area, &view.lead_unit);
        fields.extend([
            ("description", Node::text(&view.text)),
            ("requested_datetime", datetime(view.received_at.as_ref())),
            ("updated_datetime", at(updated)),
            ("expected_datetime", datetime(resolve_due)),
            ("address", Node::text(address)),
        ]);
        if let Some((lat, long)) = coordinates {
            fields.push(("lat", Node::Number(lat)));
            fields.push(("long", Node::Number(long)));
        }
        if let Some(events) = history {
            fields.push((
                "notes",
                Node::List {
                    item: "note",
                    items: events.iter().map(note).collect(),
                },
            ));
        }
        Node::Record(fields)
    }

    /// The fields a ledger row and a complaint view share.
    fn common_fields(
        &self,
        id: &str,
        status: i32,
        area: &str,
        lead_unit: &str,
    ) -> Vec<(&'static str, Node)> {
        let catalog = &self.state.catalog;
        let status = pb::ComplaintStatus::try_from(status).unwrap_or_default();
        let open = if status == pb::ComplaintStatus::Closed {
            "closed"
        } else {
            "open"
        };
        let service_name = catalog
            .area(area)
            .map(|a| a.name.as_str())
            .unwrap_or_default();
        let agency = match catalog.unit(lead_unit) {
            Some(unit) => format!("{} {}", unit.code, unit.name),
            None => lead_unit.to_owned(),
        };
        vec![
            ("service_request_id", Node::text(id)),
            ("status", Node::text(open)),
            ("status_notes", Node::text(status_notes(status))),
            ("service_name", Node::text(service_name)),
            ("service_code", Node::text(area)),
            ("agency_responsible", Node::text(agency)),
        ]
    }

    /// `GET /requests`: by ids through `GetComplaint`, otherwise the
    /// caller's scope of the ledger through `ListLedger`.
    async fn list_requests(&self, query: &Params) -> Result<Document, Status> {
        let caller = self.caller(query.get("api_key"), Access::Read)?;
        if let Some(ids) = query.get("service_request_id") {
            let ids: Vec<&str> = ids
                .split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .collect();
            if ids.len() > MAX_REQUEST_IDS {
                return Err(ServiceError::invalid(
                    "service_request_id",
                    format!("at most {MAX_REQUEST_IDS} ids"),
                )
                .into());
            }
            let mut records = Vec::with_capacity(ids.len());
            for id in ids {
                match self.request_record(&caller, id, false).await {
                    Ok(record) => records.push(record),
                    Err(status) if status.code() == Code::NotFound => {}
                    Err(status) => return Err(status),
                }
            }
            return Ok(Document::list("service_requests", "request", records));
        }
        let filter = self.ledger_filter(query)?;
        let message = pb::ListLedgerRequest {
            filter: Some(filter),
            order: pb::LedgerOrder::ReceivedDesc as i32,
            page_size: MAX_REQUESTS,
            ..Default::default()
        };
        let rows = self
            .queries
            .list_ledger(Self::request(&caller, message)?)
            .await?
            .into_inner()
            .rows;
        let records = rows
            .iter()
            .map(|row| {
                let mut fields =
                    self.common_fields(&row.complaint_id, row.status, &row.area, &row.lead_unit);
                fields.extend([
                    ("requested_datetime", datetime(row.received_at.as_ref())),
                    ("expected_datetime", datetime(row.resolve_due_at.as_ref())),
                ]);
                Node::Record(fields)
            })
            .collect();
        Ok(Document::list("service_requests", "request", records))
    }

    /// The ledger filter of `GET /requests`: service code, status and a
    /// window of at most [`MAX_WINDOW_DAYS`] (the last 90 days by default).
    fn ledger_filter(&self, query: &Params) -> Result<pb::LedgerFilter, Status> {
        let window = chrono::Duration::days(MAX_WINDOW_DAYS);
        let start = query
            .get("start_date")
            .map(|raw| params::datetime("start_date", raw))
            .transpose()?;
        let end = query
            .get("end_date")
            .map(|raw| params::datetime("end_date", raw))
            .transpose()?;
        let (start, end) = match (start, end) {
            (Some(start), Some(end)) => (start, end),
            (Some(start), None) => (start, start + window),
            (None, Some(end)) => (end - window, end),
            (None, None) => {
                let now = self.state.clock.now();
                (now - window, now)
            }
        };
        if end < start {
            return Err(ServiceError::invalid("end_date", "before start_date").into());
        }
        if end - start > window {
            return Err(ServiceError::invalid(
                "end_date",
                format!("more than {MAX_WINDOW_DAYS} days after start_date"),
            )
            .into());
        }
        let mut statuses = Vec::new();
        for status in query.get("status").unwrap_or("open,closed").split(',') {
            match status.trim() {
                "open" => statuses.extend(
                    (pb::ComplaintStatus::Received as i32)
                        ..=(pb::ComplaintStatus::CalledBack as i32),
                ),
                "closed" => statuses.push(pb::ComplaintStatus::Closed as i32),
                _ => return Err(ServiceError::invalid("status", "open or closed").into()),
            }
        }
        let area = query.get("service_code").unwrap_or_default();
        if area.contains(',') {
            return Err(ServiceError::invalid("service_code", "one service_code per query").into());
        }
        Ok(pb::LedgerFilter {
            statuses,
            area: area.to_owned(),
            received_from: Some(crate::wire::timestamp(start)),
            // The ledger's bound is exclusive; end_date includes its instant.
            received_before: Some(crate::wire::timestamp(end + chrono::Duration::seconds(1))),
            ..Default::default()
        })
    }
}

/// `in_progress 处办`: the detailed status, as code and Chinese label.
fn status_notes(status: pb::ComplaintStatus) -> String {
    use pb::ComplaintStatus as S;
    let label = match status {
        S::Unspecified => "",
        S::Received => "接诉",
        S::AwaitingDispatch => "待转派",
        S::Dispatched => "转派",
        S::InProgress => "处办",
        S::Resolved => "办结",
        S::Verified => "审核",
        S::CalledBack => "回访",
        S::Closed => "销号",
    };
    let code = status
        .as_str_name()
        .trim_start_matches("COMPLAINT_STATUS_")
        .to_ascii_lowercase();
    format!("{code} {label}")
}

/// A history event as an Open311 note: its time, type and the first of
/// its words a citizen may read (a description, result, reason, note or
/// comment), or the type when it has none.
fn note(event: &pb::Event) -> Node {
    let payload: serde_json::Value = serde_json::from_str(&event.payload_json).unwrap_or_default();
    let description = ["description", "result", "reason", "note", "comment"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()))
        .unwrap_or(&event.event_type);
    Node::Record(vec![
        ("datetime", datetime(event.recorded_at.as_ref())),
        ("description", Node::text(description)),
        ("type", Node::text(&event.event_type)),
    ])
}

fn at(instant: Option<DateTime<Utc>>) -> Node {
    Node::text(
        instant
            .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default(),
    )
}

fn datetime(timestamp: Option<&Timestamp>) -> Node {
    at(timestamp.and_then(from_timestamp))
}
