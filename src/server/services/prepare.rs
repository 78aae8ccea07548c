//! Turning a request into validated parts of a command: the command
//! context (request and correlation ids), ids, catalog codes, times and
//! required text. Each error is `INVALID_ARGUMENT` naming the field.

use chrono::{DateTime, Utc};
use rectify_domain::{Actor, ComplaintId, DistrictCode, UnitCode};

use crate::{
    pb,
    server::{
        app::{CommandContext, MAX_REQUEST_ID_LEN},
        error::ServiceError,
        state::AppState,
    },
    wire::from_timestamp,
};

/// Longest accepted correlation id.
const MAX_CORRELATION_ID_LEN: usize = 128;

/// The characters of request and correlation ids.
pub fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

/// The command context of a request: its principal, its validated
/// request id (idempotency key) and correlation id, the expected version
/// and the instant it is recorded at.
pub fn command_context(
    actor: &Actor,
    options: Option<pb::CommandOptions>,
    now: DateTime<Utc>,
) -> Result<CommandContext, ServiceError> {
    let options = options.unwrap_or_default();
    let request_id = match options.request_id.as_str() {
        "" => None,
        id if id.len() > MAX_REQUEST_ID_LEN || !id.chars().all(is_id_char) => {
            return Err(ServiceError::invalid(
                "options.request_id",
                format!("at most {MAX_REQUEST_ID_LEN} characters of [A-Za-z0-9._:-]"),
            ));
        }
        id => Some(id.to_owned()),
    };
    let correlation_id = match options.correlation_id.as_str() {
        "" => None,
        id if id.len() > MAX_CORRELATION_ID_LEN || !id.chars().all(is_id_char) => {
            return Err(ServiceError::invalid(
                "options.correlation_id",
                format!("at most {MAX_CORRELATION_ID_LEN} characters of [A-Za-z0-9._:-]"),
            ));
        }
        id => Some(id.to_owned()),
    };
    if let Some(request_id) = &request_id {
        tracing::Span::current().record("request_id", request_id.as_str());
    }
    Ok(CommandContext {
        principal: actor.principal.clone(),
        request_id,
        expected_version: options.expected_version,
        correlation_id,
        recorded_at_ms: now.timestamp_millis(),
        want_receipts: options.receipt,
    })
}

/// The request's complaint id, validated; also recorded on the call's `rpc`
/// span.
pub fn complaint_id(raw: &str) -> Result<ComplaintId, ServiceError> {
    if raw.is_empty() {
        return Err(ServiceError::invalid("complaint_id", "required"));
    }
    let id =
        ComplaintId::new(raw).map_err(|e| ServiceError::invalid("complaint_id", e.to_string()))?;
    tracing::Span::current().record("complaint_id", id.as_str());
    Ok(id)
}

/// Required text: blank is `INVALID_ARGUMENT` naming `field`.
pub fn required(field: &'static str, value: String) -> Result<String, ServiceError> {
    if value.trim().is_empty() {
        Err(ServiceError::invalid(field, "required"))
    } else {
        Ok(value)
    }
}

/// Optional text: blank means absent.
pub fn optional(value: String) -> Option<String> {
    (!value.trim().is_empty()).then_some(value)
}

/// A unit code the catalog knows.
pub fn unit_code(
    field: &'static str,
    raw: &str,
    state: &AppState,
) -> Result<UnitCode, ServiceError> {
    if state.catalog.unit(raw).is_none() {
        return Err(ServiceError::invalid(
            field,
            format!("unknown unit {raw:?}"),
        ));
    }
    UnitCode::new(raw).map_err(|e| ServiceError::invalid(field, e.to_string()))
}

/// A district code the catalog knows; empty means none.
pub fn district_code(raw: &str, state: &AppState) -> Result<Option<DistrictCode>, ServiceError> {
    if raw.is_empty() {
        return Ok(None);
    }
    if state.catalog.district(raw).is_none() {
        return Err(ServiceError::invalid(
            "district",
            format!("unknown district {raw:?}"),
        ));
    }
    DistrictCode::new(raw)
        .map(Some)
        .map_err(|e| ServiceError::invalid("district", e.to_string()))
}

/// An optional timestamp field; an out-of-range one names `field`.
pub fn time_field(
    field: &'static str,
    value: Option<prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, ServiceError> {
    value
        .map(|t| {
            from_timestamp(&t).ok_or_else(|| ServiceError::invalid(field, "not a valid timestamp"))
        })
        .transpose()
}

/// A required id field (`ledger_id`, `item_id`), checked by the domain's
/// one id rule.
pub fn id_field(field: &'static str, raw: &str) -> Result<String, ServiceError> {
    if raw.is_empty() {
        return Err(ServiceError::invalid(field, "required"));
    }
    rectify_domain::codes::check_id(field, raw)
        .map_err(|e| ServiceError::invalid(field, e.to_string()))?;
    Ok(raw.to_owned())
}
