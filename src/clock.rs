//! The server's source of time. Handlers never read the system clock
//! directly: they ask a [`Clock`], so tests and replays control time.

use std::fmt::Debug;

use chrono::{DateTime, Utc};

/// A source of the current instant.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
