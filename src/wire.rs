//! What both ends of the wire agree on beyond the generated messages: the
//! identity metadata headers and the conversion between protobuf timestamps
//! and instants. The server and the CLI both use these; neither owns them.

use chrono::{DateTime, Utc};

/// Metadata header naming the caller's role.
pub const HEADER_ROLE: &str = "x-rectify-role";
/// Metadata header naming the caller's unit code (role `unit`).
pub const HEADER_UNIT: &str = "x-rectify-unit";
/// Metadata header naming the principal recorded as the events' actor.
pub const HEADER_PRINCIPAL: &str = "x-rectify-principal";

/// Whether a request path is a gRPC (or gRPC-Web) call — rectify's own
/// services and the standard `grpc.*` ones — rather than one of the plain
/// HTTP routes (Open311, dashboard) that share the port.
pub fn is_grpc_path(path: &str) -> bool {
    path.starts_with("/rectify.") || path.starts_with("/grpc.")
}

/// A protobuf timestamp (of a chrono instant, or a ledger row's).
pub fn timestamp(at: impl Into<DateTime<Utc>>) -> prost_types::Timestamp {
    let at = at.into();
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A protobuf timestamp as an instant; `None` when out of range.
pub fn from_timestamp(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(t.nanos).ok()?;
    DateTime::from_timestamp(t.seconds, nanos)
}
