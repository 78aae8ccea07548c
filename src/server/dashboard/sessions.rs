//! Dashboard sessions: an opaque random id in a cookie, mapped here, in
//! memory, to the principal who signed in. The token a person signed in
//! with is never kept: only the principal's name, role and unit.
//!
//! The map is bounded ([`MAX_SESSIONS`]) and every session expires
//! ([`SESSION_TTL`]); a restart signs everyone out.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Most sessions held at once; signing in beyond it drops expired sessions,
/// then the one closest to expiry.
pub const MAX_SESSIONS: usize = 1_000;
/// How long a session lasts after sign-in: one working shift.
pub const SESSION_TTL: Duration = Duration::from_secs(10 * 3600);
/// How long a sign-in code lives: long enough to open a link.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// Most sign-in codes outstanding at once.
pub const MAX_CODES: usize = 100;
/// The session cookie's name.
pub const COOKIE: &str = "rectify_session";

/// Who a session belongs to: the identity its pages' API calls carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Role metadata.
    pub role: String,
    /// Principal metadata, the actor of anything it would record.
    pub principal: String,
    /// Unit metadata, for role `unit`.
    pub unit: Option<String>,
}

/// The sessions by id.
#[derive(Debug, Default)]
pub struct Sessions {
    /// Identity and expiry per session id. A std mutex: held only for map
    /// operations, never across an await.
    map: Mutex<HashMap<String, (Identity, Instant)>>,
    /// Single-use sign-in codes: an identity a signed-in session hands to
    /// another browser (a headless one under test), and their expiry.
    codes: Mutex<HashMap<String, (Identity, Instant)>>,
}

/// 256 random bits from the operating system, in hex.
fn random_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Inserts `id` into a bounded map, dropping expired entries and then the
/// one closest to expiry when full.
fn insert_bounded(
    map: &mut HashMap<String, (Identity, Instant)>,
    max: usize,
    id: String,
    entry: (Identity, Instant),
) {
    let now = Instant::now();
    if map.len() >= max {
        map.retain(|_, (_, expires)| *expires > now);
    }
    if map.len() >= max
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, (_, expires))| *expires)
            .map(|(id, _)| id.clone())
    {
        map.remove(&oldest);
    }
    map.insert(id, entry);
    assert!(map.len() <= max);
}

impl Sessions {
    /// Starts a session for `identity` and returns its new id.
    pub fn start(&self, identity: Identity) -> String {
        let id = random_id();
        let mut map = self.map.lock().expect("sessions lock");
        let expires = Instant::now() + SESSION_TTL;
        insert_bounded(&mut map, MAX_SESSIONS, id.clone(), (identity, expires));
        id
    }

    /// Issues a single-use sign-in code for `identity`, valid for
    /// [`CODE_TTL`]. It carries no credential: only this server's memory
    /// maps it to the identity.
    pub fn issue_code(&self, identity: Identity) -> String {
        let code = random_id();
        let mut codes = self.codes.lock().expect("codes lock");
        let expires = Instant::now() + CODE_TTL;
        insert_bounded(&mut codes, MAX_CODES, code.clone(), (identity, expires));
        code
    }

    /// Redeems a sign-in code once: the identity if it was live.
    pub fn redeem(&self, code: &str) -> Option<Identity> {
        let (identity, expires) = self.codes.lock().expect("codes lock").remove(code)?;
        (expires > Instant::now()).then_some(identity)
    }

    /// The identity of a live session.
    pub fn get(&self, id: &str) -> Option<Identity> {
        let mut map = self.map.lock().expect("sessions lock");
        match map.get(id) {
            Some((identity, expires)) if *expires > Instant::now() => Some(identity.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn end(&self, id: &str) {
        self.map.lock().expect("sessions lock").remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::{Identity, MAX_SESSIONS, Sessions};

    fn dispatcher() -> Identity {
        Identity {
            role: "dispatcher".into(),
            principal: "desk-1".into(),
            unit: None,
        }
    }

    #[test]
    fn sessions_are_bounded_and_codes_work_once() {
        let sessions = Sessions::default();
        let first = sessions.start(dispatcher());
        assert_eq!(first.len(), 64);
        assert_eq!(sessions.get(&first), Some(dispatcher()));
        for _ in 0..MAX_SESSIONS {
            sessions.start(dispatcher());
        }
        assert!(sessions.map.lock().unwrap().len() <= MAX_SESSIONS);
        assert_eq!(sessions.get(&first), None, "the oldest made room");
        let code = sessions.issue_code(dispatcher());
        assert_eq!(sessions.redeem(&code), Some(dispatcher()));
        assert_eq!(sessions.redeem(&code), None);
        let last = sessions.start(dispatcher());
        sessions.end(&last);
        assert_eq!(sessions.get(&last), None);
    }
}
