//! `rectify complaint …`: the steps of a complaint's closed loop (submit,
//! classify, dispatch, accept, handle, extend, resolve, verify, call back,
//! close, appeal, …) and its views (show, history, watch), with their
//! arguments. Each step is one function that sends one request and prints
//! its result line.

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};

use super::{
    connect::{Authed, CommandFlags, Connection, client, time_flag},
    output::{call, label, print_event, print_reply, print_result, rfc3339},
    receipt::write_receipt,
    watch,
};
use crate::pb::{self, complaint_service_client::ComplaintServiceClient};

/// Complaint steps.
// Parsed once per process; boxing the large variants buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ComplaintCommand {
    /// 接诉: record a new complaint.
    Submit(SubmitArgs),
    /// Triage: task area, district, tags, urgency.
    Classify(ClassifyArgs),
    /// 转派: route to units (from the catalog unless --lead is given).
    Dispatch(DispatchArgs),
    /// 签收: accept as an assigned unit.
    Accept(IdArgs),
    /// 退单: return a misrouted complaint to the dispatch centre.
    Return(ReasonArgs),
    /// 处办: record a rectification step.
    Step(StepArgs),
    /// 延期: request, grant or deny an extension.
    Extend {
        /// The extension step.
        #[command(subcommand)]
        command: ExtendCommand,
    },
    /// 办结: submit the resolution (lead unit).
    Resolve(ResolveArgs),
    /// 核查: verify the resolution.
    Verify(OptionalNoteArgs),
    /// 核查: reject the resolution.
    Reject(ReasonArgs),
    /// 回访: record the callback.
    Callback(CallbackArgs),
    /// 重办: reopen.
    Reopen(ReasonArgs),
    /// 销号: close.
    Close(OptionalNoteArgs),
    /// 催办: chase up.
    Chase(NoteArgs),
    /// 包联: the enterprise's liaison cadre records what they did
    /// (`--as liaison --principal CADRE`).
    LiaisonNote(LiaisonNoteArgs),
    /// Erase the submitter's personal data (PIPL deletion request): the
    /// complaint's data key is destroyed; the history stays verifiable.
    ErasePersonalData(EraseArgs),
    /// 督办: flag for supervision.
    Supervise(NoteArgs),
    /// 追责问责: record an accountability finding.
    Accountability(AccountabilityArgs),
    /// 申诉: file an appeal (unit) or decide one (dispatcher).
    Appeal {
        /// The appeal step.
        #[command(subcommand)]
        command: AppealCommand,
    },
    /// Pause the deadline clock while waiting on the submitter.
    Pause(PauseArgs),
    /// Resume the deadline clock.
    Resume(IdArgs),
    /// Link to a rectification ledger item.
    Link(LinkArgs),
    /// Show the current state.
    Show {
        /// Complaint id.
        id: String,
        /// Wait until the log reached this position.
        #[arg(long, default_value_t = 0)]
        min_position: u64,
    },
    /// Every event of the complaint, with actors.
    History {
        /// Complaint id.
        id: String,
    },
    /// Follow one complaint's events live.
    Watch {
        /// Complaint id.
        id: String,
        /// Stop after this many events.
        #[arg(long)]
        limit: Option<u64>,
    },
}

/// Extension steps.
#[derive(Debug, Subcommand)]
pub enum ExtendCommand {
    /// Ask for more time (lead unit).
    Request(RequestExtensionArgs),
    /// Grant the pending request (dispatcher).
    Grant(GrantExtensionArgs),
    /// Deny the pending request (dispatcher).
    Deny(ReasonArgs),
}

/// Appeal steps.
#[derive(Debug, Subcommand)]
pub enum AppealCommand {
    /// File an appeal (assigned unit).
    File(ReasonArgs),
    /// Decide the pending appeal (dispatcher).
    Decide(DecideAppealArgs),
}

/// A step that needs only the complaint.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// Complaint id.
    id: String,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// A step that says why.
#[derive(Debug, Args)]
pub struct ReasonArgs {
    /// Complaint id.
    id: String,
    /// Why.
    #[arg(long)]
    reason: String,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// A step with a note.
#[derive(Debug, Args)]
pub struct NoteArgs {
    /// Complaint id.
    id: String,
    /// Note.
    #[arg(long)]
    note: String,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// A liaison cadre's note.
#[derive(Debug, Args)]
pub struct LiaisonNoteArgs {
    /// Complaint id.
    id: String,
    /// What the cadre did.
    #[arg(long)]
    note: String,
    /// The cadre reached the enterprise.
    #[arg(long)]
    contacted: bool,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// A step with an optional note.
#[derive(Debug, Args)]
pub struct OptionalNoteArgs {
    /// Complaint id.
    id: String,
    /// Note.
    #[arg(long, default_value = "")]
    note: String,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// `complaint submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Complaint id; default: assigned by the server.
    #[arg(long)]
    id: Option<String>,
    /// Where it came from.
    #[arg(long, value_enum, default_value = "hotline")]
    channel: ChannelArg,
    /// What kind of request.
    #[arg(long, value_enum, default_value = "complaint")]
    kind: KindArg,
    /// Submitter's name.
    #[arg(long)]
    name: String,
    /// Submitter's phone.
    #[arg(long)]
    phone: String,
    /// Submitter's ID number.
    #[arg(long)]
    id_number: Option<String>,
    /// Enterprise concerned.
    #[arg(long)]
    enterprise: Option<String>,
    /// District code, e.g. `dongsheng`.
    #[arg(long)]
    district: Option<String>,
    /// Location.
    #[arg(long)]
    location: Option<String>,
    /// Title.
    #[arg(long)]
    title: String,
    /// Full text.
    #[arg(long)]
    text: String,
    /// Hotline ticket number.
    #[arg(long)]
    external_ref: Option<String>,
    /// The station whose QR code it came through (with `--channel qr-code`).
    #[arg(long)]
    station: Option<String>,
    /// The experience officer reporting, by id (with the experience-officer
    /// channel).
    #[arg(long)]
    officer: Option<String>,
    /// Write the intake's receipt to this file, to keep and check later
    /// with `rectify receipt verify`.
    #[arg(long)]
    receipt_out: Option<std::path::PathBuf>,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// `complaint classify`.
#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Complaint id.
    id: String,
    /// Task area code, e.g. `getting-electricity`.
    #[arg(long)]
    area: String,
    /// Task number within the area.
    #[arg(long)]
    task: Option<u32>,
    /// District code.
    #[arg(long)]
    district: Option<String>,
    /// Tags (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Urgency.
    #[arg(long, value_enum, default_value = "normal")]
    urgency: UrgencyArg,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// `complaint dispatch`.
#[derive(Debug, Args)]
pub struct DispatchArgs {
    /// Complaint id.
    id: String,
    /// Override: lead unit code.
    #[arg(long)]
    lead: Option<String>,
    /// Override: responsible unit codes (repeatable).
    #[arg(long = "responsible")]
    responsible: Vec<String>,
    /// Why the routing was overridden.
    #[arg(long)]
    reason: Option<String>,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// `complaint step`.
#[derive(Debug, Args)]
pub struct StepArgs {
    /// Complaint id.
    id: String,
    /// What was done.
    #[arg(long)]
    description: String,
    /// Evidence references (repeatable).
    #[arg(long)]
    evidence: Vec<String>,
    /// This step contacted the submitter.
    #[arg(long)]
    contacted: bool,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// `complaint extend request`.
#[derive(Debug, Args)]
pub struct RequestExtensionArgs {
    /// Complaint id.
    id: String,
    /// Why.
    #[arg(long)]
    reason: String,
    /// The due time asked for, RFC 3339 (e.g. 2026-12-01T17:00:00+08:00).
    #[arg(long)]
    until: String,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// `complaint extend grant`.
#[derive(Debug, Args)]
pub struct GrantExtensionArgs {
    /// Complaint id.
    id: String,
    /// A different due time than requested, RFC 3339.
    #[arg(long)]
    until: Option<String>,
    /// Note.
    #[arg(long, default_value = "")]
    note: String,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// `complaint resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Complaint id.
    id: String,
    /// What was done and the outcome.
    #[arg(long)]
    result: String,
    /// Evidence references (repeatable).
    #[arg(long)]
    evidence: Vec<String>,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// `complaint callback`.
#[derive(Debug, Args)]
pub struct CallbackArgs {
    /// Complaint id.
    id: String,
    /// Satisfaction; omit when the submitter was not reached.
    #[arg(long, value_enum)]
    satisfaction: Option<SatisfactionArg>,
    /// The problem was solved.
    #[arg(long)]
    solved: bool,
    /// The submitter could not be reached.
    #[arg(long)]
    not_contacted: bool,
    /// Not a valid callback (excluded from the rates).
    #[arg(long)]
    invalid: bool,
    /// Comment.
    #[arg(long, default_value = "")]
    comment: String,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// `complaint erase-personal-data`.
#[derive(Debug, Args)]
pub struct EraseArgs {
    /// Complaint id.
    id: String,
    /// Why: the deletion request's reference (no personal data).
    #[arg(long)]
    reason: String,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// `complaint accountability`.
#[derive(Debug, Args)]
pub struct AccountabilityArgs {
    /// Complaint id.
    id: String,
    /// The finding.
    #[arg(long)]
    finding: String,
    /// Units held accountable (repeatable).
    #[arg(long = "unit-held")]
    units: Vec<String>,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// `complaint appeal decide`.
#[derive(Debug, Args)]
pub struct DecideAppealArgs {
    /// Complaint id.
    id: String,
    /// Uphold the appeal.
    #[arg(long)]
    upheld: bool,
    /// Note.
    #[arg(long, default_value = "")]
    note: String,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// `complaint pause`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Complaint id.
    id: String,
    /// What the handling waits for.
    #[arg(long)]
    reason: String,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// `complaint link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Complaint id.
    id: String,
    /// Ledger id.
    #[arg(long)]
    ledger: String,
    /// Item id.
    #[arg(long)]
    item: String,
    /// Options.
    #[command(flatten)]
    flags: CommandFlags,
}

/// Channels, as the CLI spells them.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChannelArg {
    /// 12345 hotline.
    Hotline,
    /// 蒙速办 app.
    App,
    /// WeChat.
    Wechat,
    /// Web portal.
    Web,
    /// QR code at a service station.
    Qr,
    /// Business-environment experience officer.
    Officer,
    /// Supervision inspection.
    Inspection,
    /// Anything else.
    Other,
}

/// Complaint kinds, as the CLI spells them.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// 投诉
    Complaint,
    /// 咨询
    Consultation,
    /// 建议
    Suggestion,
    /// 举报
    Report,
    /// 表扬
    Praise,
}

/// Urgency, as the CLI spells it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UrgencyArg {
    /// Emergencies.
    Emergency,
    /// Urgent (utilities).
    Urgent,
    /// Ordinary.
    Normal,
    /// Complex.
    Complex,
}

/// Satisfaction, as the CLI spells it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SatisfactionArg {
    /// 满意
    Satisfied,
    /// 基本满意
    Basically,
    /// 不满意
    Unsatisfied,
}

impl From<ChannelArg> for pb::Channel {
    fn from(channel: ChannelArg) -> Self {
        match channel {
            ChannelArg::Hotline => Self::Hotline12345,
            ChannelArg::App => Self::MengsubanApp,
            ChannelArg::Wechat => Self::Wechat,
            ChannelArg::Web => Self::WebPortal,
            ChannelArg::Qr => Self::QrCode,
            ChannelArg::Officer => Self::ExperienceOfficer,
            ChannelArg::Inspection => Self::SupervisionInspection,
            ChannelArg::Other => Self::Other,
        }
    }
}

impl From<KindArg> for pb::ComplaintKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Complaint => Self::Complaint,
            KindArg::Consultation => Self::Consultation,
            KindArg::Suggestion => Self::Suggestion,
            KindArg::Report => Self::Report,
            KindArg::Praise => Self::Praise,
        }
    }
}

impl From<UrgencyArg> for pb::Urgency {
    fn from(urgency: UrgencyArg) -> Self {
        match urgency {
            UrgencyArg::Emergency => Self::Emergency,
            UrgencyArg::Urgent => Self::Urgent,
            UrgencyArg::Normal => Self::Normal,
            UrgencyArg::Complex => Self::Complex,
        }
    }
}

impl From<SatisfactionArg> for pb::Satisfaction {
    fn from(satisfaction: SatisfactionArg) -> Self {
        match satisfaction {
            SatisfactionArg::Satisfied => Self::Satisfied,
            SatisfactionArg::Basically => Self::BasicallySatisfied,
            SatisfactionArg::Unsatisfied => Self::Unsatisfied,
        }
    }
}

type Client = ComplaintServiceClient<Authed>;

/// `rectify complaint …`: one function per step.
pub(super) async fn run(conn: &Connection, command: ComplaintCommand) -> anyhow::Result<()> {
    let c = &mut client(conn, ComplaintServiceClient::new).await?;
    let json = conn.json;
    match command {
        ComplaintCommand::Submit(args) => submit(c, json, args).await,
        ComplaintCommand::Classify(args) => classify(c, json, args).await,
        ComplaintCommand::Dispatch(args) => dispatch(c, json, args).await,
        ComplaintCommand::Accept(args) => accept(c, json, args).await,
        ComplaintCommand::Return(args) => return_to_dispatch(c, json, args).await,
        ComplaintCommand::Step(args) => step(c, json, args).await,
        ComplaintCommand::Extend { command } => match command {
            ExtendCommand::Request(args) => request_extension(c, json, args).await,
            ExtendCommand::Grant(args) => grant_extension(c, json, args).await,
            ExtendCommand::Deny(args) => deny_extension(c, json, args).await,
        },
        ComplaintCommand::Resolve(args) => resolve(c, json, args).await,
        ComplaintCommand::Verify(args) => verify(c, json, args).await,
        ComplaintCommand::Reject(args) => reject(c, json, args).await,
        ComplaintCommand::Callback(args) => callback(c, json, args).await,
        ComplaintCommand::Reopen(args) => reopen(c, json, args).await,
        ComplaintCommand::Close(args) => close(c, json, args).await,
        ComplaintCommand::Chase(args) => chase(c, json, args).await,
        ComplaintCommand::LiaisonNote(args) => liaison_note(c, json, args).await,
        ComplaintCommand::ErasePersonalData(args) => erase_personal_data(c, json, args).await,
        ComplaintCommand::Supervise(args) => supervise(c, json, args).await,
        ComplaintCommand::Accountability(args) => accountability(c, json, args).await,
        ComplaintCommand::Appeal { command } => match command {
            AppealCommand::File(args) => file_appeal(c, json, args).await,
            AppealCommand::Decide(args) => decide_appeal(c, json, args).await,
        },
        ComplaintCommand::Pause(args) => pause(c, json, args).await,
        ComplaintCommand::Resume(args) => resume(c, json, args).await,
        ComplaintCommand::Link(args) => link(c, json, args).await,
        ComplaintCommand::Show { id, min_position } => show(c, json, id, min_position).await,
        ComplaintCommand::History { id } => history(c, json, id).await,
        ComplaintCommand::Watch { id, limit } => {
            let filter = pb::EventFilter {
                stream_prefix: format!("complaint-{id}"),
                event_types: Vec::new(),
            };
            watch::follow(conn, 1, filter, limit).await
        }
    }
}

/// `complaint submit`, then the task areas the server suggests.
async fn submit(c: &mut Client, json: bool, args: SubmitArgs) -> anyhow::Result<()> {
    let request = pb::SubmitComplaintRequest {
        options: args.flags.options(),
        complaint_id: args.id.unwrap_or_default(),
        channel: pb::Channel::from(args.channel) as i32,
        kind: pb::ComplaintKind::from(args.kind) as i32,
        submitter: Some(pb::Submitter {
            name: args.name,
            phone: args.phone,
            id_number: args.id_number.unwrap_or_default(),
        }),
        enterprise: args.enterprise.unwrap_or_default(),
        district: args.district.unwrap_or_default(),
        location: args.location.unwrap_or_default(),
        title: args.title,
        text: args.text,
        external_ref: args.external_ref.unwrap_or_default(),
        suggest_areas: true,
        station_code: args.station.unwrap_or_default(),
        officer_id: args.officer.unwrap_or_default(),
    };
    let reply = call(c.submit_complaint(request)).await?;
    if let Some(path) = &args.receipt_out {
        let receipt = reply
            .receipt
            .as_ref()
            .context("the server sent no receipt for the intake")?;
        write_receipt(path, receipt)?;
    }
    let name = "rectify.v1.SubmitComplaintResponse";
    print_result(json, name, &reply, "submitted", reply.result.as_ref())?;
    if let (false, Some(path)) = (json, &args.receipt_out) {
        println!("receipt written to {}", path.display());
    }
    if !json && !reply.suggested_areas.is_empty() {
        println!("suggested areas:");
        for s in &reply.suggested_areas {
            println!("  {:<36} {} ({:.2})", s.area, s.name, s.score);
        }
    }
    Ok(())
}

/// `complaint classify`.
async fn classify(c: &mut Client, json: bool, args: ClassifyArgs) -> anyhow::Result<()> {
    let request = pb::ClassifyComplaintRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        area: args.area,
        task: args.task.unwrap_or(0),
        district: args.district.unwrap_or_default(),
        tags: args.tags,
        urgency: pb::Urgency::from(args.urgency) as i32,
    };
    let reply = call(c.classify_complaint(request)).await?;
    let name = "rectify.v1.ClassifyComplaintResponse";
    print_result(json, name, &reply, "classified", reply.result.as_ref())
}

/// `complaint dispatch`, then the routing the server chose and why.
async fn dispatch(c: &mut Client, json: bool, args: DispatchArgs) -> anyhow::Result<()> {
    let request = pb::DispatchComplaintRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        lead_unit: args.lead.unwrap_or_default(),
        responsible_units: args.responsible,
        override_reason: args.reason.unwrap_or_default(),
    };
    let reply = call(c.dispatch_complaint(request)).await?;
    let name = "rectify.v1.DispatchComplaintResponse";
    print_result(json, name, &reply, "dispatched", reply.result.as_ref())?;
    if !json {
        println!("  lead unit:         {}", reply.lead_unit);
        println!(
            "  responsible units: {}",
            reply.responsible_units.join(", ")
        );
        println!("  rule:              {}", reply.routing_rule);
        println!("  why:               {}", reply.explanation);
    }
    Ok(())
}

/// `complaint accept`.
async fn accept(c: &mut Client, json: bool, IdArgs { id, flags }: IdArgs) -> anyhow::Result<()> {
    let request = pb::AcceptAssignmentRequest {
        options: flags.options(),
        complaint_id: id,
    };
    let reply = call(c.accept_assignment(request)).await?;
    let name = "rectify.v1.AcceptAssignmentResponse";
    print_result(json, name, &reply, "accepted", reply.result.as_ref())
}

/// `complaint return`.
async fn return_to_dispatch(c: &mut Client, json: bool, args: ReasonArgs) -> anyhow::Result<()> {
    let request = pb::ReturnAssignmentRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        reason: args.reason,
    };
    let reply = call(c.return_assignment(request)).await?;
    let name = "rectify.v1.ReturnAssignmentResponse";
    print_result(json, name, &reply, "returned", reply.result.as_ref())
}

/// `complaint step`.
async fn step(c: &mut Client, json: bool, args: StepArgs) -> anyhow::Result<()> {
    let request = pb::RecordStepRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        description: args.description,
        evidence: args.evidence,
        contacted_submitter: args.contacted,
    };
    let reply = call(c.record_step(request)).await?;
    let name = "rectify.v1.RecordStepResponse";
    print_result(
        json,
        name,
        &reply,
        "step recorded on",
        reply.result.as_ref(),
    )
}

/// `complaint extend request`.
async fn request_extension(
    c: &mut Client,
    json: bool,
    args: RequestExtensionArgs,
) -> anyhow::Result<()> {
    let request = pb::RequestExtensionRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        reason: args.reason,
        requested_due_at: time_flag(Some(&args.until), "until")?,
    };
    let reply = call(c.request_extension(request)).await?;
    let name = "rectify.v1.RequestExtensionResponse";
    let verb = "extension requested on";
    print_result(json, name, &reply, verb, reply.result.as_ref())
}

/// `complaint extend grant`.
async fn grant_extension(
    c: &mut Client,
    json: bool,
    args: GrantExtensionArgs,
) -> anyhow::Result<()> {
    let request = pb::GrantExtensionRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        due_at: time_flag(args.until.as_deref(), "until")?,
        note: args.note,
    };
    let reply = call(c.grant_extension(request)).await?;
    let name = "rectify.v1.GrantExtensionResponse";
    let verb = "extension granted on";
    print_result(json, name, &reply, verb, reply.result.as_ref())
}

/// `complaint extend deny`.
async fn deny_extension(c: &mut Client, json: bool, args: ReasonArgs) -> anyhow::Result<()> {
    let request = pb::DenyExtensionRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        reason: args.reason,
    };
    let reply = call(c.deny_extension(request)).await?;
    let name = "rectify.v1.DenyExtensionResponse";
    let verb = "extension denied on";
    print_result(json, name, &reply, verb, reply.result.as_ref())
}

/// `complaint resolve`.
async fn resolve(c: &mut Client, json: bool, args: ResolveArgs) -> anyhow::Result<()> {
    let request = pb::SubmitResolutionRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        result: args.result,
        evidence: args.evidence,
    };
    let reply = call(c.submit_resolution(request)).await?;
    let name = "rectify.v1.SubmitResolutionResponse";
    let verb = "resolution submitted on";
    print_result(json, name, &reply, verb, reply.result.as_ref())
}

/// `complaint verify`.
async fn verify(c: &mut Client, json: bool, args: OptionalNoteArgs) -> anyhow::Result<()> {
    let request = pb::VerifyResolutionRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        note: args.note,
    };
    let reply = call(c.verify_resolution(request)).await?;
    let name = "rectify.v1.VerifyResolutionResponse";
    print_result(json, name, &reply, "verified", reply.result.as_ref())
}

/// `complaint reject`.
async fn reject(c: &mut Client, json: bool, args: ReasonArgs) -> anyhow::Result<()> {
    let request = pb::RejectResolutionRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        reason: args.reason,
    };
    let reply = call(c.reject_resolution(request)).await?;
    let name = "rectify.v1.RejectResolutionResponse";
    let verb = "resolution rejected on";
    print_result(json, name, &reply, verb, reply.result.as_ref())
}

/// `complaint callback`.
async fn callback(c: &mut Client, json: bool, args: CallbackArgs) -> anyhow::Result<()> {
    let request = pb::RecordCallbackRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        valid: !args.invalid,
        contacted: !args.not_contacted,
        solved: args.solved,
        satisfaction: args
            .satisfaction
            .map_or(0, |s| pb::Satisfaction::from(s) as i32),
        comment: args.comment,
    };
    let reply = call(c.record_callback(request)).await?;
    let name = "rectify.v1.RecordCallbackResponse";
    let verb = "callback recorded on";
    print_result(json, name, &reply, verb, reply.result.as_ref())
}

/// `complaint reopen`.
async fn reopen(c: &mut Client, json: bool, args: ReasonArgs) -> anyhow::Result<()> {
    let request = pb::ReopenComplaintRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        reason: args.reason,
    };
    let reply = call(c.reopen_complaint(request)).await?;
    let name = "rectify.v1.ReopenComplaintResponse";
    print_result(json, name, &reply, "reopened", reply.result.as_ref())
}

/// `complaint close`.
async fn close(c: &mut Client, json: bool, args: OptionalNoteArgs) -> anyhow::Result<()> {
    let request = pb::CloseComplaintRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        note: args.note,
    };
    let reply = call(c.close_complaint(request)).await?;
    let name = "rectify.v1.CloseComplaintResponse";
    print_result(json, name, &reply, "closed", reply.result.as_ref())
}

/// `complaint liaison-note`.
async fn liaison_note(c: &mut Client, json: bool, args: LiaisonNoteArgs) -> anyhow::Result<()> {
    let request = pb::RecordLiaisonNoteRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        note: args.note,
        contacted: args.contacted,
    };
    let reply = call(c.record_liaison_note(request)).await?;
    let name = "rectify.v1.RecordLiaisonNoteResponse";
    print_result(json, name, &reply, "noted", reply.result.as_ref())
}

/// `complaint chase`.
async fn chase(c: &mut Client, json: bool, args: NoteArgs) -> anyhow::Result<()> {
    let request = pb::ChaseUpRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        note: args.note,
    };
    let reply = call(c.chase_up(request)).await?;
    let name = "rectify.v1.ChaseUpResponse";
    print_result(json, name, &reply, "chased up", reply.result.as_ref())
}

/// `complaint erase-personal-data`.
async fn erase_personal_data(c: &mut Client, json: bool, args: EraseArgs) -> anyhow::Result<()> {
    let request = pb::ErasePersonalDataRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        reason: args.reason,
    };
    let reply = call(c.erase_personal_data(request)).await?;
    let name = "rectify.v1.ErasePersonalDataResponse";
    let verb = "erased the personal data of";
    print_result(json, name, &reply, verb, reply.result.as_ref())
}

/// `complaint supervise`.
async fn supervise(c: &mut Client, json: bool, args: NoteArgs) -> anyhow::Result<()> {
    let request = pb::FlagSupervisionRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        note: args.note,
    };
    let reply = call(c.flag_supervision(request)).await?;
    let name = "rectify.v1.FlagSupervisionResponse";
    let verb = "flagged for supervision";
    print_result(json, name, &reply, verb, reply.result.as_ref())
}

/// `complaint accountability`.
async fn accountability(
    c: &mut Client,
    json: bool,
    args: AccountabilityArgs,
) -> anyhow::Result<()> {
    let request = pb::RecordAccountabilityRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        finding: args.finding,
        units: args.units,
    };
    let reply = call(c.record_accountability(request)).await?;
    let name = "rectify.v1.RecordAccountabilityResponse";
    let verb = "accountability recorded on";
    print_result(json, name, &reply, verb, reply.result.as_ref())
}

/// `complaint appeal file`.
async fn file_appeal(c: &mut Client, json: bool, args: ReasonArgs) -> anyhow::Result<()> {
    let request = pb::FileAppealRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        reason: args.reason,
    };
    let reply = call(c.file_appeal(request)).await?;
    let name = "rectify.v1.FileAppealResponse";
    print_result(json, name, &reply, "appeal filed on", reply.result.as_ref())
}

/// `complaint appeal decide`.
async fn decide_appeal(c: &mut Client, json: bool, args: DecideAppealArgs) -> anyhow::Result<()> {
    let request = pb::DecideAppealRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        upheld: args.upheld,
        note: args.note,
    };
    let reply = call(c.decide_appeal(request)).await?;
    let name = "rectify.v1.DecideAppealResponse";
    let verb = "appeal decided on";
    print_result(json, name, &reply, verb, reply.result.as_ref())
}

/// `complaint pause`.
async fn pause(c: &mut Client, json: bool, args: PauseArgs) -> anyhow::Result<()> {
    let request = pb::PauseClockRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        reason: args.reason,
    };
    let reply = call(c.pause_clock(request)).await?;
    let name = "rectify.v1.PauseClockResponse";
    print_result(json, name, &reply, "clock paused on", reply.result.as_ref())
}

/// `complaint resume`.
async fn resume(c: &mut Client, json: bool, IdArgs { id, flags }: IdArgs) -> anyhow::Result<()> {
    let request = pb::ResumeClockRequest {
        options: flags.options(),
        complaint_id: id,
    };
    let reply = call(c.resume_clock(request)).await?;
    let name = "rectify.v1.ResumeClockResponse";
    print_result(
        json,
        name,
        &reply,
        "clock resumed on",
        reply.result.as_ref(),
    )
}

/// `complaint link`.
async fn link(c: &mut Client, json: bool, args: LinkArgs) -> anyhow::Result<()> {
    let request = pb::LinkToLedgerItemRequest {
        options: args.flags.options(),
        complaint_id: args.id,
        ledger_id: args.ledger,
        item_id: args.item,
    };
    let reply = call(c.link_to_ledger_item(request)).await?;
    let name = "rectify.v1.LinkToLedgerItemResponse";
    print_result(json, name, &reply, "linked", reply.result.as_ref())
}

/// `complaint show`.
async fn show(c: &mut Client, json: bool, id: String, min_position: u64) -> anyhow::Result<()> {
    let request = pb::GetComplaintRequest {
        complaint_id: id,
        min_position,
    };
    let reply = call(c.get_complaint(request)).await?;
    print_reply(json, "rectify.v1.GetComplaintResponse", &reply, |reply| {
        if let Some(view) = &reply.complaint {
            print_view(view);
        }
    })
}

/// `complaint history`.
async fn history(c: &mut Client, json: bool, id: String) -> anyhow::Result<()> {
    let reply = call(c.get_history(pb::GetHistoryRequest { complaint_id: id })).await?;
    print_reply(json, "rectify.v1.GetHistoryResponse", &reply, |reply| {
        reply.events.iter().for_each(print_event);
    })
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
