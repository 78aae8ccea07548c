//! The deadline watcher (问题预警): appends a yellow `DeadlineWarned` when a
//! deadline's yellow mark has passed and a red `DeadlineMissed` when it has
//! run out, for every deadline of the policy (dispatch, accept, first
//! contact, resolve); and `LedgerItemDeadlineWarned` (yellow, then red) for
//! the deadlines of rectification ledger items.
//!
//! Candidates come from the ledger projection; each warning is then a normal
//! command through [`crate::server::app::execute`] as the system actor, so the domain
//! decides on the complaint's current state (a deadline met or moved in the
//! meantime is refused and skipped). Exactly once: the domain refuses a
//! second warning for the same (milestone, level, due time), and each
//! warning's request id is derived from exactly that, so a pass interrupted
//! by a crash and repeated after a restart writes nothing twice. A deadline
//! found already past due gets only its red warning.
//!
//! The yellow mark is the policy's `yellow_at(start, due)`: 48 hours before a
//! long deadline, else at the configured share of the allowed time.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use rectify_domain::{
    Actor, Role,
    complaint::{Command, CommandKind, Milestone, WarningLevel},
};
use rectify_projections::Timestamp;

use crate::{
    server::aggregates::{ComplaintAggregate, LedgerAggregate},
    server::app::{self, CommandContext},
    server::error::ServiceError,
    server::state::AppState,
};
use rectify_domain::ledger::{LedgerCommand, LedgerCommandKind};

/// The principal recorded on warnings.
pub const WATCHER_PRINCIPAL: &str = "system:deadline-watcher";
/// Most warnings (complaints and ledger items together) one pass appends;
/// the rest wait for the next pass.
pub const MAX_WARNINGS_PER_PASS: usize = 10_000;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Yellow warnings appended.
    pub yellow: u32,
    /// Red warnings appended.
    pub red: u32,
    /// Candidates the domain refused because the complaint changed.
    pub skipped: u32,
    /// The instant the pass used.
    pub now: Option<DateTime<Utc>>,
}

fn milestone_key(milestone: Milestone) -> &'static str {
    match milestone {
        Milestone::Dispatch => "dispatch",
        Milestone::Accept => "accept",
        Milestone::FirstContact => "first-contact",
        Milestone::Resolve => "resolve",
    }
}

fn level_key(level: WarningLevel) -> &'static str {
    match level {
        WarningLevel::Yellow => "yellow",
        WarningLevel::Red => "red",
    }
}

/// Runs one pass at the clock's current instant.
#[tracing::instrument(skip_all, fields(yellow, red, skipped))]
pub async fn scan(state: &AppState) -> Result<ScanReport, ServiceError> {
    let now = state.clock.now();
    let policy = state.catalog.deadline_policy();
    let candidates = state.ledger.read(|view| {
        view.due_warnings(now, MAX_WARNINGS_PER_PASS, |start, due| {
            Timestamp::from_nanos(policy.yellow_at_nanos(start.nanos(), due.nanos()))
        })
        .into_iter()
        .map(|w| {
            (
                w.id().to_owned(),
                w.milestone,
                w.level,
                w.due_at.to_datetime(),
            )
        })
        .collect::<Vec<_>>()
    });
    let candidates_len = candidates.len();
    let actor = Actor {
        principal: WATCHER_PRINCIPAL.to_owned(),
        role: Role::System,
    };
    let mut report = ScanReport {
        now: Some(now),
        ..ScanReport::default()
    };
    for (id, milestone, level, due_at) in candidates {
        let ctx = CommandContext::system(
            WATCHER_PRINCIPAL,
            format!(
                "deadline:{id}:{}:{}:{}",
                milestone_key(milestone),
                level_key(level),
                due_at.timestamp_millis()
            ),
            now,
        );
        let result =
            app::execute::<ComplaintAggregate, _>(&state.store, &state.vault, &id, &ctx, |_| {
                Ok(Command {
                    actor: actor.clone(),
                    at: now,
                    kind: CommandKind::WarnDeadline {
                        milestone,
                        level,
                        due_at,
                    },
                })
            })
            .await;
        tally(
            &mut report,
            level,
            result.map(|done| done.deduplicated),
            &id,
        )?;
    }
    // Rectification ledger items: yellow and red on their deadlines.
    let items = state
        .ledger
        .read(|view| view.due_item_warnings(now, |start, due| policy.yellow_at(start, due)));
    let budget = MAX_WARNINGS_PER_PASS.saturating_sub(candidates_len);
    for (ledger_id, item_id, level, due_at) in items.into_iter().take(budget) {
        let ctx = CommandContext::system(
            WATCHER_PRINCIPAL,
            format!(
                "item-deadline:{ledger_id}:{item_id}:{}:{}",
                level_key(level),
                due_at.timestamp_millis()
            ),
            now,
        );
        let result = app::execute::<LedgerAggregate, _>(
            &state.store,
            &state.vault,
            &ledger_id,
            &ctx,
            |_| {
                Ok(LedgerCommand {
                    actor: actor.clone(),
                    at: now,
                    kind: LedgerCommandKind::WarnItemDeadline {
                        item_id: item_id.clone(),
                        level,
                        due_at,
                    },
                })
            },
        )
        .await;
        tally(
            &mut report,
            level,
            result.map(|done| done.deduplicated),
            &item_id,
        )?;
    }
    let span = tracing::Span::current();
    span.record("yellow", report.yellow);
    span.record("red", report.red);
    span.record("skipped", report.skipped);
    Ok(report)
}

/// Counts one warning's outcome; an error other than "the aggregate moved
/// on since the projection saw it" ends the pass.
fn tally(
    report: &mut ScanReport,
    level: WarningLevel,
    result: Result<bool, ServiceError>,
    subject: &str,
) -> Result<(), ServiceError> {
    match result {
        Ok(true) => report.skipped += 1,
        Ok(false) => match level {
            WarningLevel::Yellow => report.yellow += 1,
            WarningLevel::Red => report.red += 1,
        },
        Err(
            error @ (ServiceError::FailedPrecondition { .. }
            | ServiceError::InvalidArgument { .. }
            | ServiceError::VersionMismatch { .. }),
        ) => {
            tracing::debug!(%subject, %error, "deadline warning skipped");
            report.skipped += 1;
        }
        Err(error) => return Err(error),
    }
    Ok(())
}

/// Runs a pass every `interval` until the task is aborted.
pub fn spawn(state: Arc<AppState>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = scan(&state).await {
                tracing::warn!(%error, "deadline watcher pass failed");
            }
        }
    })
}
