//! The service's error type and its one mapping to `tonic::Status`.
//!
//! Library crates have their own error enums; they are converted here, at the
//! edge, and nowhere else. Details follow the `google.rpc` error model
//! (`BadRequest`, `PreconditionFailure`, `ErrorInfo`) so clients can act on
//! them without parsing messages.

use std::collections::HashMap;

use rectify_catalog::CatalogError;
use rectify_domain::{DomainError, complaint::ComplaintState};
use rectify_eventlog::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// The `ErrorInfo.domain` of rectify's errors.
const ERROR_DOMAIN: &str = "rectify.v1";

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A request field is missing or malformed → `INVALID_ARGUMENT`.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The field path, e.g. `submitter.phone`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The step is not allowed in the current state → `FAILED_PRECONDITION`.
    #[error("{message}")]
    FailedPrecondition {
        /// A short machine-readable violation type, e.g. `STATUS`.
        kind: &'static str,
        /// The current state, e.g. `in_progress`.
        subject: String,
        /// Human-readable explanation.
        message: String,
    },
    /// The caller's role may not take this step → `PERMISSION_DENIED`.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// No credentials or bad credentials → `UNAUTHENTICATED`.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The aggregate does not exist → `NOT_FOUND`.
    #[error("{what} {id} not found")]
    NotFound {
        /// What was looked up, e.g. `complaint`.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The caller's expected version did not match → `ABORTED`.
    #[error("version conflict: expected {expected}, current {}", fmt_version(*actual))]
    VersionMismatch {
        /// What the caller expected.
        expected: u64,
        /// The stream's current version (`None` = no stream).
        actual: Option<u64>,
    },
    /// A wait for a log position ran out of time → `DEADLINE_EXCEEDED`.
    #[error("timed out waiting for position {wanted}; applied {applied}")]
    NotYetApplied {
        /// The position the caller asked to wait for.
        wanted: u64,
        /// The position reached when the wait gave up.
        applied: u64,
    },
    /// A part of the server that this call needs is failing for now (it
    /// retries on its own) → `UNAVAILABLE`.
    #[error("{0}")]
    Unavailable(String),
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or an unexpected state → `INTERNAL`.
    #[error("internal error: {0}")]
    Internal(String),
}

fn fmt_version(version: Option<u64>) -> String {
    version.map_or_else(|| "none (no stream)".to_owned(), |v| v.to_string())
}

impl ServiceError {
    /// Names the aggregate (complaint or ledger) in a `NOT_FOUND` that the
    /// domain raised without its id.
    pub fn with_id(self, id: &str) -> Self {
        match self {
            Self::NotFound { what, id: found } if found.is_empty() => Self::NotFound {
                what,
                id: id.to_owned(),
            },
            other => other,
        }
    }

    /// An `INVALID_ARGUMENT` for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<rectify_projections::ProjectionError> for ServiceError {
    fn from(error: rectify_projections::ProjectionError) -> Self {
        use rectify_projections::ProjectionError as P;
        match error {
            P::InvalidArgument { field, reason } => ServiceError::invalid(field, reason),
            P::NotYetApplied { wanted, applied } => ServiceError::NotYetApplied { wanted, applied },
            P::Store(store) => ServiceError::Store(store),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Self {
        let message = error.to_string();
        match error {
            ServiceError::InvalidArgument { field, reason } => Status::with_error_details(
                Code::InvalidArgument,
                message,
                ErrorDetails::with_bad_request_violation(field, reason),
            ),
            ServiceError::FailedPrecondition {
                kind,
                subject,
                message,
            } => Status::with_error_details(
                Code::FailedPrecondition,
                message.clone(),
                ErrorDetails::with_precondition_failure_violation(kind, subject, message),
            ),
            ServiceError::PermissionDenied(_) => Status::permission_denied(message),
            ServiceError::Unauthenticated(_) => Status::unauthenticated(message),
            ServiceError::NotFound { what, id } => Status::with_error_details(
                Code::NotFound,
                message,
                ErrorDetails::with_resource_info(what, id, "", "not found"),
            ),
            ServiceError::VersionMismatch { expected, actual } => {
                let metadata = HashMap::from([
                    ("expected_version".to_owned(), expected.to_string()),
                    (
                        "current_version".to_owned(),
                        actual.map_or_else(String::new, |v| v.to_string()),
                    ),
                ]);
                Status::with_error_details(
                    Code::Aborted,
                    message,
                    ErrorDetails::with_error_info("VERSION_CONFLICT", ERROR_DOMAIN, metadata),
                )
            }
            ServiceError::NotYetApplied { wanted, applied } => {
                let metadata = HashMap::from([
                    ("wanted_position".to_owned(), wanted.to_string()),
                    ("applied_position".to_owned(), applied.to_string()),
                ]);
                Status::with_error_details(
                    Code::DeadlineExceeded,
                    message,
                    ErrorDetails::with_error_info("PROJECTION_BEHIND", ERROR_DOMAIN, metadata),
                )
            }
            ServiceError::Unavailable(_) => Status::unavailable(message),
            ServiceError::Store(store) => store_status(store),
            ServiceError::Internal(_) => {
                tracing::error!(error = %message, "internal error");
                Status::internal(message)
            }
        }
    }
}

fn store_status(error: StoreError) -> Status {
    let message = error.to_string();
    match error {
        StoreError::Conflict { actual, .. } => {
            let metadata = HashMap::from([(
                "current_version".to_owned(),
                actual.map_or_else(String::new, |v| v.to_string()),
            )]);
            Status::with_error_details(
                Code::Aborted,
                message,
                ErrorDetails::with_error_info("VERSION_CONFLICT", ERROR_DOMAIN, metadata),
            )
        }
        StoreError::LimitExceeded { what, .. } => Status::with_error_details(
            Code::InvalidArgument,
            message,
            ErrorDetails::with_bad_request_violation(what, "exceeds the configured limit"),
        ),
        StoreError::InvalidArgument(_) => Status::invalid_argument(message),
        StoreError::IdempotencyMismatch { .. } => Status::with_error_details(
            Code::InvalidArgument,
            message,
            ErrorDetails::with_bad_request_violation(
                "options.request_id",
                "already used for a different command",
            ),
        ),
        StoreError::Closed => Status::unavailable(message),
        other => {
            tracing::error!(error = %other, "event store failure");
            Status::unavailable(message)
        }
    }
}

/// Maps a domain rejection to the service error of its kind.
pub fn domain_error(error: DomainError, state: &ComplaintState) -> ServiceError {
    rejection(error, state.status_name(), "complaint")
}

/// Maps a domain rejection of an aggregate in `status` (of kind `what`).
pub fn rejection(error: DomainError, status: &str, what: &'static str) -> ServiceError {
    let message = error.to_string();
    match error {
        DomainError::Invalid { field, reason } => ServiceError::invalid(field, reason),
        DomainError::NotPermitted { .. } => ServiceError::PermissionDenied(message),
        DomainError::NotFound => ServiceError::NotFound {
            what,
            id: String::new(),
        },
        DomainError::AlreadyExists => ServiceError::FailedPrecondition {
            kind: "EXISTS",
            subject: status.to_owned(),
            message,
        },
        DomainError::AlreadyRecorded { .. } => ServiceError::FailedPrecondition {
            kind: "ALREADY_RECORDED",
            subject: status.to_owned(),
            message,
        },
        DomainError::IllegalTransition { .. } => ServiceError::FailedPrecondition {
            kind: "STATUS",
            subject: status.to_owned(),
            message,
        },
        DomainError::Rejected { subject, .. } => ServiceError::FailedPrecondition {
            kind: "STATE",
            subject,
            message,
        },
        DomainError::Missing { what: missing, id } => ServiceError::NotFound { what: missing, id },
    }
}

/// Maps a catalog error (unknown area, district, unit; calendar gaps).
pub fn catalog_error(error: CatalogError) -> ServiceError {
    let message = error.to_string();
    match error {
        CatalogError::UnknownArea(_) => ServiceError::invalid("area", message),
        CatalogError::UnknownDistrict(_) => ServiceError::invalid("district", message),
        CatalogError::UnknownUnit { .. } => ServiceError::invalid("unit", message),
        CatalogError::UnknownTask { .. } => ServiceError::invalid("task", message),
        CatalogError::NotAssignable { .. } | CatalogError::DuplicateAssignment { .. } => {
            ServiceError::invalid("responsible_units", message)
        }
        _ => ServiceError::Internal(message),
    }
}
