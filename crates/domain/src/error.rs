//! Domain rejections: values, not panics. Each variant documents what the
//! service layer reports for it.

/// Why a command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The step is not allowed in the complaint's current status
    /// (`FAILED_PRECONDITION`). `status` is the snake_case status name.
    #[error("cannot {attempted} a complaint that is {status}{}", explain(.detail))]
    IllegalTransition {
        /// The current status, e.g. `in_progress`.
        status: &'static str,
        /// The attempted step, e.g. `accept`.
        attempted: &'static str,
        /// Why, when the status alone does not say it.
        detail: Option<String>,
    },
    /// The actor's role or unit may not take this step (`PERMISSION_DENIED`).
    #[error("not permitted to {attempted}: {reason}")]
    NotPermitted {
        /// The attempted step.
        attempted: &'static str,
        /// Who may, and why this actor may not.
        reason: String,
    },
    /// A field of the command is missing or malformed (`INVALID_ARGUMENT`).
    /// `field` matches the request field's name.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field, e.g. `submitter.phone`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The fact is already recorded (a repeated deadline warning, link,
    /// acceptance): `FAILED_PRECONDITION`, so idempotent callers can ignore it.
    #[error("already recorded: {what}")]
    AlreadyRecorded {
        /// What was already recorded.
        what: String,
    },
    /// The complaint does not exist (`NOT_FOUND`).
    #[error("complaint not found")]
    NotFound,
    /// A complaint or ledger with this id already exists (`FAILED_PRECONDITION`).
    #[error("it already exists")]
    AlreadyExists,
    /// The step is not allowed in the aggregate's current state, for a
    /// reason the status alone does not give, e.g. a ledger with open items
    /// (`FAILED_PRECONDITION`).
    #[error("{reason}")]
    Rejected {
        /// The current state, e.g. `open`.
        subject: String,
        /// Why, naming what blocks the step.
        reason: String,
    },
    /// A ledger or ledger item does not exist (`NOT_FOUND`).
    #[error("{what} {id} not found")]
    Missing {
        /// What, e.g. `ledger item`.
        what: &'static str,
        /// Its id (empty when it is the aggregate itself).
        id: String,
    },
}

fn explain(detail: &Option<String>) -> String {
    detail
        .as_ref()
        .map_or_else(String::new, |detail| format!(": {detail}"))
}
