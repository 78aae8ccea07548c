//! Signing in and out of the dashboard, and single-use sign-in codes.
//!
//! A sign-in posts the principal's token (or, in development mode, a role
//! and for the unit role a unit code); a session starts and its id goes
//! back as an `HttpOnly; SameSite=Strict` cookie, `Secure` over TLS. Form
//! posts from another origin are refused: `SameSite` does not stop a
//! foreign page from signing a browser in as someone else.

use std::sync::Arc;

use axum::{
    body::to_bytes,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    response::Response,
};

use super::sessions::{COOKIE, Identity};
use super::{Dashboard, PREFIX, ROLES, html, layout, redirect, session_id, sessions};
use crate::server::form::Params;

/// Roles offered by the development-mode form.
const DEV_ROLES: &[&str] = &["dispatcher", "supervisor", "admin", "hotline", "unit"];
/// Largest sign-in form accepted, in bytes.
const FORM_BYTES_MAX: usize = 4_096;

/// Where the sign-in form is.
pub fn login_url() -> String {
    format!("{PREFIX}/login")
}

/// One field of a form body or query string.
fn field(encoded: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(encoded).ok()?;
    Params::parse(text).ok()?.get(name).map(str::to_owned)
}

impl Dashboard {
    /// Who a sign-in form names, or why not.
    fn sign_in(&self, body: &[u8]) -> Result<Identity, &'static str> {
        if self.principals.enabled() {
            let token = field(body, "token").unwrap_or_default();
            let principal = self
                .principals
                .find(&token)
                .filter(|p| ROLES.contains(&p.role.as_str()))
                .ok_or("令牌无效或无权使用看板 (unknown token or a role without the dashboard)")?;
            return Ok(Identity {
                role: principal.role.clone(),
                principal: principal.name.clone(),
                unit: principal.unit.clone(),
            });
        }
        let role = field(body, "role").unwrap_or_default();
        let role = DEV_ROLES
            .iter()
            .find(|r| **r == role)
            .ok_or("请选择角色 (choose a role)")?;
        let unit = if *role == "unit" {
            let code = field(body, "unit").unwrap_or_default();
            self.state.catalog.unit(&code).ok_or(
                "单位角色需填写目录中的单位代码 (the unit role needs a unit code from the catalog)",
            )?;
            Some(code)
        } else {
            None
        };
        Ok(Identity {
            role: (*role).to_owned(),
            principal: match &unit {
                Some(unit) => format!("dashboard-{unit}"),
                None => format!("dashboard-{role}"),
            },
            unit,
        })
    }
}

/// The sign-in form, or with `?code=` the redemption of a sign-in code.
pub async fn login_form(State(dashboard): State<Arc<Dashboard>>, request: Request) -> Response {
    let code = request
        .uri()
        .query()
        .and_then(|query| field(query.as_bytes(), "code"));
    if let Some(code) = code {
        return match dashboard.sessions.redeem(&code) {
            Some(identity) => {
                let id = dashboard.sessions.start(identity);
                redirect(PREFIX, Some(session_cookie(&id, is_tls(&request))))
            }
            None => redirect(&login_url(), None),
        };
    }
    let development = !dashboard.principals.enabled();
    html(StatusCode::OK, layout::login(development, DEV_ROLES, None))
}

/// Issues a single-use sign-in code to a signed-in session, to open the
/// same identity in another browser within a minute.
pub async fn login_code(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return cross_origin();
    }
    let Some(identity) = dashboard.identity(&headers) else {
        return redirect(&login_url(), None);
    };
    let who = format!("{}（{}）", identity.principal, identity.role);
    let code = dashboard.sessions.issue_code(identity);
    html(StatusCode::OK, layout::login_code(&who, &code))
}

/// Whether a form post comes from the dashboard's own pages: a browser's
/// `Origin`, when sent, must name the host the request was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(a), Some(b)) if a == b)
}

fn cross_origin() -> Response {
    html(
        StatusCode::FORBIDDEN,
        maud::html! { p { "跨站请求被拒绝 (cross-origin form refused)" } },
    )
}

/// Whether `request` came over TLS.
fn is_tls(request: &Request) -> bool {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .is_some()
}

/// The session cookie for session `id`.
fn session_cookie(id: &str, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    let max_age = sessions::SESSION_TTL.as_secs();
    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path={PREFIX}; Max-Age={max_age}{secure}")
}

/// Signs in from the form.
pub async fn login(State(dashboard): State<Arc<Dashboard>>, request: Request) -> Response {
    if !same_origin(request.headers()) {
        return cross_origin();
    }
    let tls = is_tls(&request);
    let Ok(body) = to_bytes(request.into_body(), FORM_BYTES_MAX).await else {
        return html(
            StatusCode::PAYLOAD_TOO_LARGE,
            maud::html! { p { "表单过大" } },
        );
    };
    let development = !dashboard.principals.enabled();
    match dashboard.sign_in(&body) {
        Ok(identity) => {
            tracing::info!(
                principal = identity.principal,
                role = identity.role,
                "dashboard sign-in"
            );
            let id = dashboard.sessions.start(identity);
            redirect(PREFIX, Some(session_cookie(&id, tls)))
        }
        Err(message) => html(
            StatusCode::FORBIDDEN,
            layout::login(development, DEV_ROLES, Some(message)),
        ),
    }
}

/// Ends the session and clears its cookie.
pub async fn logout(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return cross_origin();
    }
    if let Some(id) = session_id(&headers) {
        dashboard.sessions.end(&id);
    }
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path={PREFIX}; Max-Age=0");
    redirect(&login_url(), Some(cookie))
}
