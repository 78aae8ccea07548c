//! A per-principal rate limit (GCRA, the `governor` crate), in front of every
//! service: a principal that exceeds its quota gets `RESOURCE_EXHAUSTED`
//! before any work is done, so one misbehaving client cannot starve the
//! hotline. The key is the principal the call runs as (set from the token by
//! [`crate::server::authn`], or sent as a header when no principals are configured);
//! the number of principals tracked is bounded, so made-up principal names
//! cannot grow memory. `grpc.health.v1` is not limited. Open311 and
//! dashboard requests carry no identity headers at this layer (they sign in
//! by `api_key` or session inside their handlers), so each client address
//! gets its own bucket, and they are refused with HTTP 429 rather than a
//! gRPC status.

use std::{
    future::Future,
    num::NonZeroU32,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tonic::{
    Status,
    body::Body,
    codegen::http,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};

use crate::wire::{HEADER_PRINCIPAL, HEADER_ROLE, is_grpc_path};

/// Most principals tracked at once; beyond it, idle ones are forgotten and
/// the rest share one bucket.
pub const MAX_TRACKED_PRINCIPALS: usize = 10_000;

/// The tower layer; `None` quota = no limit.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

impl RateLimitLayer {
    /// `per_second` calls a second per principal, bursts of twice that; 0
    /// turns the limit off.
    pub fn new(per_second: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2 is not zero"));
            Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        RateLimitLayer { limiter }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// See [`RateLimitLayer`].
#[derive(Debug, Clone)]
pub struct RateLimit<S> {
    inner: S,
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

/// The reply to a call over its quota: `RESOURCE_EXHAUSTED` to gRPC, and
/// to plain HTTP (the Open311 paths, whose clients read no gRPC status)
/// `429 Too Many Requests` with an Open311 error list.
fn refusal(path: &str) -> http::Response<Body> {
    const MESSAGE: &str = "rate limit exceeded for this principal; retry with backoff";
    if is_grpc_path(path) {
        return Status::resource_exhausted(MESSAGE).into_http();
    }
    let body = format!("[{{\"code\":429,\"description\":\"{MESSAGE}\"}}]");
    let mut response = http::Response::new(Body::new(http_body_util::Full::new(
        tonic::codegen::Bytes::from(body),
    )));
    *response.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// The bucket of `request`: its principal; without identity headers (the
/// HTTP paths), its client's address; failing both, its role.
fn key<B>(request: &http::Request<B>) -> String {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let peer = || {
        let extensions = request.extensions();
        extensions
            .get::<TcpConnectInfo>()
            .or_else(|| {
                extensions
                    .get::<TlsConnectInfo<TcpConnectInfo>>()
                    .map(TlsConnectInfo::get_ref)
            })
            .and_then(TcpConnectInfo::remote_addr)
            .map(|addr| addr.ip())
    };
    match (header(HEADER_PRINCIPAL), header(HEADER_ROLE)) {
        ("", "") => match peer() {
            Some(ip) => format!("peer:{ip}"),
            None => "role:".to_owned(),
        },
        ("", role) => format!("role:{role}"),
        (principal, _) => format!("principal:{principal}"),
    }
}

impl<S, B> tower::Service<http::Request<B>> for RateLimit<S>
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

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if let Some(limiter) = &self.limiter
            && !request.uri().path().starts_with("/grpc.health.v1.Health/")
        {
            // Counting the tracked keys visits every shard: do it once per
            // call, and a second time only when the map was crowded.
            let mut key = key(&request);
            if limiter.len() > MAX_TRACKED_PRINCIPALS {
                limiter.retain_recent();
                if limiter.len() > MAX_TRACKED_PRINCIPALS {
                    key = "overflow".to_owned();
                }
            }
            if limiter.check_key(&key).is_err() {
                return Box::pin(std::future::ready(Ok(refusal(request.uri().path()))));
            }
        }
        Box::pin(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, headers: &[(&'static str, &str)]) -> http::Request<()> {
        let mut request = http::Request::new(());
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, http::HeaderValue::from_str(value).unwrap());
        }
        request.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: Some(peer.parse().unwrap()),
        });
        request
    }

    #[test]
    fn callers_without_identity_are_counted_by_address_and_principals_by_name() {
        let a = key(&request("192.0.2.1:40000", &[]));
        let b = key(&request("192.0.2.2:40000", &[]));
        assert_ne!(a, b, "two HTTP clients share no bucket");
        assert_eq!(
            a,
            key(&request("192.0.2.1:41000", &[])),
            "one client, one bucket"
        );
        let named = [
            (HEADER_PRINCIPAL, "hotline-backend"),
            (HEADER_ROLE, "hotline"),
        ];
        assert_eq!(
            key(&request("192.0.2.1:40000", &named)),
            "principal:hotline-backend"
        );
        assert_eq!(
            key(&request("192.0.2.1:40000", &[(HEADER_ROLE, "portal")])),
            "role:portal"
        );
    }
}
