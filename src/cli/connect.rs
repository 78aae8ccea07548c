//! The request side of every client command: which server to talk to and as
//! whom (the `Connection` flags), the `Identity` interceptor that puts that
//! on each call, the typed gRPC clients over it, and what workflow commands
//! add to a request (idempotency flags, times given as RFC 3339 flags).

use anyhow::{Context as _, bail};
use clap::Args;
use tonic::{
    Request, Status,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::{
    pb,
    wire::{HEADER_PRINCIPAL, HEADER_ROLE, HEADER_UNIT},
};

/// Which server to talk to and as whom.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// Server address.
    #[arg(
        long,
        global = true,
        env = "RECTIFY_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    /// Role to act as: hotline, portal, dispatcher, unit, supervisor, admin,
    /// liaison (an enterprise's 包联 cadre, named by --principal), officer
    /// (an experience officer, named by --principal).
    #[arg(
        long = "as",
        global = true,
        env = "RECTIFY_ROLE",
        default_value = "dispatcher"
    )]
    pub role: String,
    /// Unit code when acting as `unit`, e.g. `power-bureau`.
    #[arg(long, global = true, env = "RECTIFY_UNIT")]
    pub unit: Option<String>,
    /// Principal name recorded as the actor (defaults to the role).
    #[arg(long, global = true, env = "RECTIFY_PRINCIPAL")]
    pub principal: Option<String>,
    /// Bearer token, for a server that requires one (its principal then
    /// decides the role; `--as`, `--unit` and `--principal` are ignored).
    #[arg(long, global = true, env = "RECTIFY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print replies as protobuf JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Idempotency and concurrency options of every workflow command.
#[derive(Debug, Clone, Default, Args)]
pub struct CommandFlags {
    /// Idempotency key: a retry with the same key writes nothing new.
    #[arg(long)]
    pub request_id: Option<String>,
    /// Apply only if the complaint is at exactly this version.
    #[arg(long)]
    pub expected_version: Option<u64>,
}

impl CommandFlags {
    /// The options field of a workflow request.
    pub(super) fn options(self) -> Option<pb::CommandOptions> {
        Some(pb::CommandOptions {
            request_id: self.request_id.unwrap_or_default(),
            expected_version: self.expected_version,
            correlation_id: String::new(),
            receipt: false,
        })
    }
}

/// A time flag (`--until`, `--deadline`, …) as a protobuf timestamp; `None`
/// when the flag was not given.
pub(super) fn time_flag(
    text: Option<&str>,
    flag: &str,
) -> anyhow::Result<Option<prost_types::Timestamp>> {
    let Some(text) = text else {
        return Ok(None);
    };
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("--{flag} must be RFC 3339, e.g. 2026-12-01T17:00:00+08:00"))?;
    Ok(Some(crate::wire::timestamp(
        parsed.with_timezone(&chrono::Utc),
    )))
}

/// Adds the caller's identity to every request.
#[derive(Debug, Clone)]
pub(super) struct Identity {
    role: MetadataValue<Ascii>,
    unit: Option<MetadataValue<Ascii>>,
    principal: MetadataValue<Ascii>,
    /// `Bearer <token>`, when the caller has one.
    authorization: Option<MetadataValue<Ascii>>,
}

impl Identity {
    /// The identity `conn` asks for: its role (and unit when the role is
    /// `unit`), the principal (by default the role, or `role:unit`) and the
    /// bearer token when it has one.
    fn of(conn: &Connection) -> anyhow::Result<Self> {
        let principal = conn.principal.clone().unwrap_or_else(|| match &conn.unit {
            Some(unit) => format!("{}:{unit}", conn.role),
            None => conn.role.clone(),
        });
        Ok(Self {
            role: conn.role.parse().context("role must be ASCII")?,
            unit: conn
                .unit
                .as_deref()
                .map(|u| u.parse().context("unit code must be ASCII"))
                .transpose()?,
            principal: principal.parse().context("principal must be ASCII")?,
            authorization: conn
                .token
                .as_deref()
                .map(|token| {
                    format!("Bearer {token}")
                        .parse()
                        .context("the token must be ASCII")
                })
                .transpose()?,
        })
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

/// A channel to the server that sends the caller's identity with every call.
pub(super) type Authed = InterceptedService<Channel, Identity>;

/// A typed client of `conn`'s server, e.g.
/// `client(conn, ComplaintServiceClient::new)`.
pub(super) async fn client<C>(
    conn: &Connection,
    new: impl FnOnce(Authed) -> C,
) -> anyhow::Result<C> {
    Ok(new(channel(conn).await?))
}

/// Connects to `conn.server` as `conn`'s identity.
async fn channel(conn: &Connection) -> anyhow::Result<Authed> {
    check_role(&conn.role)?;
    let endpoint = Endpoint::from_shared(conn.server.clone())
        .with_context(|| format!("invalid server address {}", conn.server))?;
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to {}", conn.server))?;
    Ok(InterceptedService::new(channel, Identity::of(conn)?))
}

/// Fails unless `role` is one the server knows; used before connecting so a
/// typo is reported without a round trip.
fn check_role(role: &str) -> anyhow::Result<()> {
    match role {
        "hotline" | "portal" | "dispatcher" | "unit" | "supervisor" | "admin" | "liaison"
        | "officer" => Ok(()),
        other => bail!(
            "unknown role {other:?}: use hotline, portal, dispatcher, unit, supervisor, admin, liaison or officer"
        ),
    }
}
