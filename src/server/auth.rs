//! Who is calling: turns request metadata into an [`Actor`], and the coarse
//! role check of each RPC.
//!
//! The caller's role (and unit) arrive in metadata headers. With principals
//! configured, [`crate::server::authn`] sets those headers from the bearer token's
//! principal and drops whatever the client sent; without, they are trusted
//! as sent (a trusted network segment). Fine-grained
//! rules — which unit may act on which complaint, who may take which step —
//! are the domain's, checked when a command is decided.

use rectify_domain::{Actor, Role, UnitCode};
use tonic::Request;

use crate::{
    server::error::ServiceError,
    wire::{HEADER_PRINCIPAL, HEADER_ROLE, HEADER_UNIT},
};

/// Longest accepted principal name.
pub const MAX_PRINCIPAL_LEN: usize = 128;

/// What an RPC does, for the coarse role check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Submit a new complaint.
    Submit,
    /// Any other workflow command (the domain checks the step).
    Command,
    /// Read one complaint's state.
    ReadComplaint,
    /// Read one complaint's full event history.
    ReadHistory,
    /// Read or follow the whole log.
    ReadLog,
    /// Verify the hash chain.
    VerifyLog,
    /// Read the catalog.
    ReadCatalog,
    /// List or export the issue ledger (scoped to the caller).
    ReadLedger,
    /// Read a unit's inbox (a unit only its own).
    ReadInbox,
    /// Read every unit's workload and the evaluation.
    ReadEvaluation,
    /// Run the deadline watcher now.
    ScanDeadlines,
    /// Back up the log, read store figures.
    Operate,
}

fn header<'a, T>(request: &'a Request<T>, name: &str) -> Result<Option<&'a str>, ServiceError> {
    match request.metadata().get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| ServiceError::Unauthenticated(format!("{name} is not valid ASCII"))),
    }
}

/// The actor a request comes from.
pub fn actor<T>(request: &Request<T>) -> Result<Actor, ServiceError> {
    let role_name = header(request, HEADER_ROLE)?
        .ok_or_else(|| ServiceError::Unauthenticated(format!("missing {HEADER_ROLE} metadata")))?;
    let role = match role_name {
        "hotline" => Role::Hotline,
        "portal" => Role::Portal,
        "dispatcher" => Role::Dispatcher,
        "supervisor" => Role::Supervisor,
        "admin" => Role::Admin,
        "liaison" => Role::Liaison,
        "officer" => Role::Officer,
        "unit" => {
            let code = header(request, HEADER_UNIT)?.ok_or_else(|| {
                ServiceError::Unauthenticated(format!("role unit needs {HEADER_UNIT} metadata"))
            })?;
            let unit = UnitCode::new(code).map_err(|error| {
                ServiceError::Unauthenticated(format!("{HEADER_UNIT}: {error}"))
            })?;
            Role::Unit(unit)
        }
        other => {
            return Err(ServiceError::Unauthenticated(format!(
                "unknown role {other:?} in {HEADER_ROLE}"
            )));
        }
    };
    let principal = match header(request, HEADER_PRINCIPAL)? {
        Some(name) if name.is_empty() || name.len() > MAX_PRINCIPAL_LEN => {
            return Err(ServiceError::Unauthenticated(format!(
                "{HEADER_PRINCIPAL} must be 1..={MAX_PRINCIPAL_LEN} characters"
            )));
        }
        Some(name) => name.to_owned(),
        None => role_name.to_owned(),
    };
    Ok(Actor { principal, role })
}

/// Whether `role` may call an RPC doing `action` at all.
pub fn permits(role: &Role, action: Action) -> bool {
    match action {
        Action::ReadCatalog | Action::ReadComplaint | Action::Command => true,
        Action::Submit => matches!(
            role,
            Role::Hotline | Role::Portal | Role::Dispatcher | Role::Admin
        ),
        Action::ReadHistory => !matches!(role, Role::Portal | Role::System),
        Action::ReadLog => matches!(
            role,
            Role::Hotline | Role::Dispatcher | Role::Supervisor | Role::Admin
        ),
        Action::VerifyLog => matches!(role, Role::Supervisor | Role::Admin),
        // A liaison cadre reads single complaints of their own enterprises
        // (and their own liaison report), an experience officer their own
        // reports; neither lists the whole ledger.
        Action::ReadLedger => !matches!(role, Role::System | Role::Liaison | Role::Officer),
        Action::ReadInbox => matches!(
            role,
            Role::Unit(_) | Role::Dispatcher | Role::Supervisor | Role::Admin
        ),
        Action::ReadEvaluation => {
            matches!(role, Role::Dispatcher | Role::Supervisor | Role::Admin)
        }
        Action::ScanDeadlines => role.dispatches(),
        Action::Operate => matches!(role, Role::Admin),
    }
}

/// The actor of a request, if its role may do `action`.
pub fn authorize<T>(request: &Request<T>, action: Action) -> Result<Actor, ServiceError> {
    let actor = actor(request)?;
    if !permits(&actor.role, action) {
        return Err(ServiceError::PermissionDenied(format!(
            "role {} may not {}",
            role_name(&actor.role),
            action_name(action)
        )));
    }
    Ok(actor)
}

/// The role as it is spelt in metadata.
pub fn role_name(role: &Role) -> &'static str {
    match role {
        Role::Hotline => "hotline",
        Role::Portal => "portal",
        Role::Dispatcher => "dispatcher",
        Role::Unit(_) => "unit",
        Role::Supervisor => "supervisor",
        Role::Admin => "admin",
        Role::Liaison => "liaison",
        Role::Officer => "officer",
        Role::System => "system",
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Submit => "submit complaints",
        Action::Command => "run workflow commands",
        Action::ReadComplaint => "read complaints",
        Action::ReadHistory => "read complaint histories",
        Action::ReadLog => "read the event log",
        Action::VerifyLog => "verify the log",
        Action::ReadCatalog => "read the catalog",
        Action::ReadLedger => "read the ledger",
        Action::ReadInbox => "read unit inboxes",
        Action::ReadEvaluation => "read workloads and evaluations",
        Action::ScanDeadlines => "run the deadline watcher",
        Action::Operate => "run backups or read store figures",
    }
}
