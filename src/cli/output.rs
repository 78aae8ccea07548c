//! The reply side of every client command: awaiting a call and turning the
//! server's status into the error the CLI prints, replies as text or (with
//! `--json`) as canonical protobuf JSON, the one line every workflow command
//! prints about its result, enum labels, and times in Beijing time; also the
//! printing of events and ledger rows that several commands share.

use std::sync::OnceLock;

use anyhow::Context as _;
use chrono::{DateTime, FixedOffset};
use prost_reflect::{DescriptorPool, DynamicMessage};
use tonic::Status;

use crate::{pb, wire::from_timestamp};

/// The reply of a unary call, or the server's status as the error the CLI
/// prints.
pub(super) async fn call<M>(
    call: impl Future<Output = Result<tonic::Response<M>, Status>>,
) -> anyhow::Result<M> {
    Ok(call.await.map_err(status_error)?.into_inner())
}

/// A status from the server as the error the CLI prints.
pub(super) fn status_error(status: Status) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", status.code(), status.message())
}

fn descriptor_pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET)
            .expect("the embedded descriptor set is valid")
    })
}

/// Renders a message as canonical protobuf JSON.
pub(super) fn to_json<M: prost::Message>(full_name: &str, message: &M) -> anyhow::Result<String> {
    let descriptor = descriptor_pool()
        .get_message_by_name(full_name)
        .with_context(|| format!("unknown message {full_name}"))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())?;
    Ok(serde_json::to_string_pretty(&dynamic)?)
}

/// Prints `message` as protobuf JSON with `--json`, otherwise as `text`
/// renders it.
pub(super) fn print_reply<M: prost::Message>(
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

/// Prints the reply of a workflow command (complaint or rectification
/// ledger): the whole reply as protobuf JSON with `--json`, otherwise one
/// line, `{verb} {id}: status …, version …, position …`; the status only for
/// complaints (a ledger's result has none).
pub(super) fn print_result<M: prost::Message>(
    json: bool,
    full_name: &str,
    reply: &M,
    verb: &str,
    result: Option<&pb::CommandResult>,
) -> anyhow::Result<()> {
    if json {
        println!("{}", to_json(full_name, reply)?);
        return Ok(());
    }
    let result = result.context("the server sent no result")?;
    let status = if result.status == pb::ComplaintStatus::Unspecified as i32 {
        String::new()
    } else {
        format!("status {}, ", label::<pb::ComplaintStatus>(result.status))
    };
    println!(
        "{verb} {}: {status}version {}, position {}{}",
        result.id,
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

/// A protobuf enum the CLI prints by [`label`].
pub(super) trait Labelled: TryFrom<i32> {
    /// What every value's name starts with, e.g. `COMPLAINT_STATUS_`.
    const PREFIX: &'static str;
    /// The value's protobuf name.
    fn name(&self) -> &'static str;
}

impl Labelled for pb::ComplaintStatus {
    const PREFIX: &'static str = "COMPLAINT_STATUS_";
    fn name(&self) -> &'static str {
        self.as_str_name()
    }
}

impl Labelled for pb::Milestone {
    const PREFIX: &'static str = "MILESTONE_";
    fn name(&self) -> &'static str {
        self.as_str_name()
    }
}

/// An enum value as the CLI prints it: its protobuf name without the type's
/// prefix, in lower case (`in_progress`); `unknown(N)` for a number this
/// build does not know.
pub(super) fn label<E: Labelled>(value: i32) -> String {
    E::try_from(value).map_or_else(
        |_| format!("unknown({value})"),
        |e| e.name().trim_start_matches(E::PREFIX).to_lowercase(),
    )
}

/// `at` in Beijing time (UTC+8), the time of every user of the CLI; `None`
/// when absent or out of range.
pub(super) fn beijing_time(at: Option<&prost_types::Timestamp>) -> Option<DateTime<FixedOffset>> {
    at.and_then(from_timestamp)
        .map(|t| t.with_timezone(&rectify_domain::CHINA_STANDARD_TIME))
}

/// `at` as RFC 3339 in Beijing time; empty when absent.
pub(super) fn rfc3339(at: Option<&prost_types::Timestamp>) -> String {
    beijing_time(at).map_or_else(String::new, |t| t.to_rfc3339())
}

/// One line of an event: position, version, type, time and actor.
pub(super) fn print_event(event: &pb::Event) {
    println!(
        "#{:<6} v{:<3} {:<28} {:<24} by {}",
        event.position,
        event.version,
        event.event_type,
        rfc3339(event.recorded_at.as_ref()),
        event.actor
    );
}

/// One line per row of the issue ledger (台账): id, status, next due time,
/// lead unit, title and the overdue and warning marks.
pub(super) fn print_ledger_rows(rows: &[pb::LedgerRow]) {
    for row in rows {
        let warning = match pb::WarningLevel::try_from(row.warning) {
            Ok(pb::WarningLevel::Yellow) => " 黄",
            Ok(pb::WarningLevel::Red) => " 红",
            _ => "",
        };
        println!(
            "{:<28} {:<17} due {:<11} {:<22} {}{}{}",
            row.complaint_id,
            label::<pb::ComplaintStatus>(row.status),
            beijing_time(row.next_due_at.as_ref())
                .map_or_else(|| "-".to_owned(), |t| t.format("%m-%d %H:%M").to_string()),
            if row.lead_unit.is_empty() {
                "-"
            } else {
                &row.lead_unit
            },
            row.title,
            if row.overdue { " [超期]" } else { "" },
            warning,
        );
    }
}
