//! Authentication by bearer token (API key) or TLS client certificate, one
//! place for the whole server.
//!
//! When the configuration lists principals (`[[principals]]` in the config
//! file), every call must carry `authorization: Bearer <token>`. The layer
//! hashes the token with BLAKE3, looks the hash up, and rewrites the
//! identity headers (`x-rectify-role`, `x-rectify-unit`,
//! `x-rectify-principal`) from the principal it found — after removing any
//! the client sent, so a caller can never name its own role. Missing or
//! unknown tokens get `UNAUTHENTICATED` before any service runs. Only the
//! hashes are configured: the server never holds a token.
//!
//! Without principals the server trusts the identity headers as they come
//! (a development setup, or a trusted network segment); `rectify serve` says
//! so in its log.
//!
//! `grpc.health.v1` stays open, so load balancers and Kubernetes probes need
//! no token. Paths outside gRPC (`/rectify.…`, `/grpc.…`) — the Open311
//! endpoints and the dashboard — pass without a bearer token and without
//! identity headers: [`crate::server::open311`] authenticates them by
//! `api_key`, [`crate::server::dashboard`] by its session cookie.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use serde::Deserialize;
use tonic::{
    Status,
    body::Body,
    codegen::http,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};

use crate::wire::{HEADER_PRINCIPAL, HEADER_ROLE, HEADER_UNIT, is_grpc_path};

/// A configured principal.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalConfig {
    /// The name recorded as the actor of its events.
    pub name: String,
    /// `hotline`, `portal`, `dispatcher`, `unit`, `supervisor` or `admin`.
    pub role: String,
    /// The unit code, for role `unit`.
    pub unit: Option<String>,
    /// Lowercase hex BLAKE3 hash of the principal's token
    /// (`rectify admin new-token` makes a token and its hash).
    pub token_blake3: Option<String>,
    /// Lowercase hex BLAKE3 hash of the DER bytes of the principal's TLS
    /// client certificate (mutual TLS): a call over a connection with that
    /// certificate runs as this principal.
    pub client_cert_blake3: Option<String>,
}

/// The principals by token hash and by client-certificate hash.
#[derive(Debug, Clone, Default)]
pub struct Principals {
    by_hash: Arc<HashMap<[u8; 32], PrincipalConfig>>,
    by_cert: Arc<HashMap<[u8; 32], PrincipalConfig>>,
}

/// Roles a principal may have.
const ROLES: &[&str] = &[
    "hotline",
    "portal",
    "dispatcher",
    "unit",
    "supervisor",
    "admin",
];

impl Principals {
    /// Checks and indexes the configured principals.
    pub fn new(principals: Vec<PrincipalConfig>) -> anyhow::Result<Self> {
        let mut by_hash = HashMap::new();
        let mut by_cert = HashMap::new();
        for principal in principals {
            if !ROLES.contains(&principal.role.as_str()) {
                anyhow::bail!(
                    "principal {:?}: unknown role {:?}",
                    principal.name,
                    principal.role
                );
            }
            if (principal.role == "unit") != principal.unit.is_some() {
                anyhow::bail!(
                    "principal {:?}: a unit code goes with role unit, and only with it",
                    principal.name
                );
            }
            if principal.name.is_empty()
                || principal.name.len() > crate::server::auth::MAX_PRINCIPAL_LEN
                || !principal.name.is_ascii()
            {
                anyhow::bail!(
                    "principal {:?}: the name must be 1..=128 ASCII characters",
                    principal.name
                );
            }
            if principal.token_blake3.is_none() && principal.client_cert_blake3.is_none() {
                anyhow::bail!(
                    "principal {:?}: give token_blake3, client_cert_blake3 or both",
                    principal.name
                );
            }
            for (field, value, index) in [
                ("token_blake3", &principal.token_blake3, &mut by_hash),
                (
                    "client_cert_blake3",
                    &principal.client_cert_blake3,
                    &mut by_cert,
                ),
            ] {
                let Some(value) = value else { continue };
                let hash = parse_hash(value).ok_or_else(|| {
                    anyhow::anyhow!(
                        "principal {:?}: {field} must be 64 hex digits",
                        principal.name
                    )
                })?;
                if index.insert(hash, principal.clone()).is_some() {
                    anyhow::bail!(
                        "principal {:?}: another principal has the same {field}",
                        principal.name
                    );
                }
            }
        }
        Ok(Principals {
            by_hash: Arc::new(by_hash),
            by_cert: Arc::new(by_cert),
        })
    }

    /// Whether credentials are required.
    pub fn enabled(&self) -> bool {
        !self.by_hash.is_empty() || !self.by_cert.is_empty()
    }

    /// The principal whose token is `token`.
    pub fn find(&self, token: &str) -> Option<&PrincipalConfig> {
        self.by_hash.get(blake3::hash(token.as_bytes()).as_bytes())
    }

    fn find_cert(&self, der: &[u8]) -> Option<&PrincipalConfig> {
        self.by_cert.get(blake3::hash(der).as_bytes())
    }
}

fn parse_hash(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A new random token and the hash to configure for it.
pub fn new_token() -> (String, String) {
    let token = format!(
        "rct_{}{}",
        rectify_eventlog::Uuid::new_v4().simple(),
        rectify_eventlog::Uuid::new_v4().simple()
    );
    let hash = blake3::hash(token.as_bytes()).to_hex().to_string();
    (token, hash)
}

/// The tower layer; see the module docs.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    principals: Principals,
}

impl AuthLayer {
    /// A layer checking tokens against `principals` (none: trust headers).
    pub fn new(principals: Principals) -> Self {
        AuthLayer { principals }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            principals: self.principals.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct Authenticate<S> {
    inner: S,
    principals: Principals,
}

/// Sets the identity headers of `request` from the bearer token, or says
/// why the call is not authenticated.
fn authenticate<B>(principals: &Principals, request: &mut http::Request<B>) -> Result<(), Status> {
    for name in [HEADER_ROLE, HEADER_UNIT, HEADER_PRINCIPAL] {
        request.headers_mut().remove(name);
    }
    // The client certificate of a mutual-TLS connection, if any.
    let certificate = request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(TlsConnectInfo::peer_certs)
        .and_then(|certs| certs.first().map(|der| der.as_ref().to_vec()));
    let headers = request.headers_mut();
    let principal = match (headers.get(http::header::AUTHORIZATION), certificate) {
        (Some(value), _) => {
            let token = value
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .ok_or_else(|| Status::unauthenticated("authorization must be Bearer <token>"))?;
            principals
                .find(token.trim())
                .ok_or_else(|| Status::unauthenticated("unknown token"))?
        }
        (None, Some(der)) => principals
            .find_cert(&der)
            .ok_or_else(|| Status::unauthenticated("unknown client certificate"))?,
        (None, None) => {
            return Err(Status::unauthenticated(
                "missing authorization: Bearer <token> (or a client certificate)",
            ));
        }
    };
    let principal = principal.clone();
    let headers = request.headers_mut();
    let value = |text: &str| {
        http::HeaderValue::from_str(text)
            .map_err(|_| Status::internal("a configured principal is not a valid header value"))
    };
    headers.insert(HEADER_ROLE, value(&principal.role)?);
    headers.insert(HEADER_PRINCIPAL, value(&principal.name)?);
    if let Some(unit) = &principal.unit {
        headers.insert(HEADER_UNIT, value(unit)?);
    }
    Ok(())
}

impl<S, B> tower::Service<http::Request<B>> for Authenticate<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if !is_grpc_path(path) {
            // Not gRPC: the Open311 handlers authenticate by api_key, the
            // dashboard by its session, and neither reads identity headers;
            // drop any the client sent anyway.
            for name in [HEADER_ROLE, HEADER_UNIT, HEADER_PRINCIPAL] {
                request.headers_mut().remove(name);
            }
            return Box::pin(self.inner.call(request));
        }
        let open = path.starts_with("/grpc.health.v1.Health/");
        if self.principals.enabled()
            && !open
            && let Err(status) = authenticate(&self.principals, &mut request)
        {
            tracing::debug!(message = status.message(), "call refused");
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        Box::pin(self.inner.call(request))
    }
}
