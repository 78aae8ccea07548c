//! The CLI client: turns parsed commands into gRPC calls and prints replies,
//! as text by default or as canonical protobuf JSON with `--json`.

use std::process::ExitCode;

use futures::StreamExt as _;

use crate::{
    cli::connect::{client, time_flag},
    cli::output::{call, label, print_event, print_result, rfc3339, status_error, to_json},
    cli::{
        AdminCommand, AppealCommand, CatalogCommand, ChannelArg, Command, ComplaintCommand,
        Connection, ExtendCommand, KindArg, SatisfactionArg, UrgencyArg,
    },
    pb::{
        self, catalog_service_client::CatalogServiceClient,
        complaint_service_client::ComplaintServiceClient, event_service_client::EventServiceClient,
    },
    server::config::ServerConfig,
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

macro_rules! command_rpc {
    ($conn:expr, $client:expr, $method:ident, $name:literal, $verb:literal, $request:expr) => {{
        let response = call($client.$method($request)).await?;
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
    let mut client = client(conn, ComplaintServiceClient::new).await?;
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
                options: flags.options(),
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
            let response = call(client.submit_complaint(request)).await?;
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
                options: flags.options(),
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
            let response = call(client.dispatch_complaint(pb::DispatchComplaintRequest {
                options: flags.options(),
                complaint_id: id,
                lead_unit: lead.unwrap_or_default(),
                responsible_units: responsible,
                override_reason: reason.unwrap_or_default(),
            }))
            .await?;
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
                options: flags.options(),
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
                options: flags.options(),
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
                options: flags.options(),
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
                    options: flags.options(),
                    complaint_id: id,
                    reason,
                    requested_due_at: time_flag(Some(&until), "until")?,
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
                    options: flags.options(),
                    complaint_id: id,
                    due_at: time_flag(until.as_deref(), "until")?,
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
                    options: flags.options(),
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
                options: flags.options(),
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
                options: flags.options(),
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
                options: flags.options(),
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
                options: flags.options(),
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
                options: flags.options(),
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
                options: flags.options(),
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
                options: flags.options(),
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
                options: flags.options(),
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
                options: flags.options(),
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
                options: flags.options(),
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
                    options: flags.options(),
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
                    options: flags.options(),
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
                options: flags.options(),
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
                options: flags.options(),
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
                options: flags.options(),
                complaint_id: id,
                ledger_id: ledger,
                item_id: item,
            }
        ),
        ComplaintCommand::Show { id, min_position } => {
            let response = call(client.get_complaint(pb::GetComplaintRequest {
                complaint_id: id,
                min_position,
            }))
            .await?;
            if conn.json {
                println!("{}", to_json("rectify.v1.GetComplaintResponse", &response)?);
            } else if let Some(view) = response.complaint {
                print_view(&view);
            }
        }
        ComplaintCommand::History { id } => {
            let response =
                call(client.get_history(pb::GetHistoryRequest { complaint_id: id })).await?;
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
    println!(
        "  status:      {}",
        label::<pb::ComplaintStatus>(view.status)
    );
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
        let milestone = label::<pb::Milestone>(deadline.milestone);
        let due = rfc3339(deadline.due_at.as_ref());
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

async fn watch(
    conn: &Connection,
    from: u64,
    filter: pb::EventFilter,
    limit: Option<u64>,
) -> anyhow::Result<()> {
    let mut client = client(conn, EventServiceClient::new).await?;
    let mut stream = call(client.subscribe(pb::SubscribeRequest {
        from_position: from,
        filter: Some(filter),
    }))
    .await?;
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
    let mut client = client(conn, CatalogServiceClient::new).await?;
    match command {
        CatalogCommand::Units => {
            let response = call(client.list_units(pb::ListUnitsRequest {})).await?;
            if conn.json {
                println!("{}", to_json("rectify.v1.ListUnitsResponse", &response)?);
            } else {
                for unit in &response.units {
                    println!("{:<32} {:<24} {}", unit.code, unit.name, unit.kind);
                }
            }
        }
        CatalogCommand::Districts => {
            let response = call(client.list_districts(pb::ListDistrictsRequest {})).await?;
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
            let response = call(client.list_areas(pb::ListAreasRequest {})).await?;
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
            let response = call(client.route(pb::RouteRequest {
                area,
                task: task.unwrap_or(0),
                district: district.unwrap_or_default(),
            }))
            .await?;
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
            let response =
                call(client.suggest_areas(pb::SuggestAreasRequest { text, limit })).await?;
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
            let mut client = client(conn, EventServiceClient::new).await?;
            let report = call(client.verify_log(pb::VerifyLogRequest {})).await?;
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
