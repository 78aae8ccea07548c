//! The CLI client: turns parsed commands into gRPC calls and prints replies,
//! as text by default or as canonical protobuf JSON with `--json`.

use std::{process::ExitCode, sync::OnceLock};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use prost_reflect::{DescriptorPool, DynamicMessage};
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::{
    cli::{
        AdminCommand, AppealCommand, CatalogCommand, ChannelArg, Command, CommandFlags,
        ComplaintCommand, Connection, ExtendCommand, KindArg, SatisfactionArg, UrgencyArg,
    },
    pb::{
        self, catalog_service_client::CatalogServiceClient,
        complaint_service_client::ComplaintServiceClient, event_service_client::EventServiceClient,
    },
    server::config::ServerConfig,
    wire::{HEADER_PRINCIPAL, HEADER_ROLE, HEADER_UNIT},
};

/// Exit code of `admin verify` when the hash chain is broken.
pub const EXIT_CHAIN_BROKEN: u8 = 3;

/// Sets up `tracing` output: to stderr, filtered by `RUST_LOG` (default
/// `info` for the server, `warn` for client commands).
pub fn init_tracing(server: bool) {
    let default = if server { "info" } else { "warn" };
    let _ = crate::telemetry::init(default, None);
}

/// Runs one top-level command.
pub async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => {
            let config = ServerConfig::resolve(&args)?;
            let _telemetry = crate::telemetry::init("info", config.otlp_endpoint.as_deref())?;
            crate::server::serve(config, crate::server::shutdown_signal()).await?;
        }
        Command::Complaint { conn, command } => complaint(&conn, command).await?,
        Command::Watch {
            conn,
            from,
            stream_prefix,
            event_types,
            limit,
        } => {
            let filter = pb::EventFilter {
                stream_prefix: stream_prefix.unwrap_or_default(),
                event_types,
            };
            watch(&conn, from, filter, limit).await?;
        }
        Command::Catalog { conn, command } => catalog(&conn, command).await?,
        Command::Ledger { conn, command } => crate::cli::reports::ledger(&conn, command).await?,
        Command::Inbox {
            conn,
            unit_code,
            min_position,
        } => crate::cli::reports::inbox(&conn, unit_code, min_position).await?,
        Command::Stats(args) => crate::cli::reports::stats(args).await?,
        Command::Rectification { conn, command } => crate::cli::rect::run(&conn, command).await?,
        Command::Bench(args) => crate::cli::bench::run(args).await?,
        Command::Admin { conn, command } => return admin(&conn, command).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// Adds the caller's identity to every request.
#[derive(Debug, Clone)]
pub struct Identity {
    role: MetadataValue<tonic::metadata::Ascii>,
    unit: Option<MetadataValue<tonic::metadata::Ascii>>,
    principal: MetadataValue<tonic::metadata::Ascii>,
    /// `Bearer <token>`, when the caller has one.
    authorization: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Identity {
    /// An identity for `role` (and `unit` when the role is `unit`).
    pub fn new(role: &str, unit: Option<&str>, principal: Option<&str>) -> anyhow::Result<Self> {
        let principal = principal.map_or_else(
            || match unit {
                Some(unit) => format!("{role}:{unit}"),
                None => role.to_owned(),
            },
            str::to_owned,
        );
        Ok(Self {
            role: role.parse().context("role must be ASCII")?,
            unit: unit
                .map(|u| u.parse().context("unit code must be ASCII"))
                .transpose()?,
            principal: principal.parse().context("principal must be ASCII")?,
            authorization: None,
        })
    }

    /// Sends `token` as the bearer token of every call.
    pub fn with_token(mut self, token: &str) -> anyhow::Result<Self> {
        self.authorization = Some(
            format!("Bearer {token}")
                .parse()
                .context("the token must be ASCII")?,
        );
        Ok(self)
    }
}

impl Interceptor for Identity {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let metadata = request.metadata_mut();
        metadata.insert(HEADER_ROLE, self.role.clone());
        metadata.insert(HEADER_PRINCIPAL, self.principal.clone());
        if let Some(unit) = &self.unit {
            metadata.insert(HEADER_UNIT, unit.clone());
        }
        if let Some(authorization) = &self.authorization {
            metadata.insert("authorization", authorization.clone());
        }
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, Identity>;

pub(crate) async fn channel(conn: &Connection) -> anyhow::Result<(Channel, Identity)> {
    check_role(&conn.role)?;
    let endpoint = Endpoint::from_shared(conn.server.clone())
        .with_context(|| format!("invalid server address {}", conn.server))?;
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to {}", conn.server))?;
    let mut identity = Identity::new(&conn.role, conn.unit.as_deref(), conn.principal.as_deref())?;
    if let Some(token) = &conn.token {
        identity = identity.with_token(token)?;
    }
    Ok((channel, identity))
}

async fn complaints_client(conn: &Connection) -> anyhow::Result<ComplaintServiceClient<Authed>> {
    let (channel, identity) = channel(conn).await?;
    Ok(ComplaintServiceClient::with_interceptor(channel, identity))
}

fn descriptor_pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET)
            .expect("the embedded descriptor set is valid")
    })
}

/// Renders a message as canonical protobuf JSON.
pub fn to_json<M: prost::Message>(full_name: &str, message: &M) -> anyhow::Result<String> {
    let descriptor = descriptor_pool()
        .get_message_by_name(full_name)
        .with_context(|| format!("unknown message {full_name}"))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())?;
    Ok(serde_json::to_string_pretty(&dynamic)?)
}

/// Prints `message` as protobuf JSON with `--json`, otherwise as `text`
/// renders it.
pub(crate) fn print_reply<M: prost::Message>(
    json: bool,
    full_name: &str,
    message: &M,
    text: impl FnOnce(&M),
) -> anyhow::Result<()> {
    if json {
        println!("{}", to_json(full_name, message)?);
    } else {
        text(message);
    }
    Ok(())
}

pub(crate) fn status_error(status: Status) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", status.code(), status.message())
}

pub(crate) fn options(flags: &CommandFlags) -> Option<pb::CommandOptions> {
    Some(pb::CommandOptions {
        request_id: flags.request_id.clone().unwrap_or_default(),
        expected_version: flags.expected_version,
        correlation_id: String::new(),
    })
}

pub(crate) fn parse_time(text: &str, flag: &str) -> anyhow::Result<prost_types::Timestamp> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("--{flag} must be RFC 3339, e.g. 2026-12-01T17:00:00+08:00"))?;
    Ok(crate::wire::timestamp(parsed.with_timezone(&chrono::Utc)))
}

fn status_name(status: i32) -> String {
    pb::ComplaintStatus::try_from(status).map_or_else(
        |_| format!("unknown({status})"),
        |s| {
            s.as_str_name()
                .trim_start_matches("COMPLAINT_STATUS_")
                .to_lowercase()
        },
    )
}

fn print_result(
    json: bool,
    name: &str,
    message: &impl prost::Message,
    verb: &str,
    result: Option<&pb::CommandResult>,
) -> anyhow::Result<()> {
    if json {
        println!("{}", to_json(name, message)?);
        return Ok(());
    }
    let result = result.context("the server sent no result")?;
    println!(
        "{verb} {}: status {}, version {}, position {}{}",
        result.id,
        status_name(result.status),
        result.version,
        result.position,
        if result.deduplicated {
            " (replayed: this request was already applied)"
        } else {
            ""
        }
    );
    Ok(())
}

macro_rules! command_rpc {
    ($conn:expr, $client:expr, $method:ident, $name:literal, $verb:literal, $request:expr) => {{
        let response = $client
            .$method($request)
            .await
            .map_err(status_error)?
            .into_inner();
        print_result(
            $conn.json,
            concat!("rectify.v1.", $name),
            &response,
            $verb,
            response.result.as_ref(),
        )?;
    }};
}

async fn complaint(conn: &Connection, command: ComplaintCommand) -> anyhow::Result<()> {
    let mut client = complaints_client(conn).await?;
    match command {
        ComplaintCommand::Submit {
            id,
            channel,
            kind,
            name,
            phone,
            id_number,
            enterprise,
            district,
            location,
            title,
            text,
            external_ref,
            flags,
        } => {
            let request = pb::SubmitComplaintRequest {
                options: options(&flags),
                complaint_id: id.unwrap_or_default(),
                channel: channel_pb(channel) as i32,
                kind: kind_pb(kind) as i32,
                submitter: Some(pb::Submitter {
                    name,
                    phone,
                    id_number: id_number.unwrap_or_default(),
                }),
                enterprise: enterprise.unwrap_or_default(),
                district: district.unwrap_or_default(),
                location: location.unwrap_or_default(),
                title,
                text,
                external_ref: external_ref.unwrap_or_default(),
                suggest_areas: true,
            };
            let response = client
                .submit_complaint(request)
                .await
                .map_err(status_error)?
                .into_inner();
            print_result(
                conn.json,
                "rectify.v1.SubmitComplaintResponse",
                &response,
                "submitted",
                response.result.as_ref(),
            )?;
            if !conn.json && !response.suggested_areas.is_empty() {
                println!("suggested areas:");
                for s in &response.suggested_areas {
                    println!("  {:<36} {} ({:.2})", s.area, s.name, s.score);
                }
            }
        }
        ComplaintCommand::Classify {
            id,
            area,
            task,
            district,
            tags,
            urgency,
            flags,
        } => command_rpc!(
            conn,
            client,
            classify_complaint,
            "ClassifyComplaintResponse",
            "classified",
            pb::ClassifyComplaintRequest {
                options: options(&flags),
                complaint_id: id,
                area,
                task: task.unwrap_or(0),
                district: district.unwrap_or_default(),
                tags,
                urgency: urgency_pb(urgency) as i32,
            }
        ),
        ComplaintCommand::Dispatch {
            id,
            lead,
            responsible,
            reason,
            flags,
        } => {
            let response = client
                .dispatch_complaint(pb::DispatchComplaintRequest {
                    options: options(&flags),
                    complaint_id: id,
                    lead_unit: lead.unwrap_or_default(),
                    responsible_units: responsible,
                    override_reason: reason.unwrap_or_default(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_result(
                conn.json,
                "rectify.v1.DispatchComplaintResponse",
                &response,
                "dispatched",
                response.result.as_ref(),
            )?;
            if !conn.json {
                println!("  lead unit:         {}", response.lead_unit);
                println!(
                    "  responsible units: {}",
                    response.responsible_units.join(", ")
                );
                println!("  rule:              {}", response.routing_rule);
                println!("  why:               {}", response.explanation);
            }
        }
        ComplaintCommand::Accept { id, flags } => command_rpc!(
            conn,
            client,
            accept_assignment,
            "AcceptAssignmentResponse",
            "accepted",
            pb::AcceptAssignmentRequest {
                options: options(&flags),
                complaint_id: id,
            }
        ),
        ComplaintCommand::Return { id, reason, flags } => command_rpc!(
            conn,
            client,
            return_assignment,
            "ReturnAssignmentResponse",
            "returned",
            pb::ReturnAssignmentRequest {
                options: options(&flags),
                complaint_id: id,
                reason,
            }
        ),
        ComplaintCommand::Step {
            id,
            description,
            evidence,
            contacted,
            flags,
        } => command_rpc!(
            conn,
            client,
            record_step,
            "RecordStepResponse",
            "step recorded on",
            pb::RecordStepRequest {
                options: options(&flags),
                complaint_id: id,
                description,
                evidence,
                contacted_submitter: contacted,
            }
        ),
        ComplaintCommand::Extend { command } => match command {
            ExtendCommand::Request {
                id,
                reason,
                until,
                flags,
            } => command_rpc!(
                conn,
                client,
                request_extension,
                "RequestExtensionResponse",
                "extension requested on",
                pb::RequestExtensionRequest {
                    options: options(&flags),
                    complaint_id: id,
                    reason,
                    requested_due_at: Some(parse_time(&until, "until")?),
                }
            ),
            ExtendCommand::Grant {
                id,
                until,
                note,
                flags,
            } => command_rpc!(
                conn,
                client,
                grant_extension,
                "GrantExtensionResponse",
                "extension granted on",
                pb::GrantExtensionRequest {
                    options: options(&flags),
                    complaint_id: id,
                    due_at: until.map(|u| parse_time(&u, "until")).transpose()?,
                    note,
                }
            ),
            ExtendCommand::Deny { id, reason, flags } => command_rpc!(
                conn,
                client,
                deny_extension,
                "DenyExtensionResponse",
                "extension denied on",
                pb::DenyExtensionRequest {
                    options: options(&flags),
                    complaint_id: id,
                    reason,
                }
            ),
        },
        ComplaintCommand::Resolve {
            id,
            result,
            evidence,
            flags,
        } => command_rpc!(
            conn,
            client,
            submit_resolution,
            "SubmitResolutionResponse",
            "resolution submitted on",
            pb::SubmitResolutionRequest {
                options: options(&flags),
                complaint_id: id,
                result,
                evidence,
            }
        ),
        ComplaintCommand::Verify { id, note, flags } => command_rpc!(
            conn,
            client,
            verify_resolution,
            "VerifyResolutionResponse",
            "verified",
            pb::VerifyResolutionRequest {
                options: options(&flags),
                complaint_id: id,
                note,
            }
        ),
        ComplaintCommand::Reject { id, reason, flags } => command_rpc!(
            conn,
            client,
            reject_resolution,
            "RejectResolutionResponse",
            "resolution rejected on",
            pb::RejectResolutionRequest {
                options: options(&flags),
                complaint_id: id,
                reason,
            }
        ),
        ComplaintCommand::Callback {
            id,
            satisfaction,
            solved,
            not_contacted,
            invalid,
            comment,
            flags,
        } => command_rpc!(
            conn,
            client,
            record_callback,
            "RecordCallbackResponse",
            "callback recorded on",
            pb::RecordCallbackRequest {
                options: options(&flags),
                complaint_id: id,
                valid: !invalid,
                contacted: !not_contacted,
                solved,
                satisfaction: satisfaction.map_or(0, |s| satisfaction_pb(s) as i32),
                comment,
            }
        ),
        ComplaintCommand::Reopen { id, reason, flags } => command_rpc!(
            conn,
            client,
            reopen_complaint,
            "ReopenComplaintResponse",
            "reopened",
            pb::ReopenComplaintRequest {
                options: options(&flags),
                complaint_id: id,
                reason,
            }
        ),
        ComplaintCommand::Close { id, note, flags } => command_rpc!(
            conn,
            client,
            close_complaint,
            "CloseComplaintResponse",
            "closed",
            pb::CloseComplaintRequest {
                options: options(&flags),
                complaint_id: id,
                note,
            }
        ),
        ComplaintCommand::Chase { id, note, flags } => command_rpc!(
            conn,
            client,
            chase_up,
            "ChaseUpResponse",
            "chased up",
            pb::ChaseUpRequest {
                options: options(&flags),
                complaint_id: id,
                note,
            }
        ),
        ComplaintCommand::ErasePersonalData { id, reason, flags } => command_rpc!(
            conn,
            client,
            erase_personal_data,
            "ErasePersonalDataResponse",
            "erased the personal data of",
            pb::ErasePersonalDataRequest {
                options: options(&flags),
                complaint_id: id,
                reason,
            }
        ),
        ComplaintCommand::Supervise { id, note, flags } => command_rpc!(
            conn,
            client,
            flag_supervision,
            "FlagSupervisionResponse",
            "flagged for supervision",
            pb::FlagSupervisionRequest {
                options: options(&flags),
                complaint_id: id,
                note,
            }
        ),
        ComplaintCommand::Accountability {
            id,
            finding,
            units,
            flags,
        } => command_rpc!(
            conn,
            client,
            record_accountability,
            "RecordAccountabilityResponse",
            "accountability recorded on",
            pb::RecordAccountabilityRequest {
                options: options(&flags),
                complaint_id: id,
                finding,
                units,
            }
        ),
        ComplaintCommand::Appeal { command } => match command {
            AppealCommand::File { id, reason, flags } => command_rpc!(
                conn,
                client,
                file_appeal,
                "FileAppealResponse",
                "appeal filed on",
                pb::FileAppealRequest {
                    options: options(&flags),
                    complaint_id: id,
                    reason,
                }
            ),
            AppealCommand::Decide {
                id,
                upheld,
                note,
                flags,
            } => command_rpc!(
                conn,
                client,
                decide_appeal,
                "DecideAppealResponse",
                "appeal decided on",
                pb::DecideAppealRequest {
                    options: options(&flags),
                    complaint_id: id,
                    upheld,
                    note,
                }
            ),
        },
        ComplaintCommand::Pause { id, reason, flags } => command_rpc!(
            conn,
            client,
            pause_clock,
            "PauseClockResponse",
            "clock paused on",
            pb::PauseClockRequest {
                options: options(&flags),
                complaint_id: id,
                reason,
            }
        ),
        ComplaintCommand::Resume { id, flags } => command_rpc!(
            conn,
            client,
            resume_clock,
            "ResumeClockResponse",
            "clock resumed on",
            pb::ResumeClockRequest {
                options: options(&flags),
                complaint_id: id,
            }
        ),
        ComplaintCommand::Link {
            id,
            ledger,
            item,
            flags,
        } => command_rpc!(
            conn,
            client,
            link_to_ledger_item,
            "LinkToLedgerItemResponse",
            "linked",
            pb::LinkToLedgerItemRequest {
                options: options(&flags),
                complaint_id: id,
                ledger_id: ledger,
                item_id: item,
            }
        ),
        ComplaintCommand::Show { id, min_position } => {
            let response = client
                .get_complaint(pb::GetComplaintRequest {
                    complaint_id: id,
                    min_position,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            if conn.json {
                println!("{}", to_json("rectify.v1.GetComplaintResponse", &response)?);
            } else if let Some(view) = response.complaint {
                print_view(&view);
            }
        }
        ComplaintCommand::History { id } => {
            let response = client
                .get_history(pb::GetHistoryRequest { complaint_id: id })
                .await
                .map_err(status_error)?
                .into_inner();
            if conn.json {
                println!("{}", to_json("rectify.v1.GetHistoryResponse", &response)?);
            } else {
                for event in &response.events {
                    print_event(event);
                }
            }
        }
        ComplaintCommand::Watch { id, limit } => {
            let filter = pb::EventFilter {
                stream_prefix: format!("complaint-{id}"),
                event_types: Vec::new(),
            };
            watch(conn, 1, filter, limit).await?;
        }
    }
    Ok(())
}

fn print_view(view: &pb::ComplaintView) {
    println!("complaint {} (version {})", view.complaint_id, view.version);
    println!("  status:      {}", status_name(view.status));
    println!("  title:       {}", view.title);
    if let Some(submitter) = &view.submitter {
        println!("  submitter:   {} {}", submitter.name, submitter.phone);
    } else if view.personal_data_erased {
        println!("  submitter:   (personal data erased)");
    }
    if !view.area.is_empty() {
        println!("  area:        {} task {}", view.area, view.task);
    }
    if !view.district.is_empty() {
        println!("  district:    {}", view.district);
    }
    if !view.lead_unit.is_empty() {
        println!("  lead unit:   {}", view.lead_unit);
        println!("  responsible: {}", view.responsible_units.join(", "));
        println!("  accepted by: {}", view.accepted_units.join(", "));
    }
    for deadline in &view.deadlines {
        let milestone = pb::Milestone::try_from(deadline.milestone)
            .map_or("?", |m| m.as_str_name())
            .trim_start_matches("MILESTONE_")
            .to_lowercase();
        let due = deadline
            .due_at
            .as_ref()
            .and_then(crate::wire::from_timestamp)
            .map_or_else(String::new, |t| t.to_rfc3339());
        let met = if deadline.met_at.is_some() {
            " (met)"
        } else {
            ""
        };
        println!("  due {milestone:<14} {due}{met}");
    }
    println!(
        "  returns {} · extensions {} · reopens {}{}{}",
        view.return_count,
        view.extension_count,
        view.reopen_count,
        if view.paused { " · clock paused" } else { "" },
        if view.supervised { " · 督办" } else { "" },
    );
}

fn print_event(event: &pb::Event) {
    let at = event
        .recorded_at
        .as_ref()
        .and_then(crate::wire::from_timestamp)
        .map_or_else(String::new, |t| t.to_rfc3339());
    println!(
        "#{:<6} v{:<3} {:<28} {:<24} by {}",
        event.position, event.version, event.event_type, at, event.actor
    );
}

async fn watch(
    conn: &Connection,
    from: u64,
    filter: pb::EventFilter,
    limit: Option<u64>,
) -> anyhow::Result<()> {
    let (channel, identity) = channel(conn).await?;
    let mut client = EventServiceClient::with_interceptor(channel, identity);
    let mut stream = client
        .subscribe(pb::SubscribeRequest {
            from_position: from,
            filter: Some(filter),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let mut seen = 0u64;
    while let Some(item) = stream.next().await {
        let response = item.map_err(status_error)?;
        if let Some(event) = response.event {
            if conn.json {
                println!("{}", to_json("rectify.v1.Event", &event)?.replace('\n', ""));
            } else {
                print_event(&event);
            }
        }
        seen += 1;
        if limit.is_some_and(|limit| seen >= limit) {
            break;
        }
    }
    Ok(())
}

async fn catalog(conn: &Connection, command: CatalogCommand) -> anyhow::Result<()> {
    let (channel, identity) = channel(conn).await?;
    let mut client = CatalogServiceClient::with_interceptor(channel, identity);
    match command {
        CatalogCommand::Units => {
            let response = client
                .list_units(pb::ListUnitsRequest {})
                .await
                .map_err(status_error)?
                .into_inner();
            if conn.json {
                println!("{}", to_json("rectify.v1.ListUnitsResponse", &response)?);
            } else {
                for unit in &response.units {
                    println!("{:<32} {:<24} {}", unit.code, unit.name, unit.kind);
                }
            }
        }
        CatalogCommand::Districts => {
            let response = client
                .list_districts(pb::ListDistrictsRequest {})
                .await
                .map_err(status_error)?
                .into_inner();
            if conn.json {
                println!(
                    "{}",
                    to_json("rectify.v1.ListDistrictsResponse", &response)?
                );
            } else {
                for d in &response.districts {
                    println!(
                        "{:<24} {:<20} {:<18} {}",
                        d.code, d.name, d.kind, d.government_unit
                    );
                }
            }
        }
        CatalogCommand::Areas => {
            let response = client
                .list_areas(pb::ListAreasRequest {})
                .await
                .map_err(status_error)?
                .into_inner();
            if conn.json {
                println!("{}", to_json("rectify.v1.ListAreasResponse", &response)?);
            } else {
                for area in &response.areas {
                    println!(
                        "{:>2} {:<36} {} ({} tasks)",
                        area.number,
                        area.code,
                        area.name,
                        area.tasks.len()
                    );
                }
            }
        }
        CatalogCommand::Route {
            area,
            task,
            district,
        } => {
            let response = client
                .route(pb::RouteRequest {
                    area,
                    task: task.unwrap_or(0),
                    district: district.unwrap_or_default(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            if conn.json {
                println!("{}", to_json("rectify.v1.RouteResponse", &response)?);
            } else {
                println!("lead:        {}", response.lead_units.join(", "));
                println!("responsible: {}", response.responsible_units.join(", "));
                println!("rule:        {}", response.rule_id);
                println!("why:         {}", response.explanation);
            }
        }
        CatalogCommand::Suggest { text, limit } => {
            let response = client
                .suggest_areas(pb::SuggestAreasRequest { text, limit })
                .await
                .map_err(status_error)?
                .into_inner();
            if conn.json {
                println!("{}", to_json("rectify.v1.SuggestAreasResponse", &response)?);
            } else {
                for s in &response.suggestions {
                    println!("{:<36} {} ({:.2})", s.area, s.name, s.score);
                }
            }
        }
    }
    Ok(())
}

async fn admin(conn: &Connection, command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::Verify => {
            let (channel, identity) = channel(conn).await?;
            let mut client = EventServiceClient::with_interceptor(channel, identity);
            let report = client
                .verify_log(pb::VerifyLogRequest {})
                .await
                .map_err(status_error)?
                .into_inner();
            Ok(print_verify(
                conn.json,
                report.ok,
                report.events_checked,
                report.first_bad_position,
                &report.reason,
            ))
        }
        AdminCommand::Backup { to } => {
            crate::cli::reports::backup(conn, &to).await?;
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Restore { backup, data_dir } => {
            let report = crate::cli::reports::restore(&backup, &data_dir).await?;
            Ok(print_verify(
                conn.json,
                report.ok,
                report.events_checked,
                report.first_bad_position,
                &report.reason,
            ))
        }
        AdminCommand::RotateMasterKey {
            data_dir,
            master_key_file,
            new_key_file,
        } => {
            let report = crate::server::maintenance::rotate_master_key(
                &data_dir,
                master_key_file.as_deref(),
                new_key_file.as_deref(),
            )
            .await?;
            if conn.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "rewrapped": report.rewrapped,
                        "old_key": report.old_key_id,
                        "new_key": report.new_key_id,
                        "new_key_file": report.new_key_file.display().to_string(),
                    })
                );
            } else {
                println!(
                    "re-wrapped {} data keys: master key {} → {} ({})",
                    report.rewrapped,
                    report.old_key_id,
                    report.new_key_id,
                    report.new_key_file.display()
                );
                if report.old_key_file_kept {
                    println!(
                        "Configure master_key_file = {} and destroy the old key file.",
                        report.new_key_file.display()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::NewToken => {
            let (token, hash) = crate::server::authn::new_token();
            if conn.json {
                println!(
                    "{}",
                    serde_json::json!({"token": token, "token_blake3": hash})
                );
            } else {
                println!("token:        {token}");
                println!("token_blake3: {hash}");
                println!("Give the token to its principal; put only the hash in [[principals]].");
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Stats => {
            crate::cli::reports::store_stats(conn).await?;
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::ImportPlan => {
            crate::cli::rect::import_plan(conn).await?;
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::ScanDeadlines => {
            crate::cli::reports::scan_deadlines(conn).await?;
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Rebuild { data_dir } => {
            crate::cli::reports::rebuild(&data_dir).await?;
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::VerifyDir { data_dir } => {
            let report = crate::cli::reports::verify_dir(&data_dir).await?;
            Ok(print_verify(
                conn.json,
                report.ok,
                report.events_checked,
                report.first_bad_position,
                &report.reason,
            ))
        }
    }
}

fn print_verify(json: bool, ok: bool, checked: u64, first_bad: u64, reason: &str) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::json!({"ok": ok, "events_checked": checked, "first_bad_position": first_bad, "reason": reason})
        );
    } else if ok {
        println!("hash chain verified: {checked} events");
    } else {
        println!("hash chain BROKEN at position {first_bad}: {reason} ({checked} events checked)");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CHAIN_BROKEN)
    }
}

fn channel_pb(channel: ChannelArg) -> pb::Channel {
    match channel {
        ChannelArg::Hotline => pb::Channel::Hotline12345,
        ChannelArg::App => pb::Channel::MengsubanApp,
        ChannelArg::Wechat => pb::Channel::Wechat,
        ChannelArg::Web => pb::Channel::WebPortal,
        ChannelArg::Qr => pb::Channel::QrCode,
        ChannelArg::Officer => pb::Channel::ExperienceOfficer,
        ChannelArg::Inspection => pb::Channel::SupervisionInspection,
        ChannelArg::Other => pb::Channel::Other,
    }
}

fn kind_pb(kind: KindArg) -> pb::ComplaintKind {
    match kind {
        KindArg::Complaint => pb::ComplaintKind::Complaint,
        KindArg::Consultation => pb::ComplaintKind::Consultation,
        KindArg::Suggestion => pb::ComplaintKind::Suggestion,
        KindArg::Report => pb::ComplaintKind::Report,
        KindArg::Praise => pb::ComplaintKind::Praise,
    }
}

fn urgency_pb(urgency: UrgencyArg) -> pb::Urgency {
    match urgency {
        UrgencyArg::Emergency => pb::Urgency::Emergency,
        UrgencyArg::Urgent => pb::Urgency::Urgent,
        UrgencyArg::Normal => pb::Urgency::Normal,
        UrgencyArg::Complex => pb::Urgency::Complex,
    }
}

pub(crate) fn satisfaction_pb(satisfaction: SatisfactionArg) -> pb::Satisfaction {
    match satisfaction {
        SatisfactionArg::Satisfied => pb::Satisfaction::Satisfied,
        SatisfactionArg::Basically => pb::Satisfaction::BasicallySatisfied,
        SatisfactionArg::Unsatisfied => pb::Satisfaction::Unsatisfied,
    }
}

/// Fails unless `role` is one the server knows; used before connecting so a
/// typo is reported without a round trip.
pub fn check_role(role: &str) -> anyhow::Result<()> {
    match role {
        "hotline" | "portal" | "dispatcher" | "unit" | "supervisor" | "admin" => Ok(()),
        other => bail!(
            "unknown role {other:?}: use hotline, portal, dispatcher, unit, supervisor or admin"
        ),
    }
}
