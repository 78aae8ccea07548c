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

/// A clock that reads the current instant from a file holding one RFC 3339
/// timestamp, so drills and end-to-end tests can move time for a running
/// server. An unreadable file keeps the last good instant (and logs why);
/// until one is read, the system time is used.
#[derive(Debug)]
pub struct FileClock {
    /// The file to read.
    path: std::path::PathBuf,
    /// The last instant read successfully.
    last: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl FileClock {
    /// A clock reading `path`.
    pub fn new(path: std::path::PathBuf) -> Self {
        FileClock {
            path,
            last: std::sync::Mutex::new(None),
        }
    }
}

impl Clock for FileClock {
    fn now(&self) -> DateTime<Utc> {
        let read = std::fs::read_to_string(&self.path)
            .map_err(|error| error.to_string())
            .and_then(|text| {
                DateTime::parse_from_rfc3339(text.trim())
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|error| error.to_string())
            });
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match read {
            Ok(now) => {
                *last = Some(now);
                now
            }
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "clock file unreadable");
                last.unwrap_or_else(Utc::now)
            }
        }
    }
}
