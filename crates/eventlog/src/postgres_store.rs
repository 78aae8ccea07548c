//! The PostgreSQL backend: several rectify nodes share one log.
//!
//! # Tables (schema version 1, see `schema`)
//!
//! | table | holds |
//! | --- | --- |
//! | `log_head` | one row: the last committed position and its chain hash |
//! | `events` | one row per event: position (primary key), stream, version, id, type, and the envelope bytes, exactly as sled stores them |
//! | `streams` | each stream's last version |
//! | `stream_secrets` | each stream's secret, outside the hash chain |
//! | `rectify_schema_migrations` | the migrations applied |
//!
//! The envelope (and so the BLAKE3 chain) is the one `envelope` encodes
//! for sled: a log copied between backends verifies identically.
//!
//! # Write path: one ordering point, group commit
//!
//! Each process runs one writer task. Appenders validate limits and queue
//! their request (the queue is bounded: further appenders wait). The writer
//! takes every waiting request and runs ONE transaction for them:
//! `SELECT … FROM log_head FOR UPDATE`, then reads the streams' versions
//! and the events already holding any of the requests' ids, decides each
//! request in order exactly as sled does (idempotency, expected version
//! against the committed head or the head left by an earlier request of
//! the batch), assigns positions after the locked head, chains hashes,
//! inserts the events, updates `streams`, `stream_secrets` and `log_head`,
//! and commits (with `synchronous_commit = on`, the default, the commit
//! returns after its WAL is flushed, and on a synchronous replica too when
//! one is configured). Only then are the appenders answered. A failed
//! transaction writes nothing; when the failure hides whether the commit
//! happened, the appender gets an error and its retry with the same event
//! ids is answered from the log.
//!
//! # Why no reader can skip a committed event
//!
//! A position is never drawn from a sequence. It is `log_head.position + 1`
//! read while holding the `log_head` row lock, and that row is updated in
//! the same transaction. Writers from any node therefore take positions one
//! transaction at a time: the next one blocks on the row until the previous
//! one has committed (it then reads the new head: under READ COMMITTED a
//! locked row is re-read at its latest committed version) or rolled back
//! (its positions were never visible and are handed out again). So:
//!
//! 1. the committed positions are always exactly `1..=log_head.position`,
//!    with no hole, and
//! 2. a transaction commits only after every transaction holding a lower
//!    position has committed, so any snapshot that sees position `p` sees
//!    every position below it.
//!
//! A reader that has every event below `next` and reads `position >= next`
//! in order therefore never passes over an event that commits later. A
//! subscription goes further: it reads `log_head.position` first and then
//! the events up to it, so a filtered page that returns nothing still moves
//! it forward only over positions known to be committed. `pg_notify` of the
//! new head is sent from inside the transaction (PostgreSQL delivers it at
//! commit, never for a rollback) and only wakes subscribers of other nodes;
//! a lost notification (a dropped `LISTEN` connection) costs at most
//! [`POLL_INTERVAL`] of latency, because subscribers also poll by position.
//!
//! The cost is that commits of the whole cluster are serial. Group commit
//! makes each transaction carry every append waiting on that node, so the
//! row lock is held once per batch, not once per append.
//!
//! # Secrets and erasure
//!
//! A stream's secret is a row of `stream_secrets`, written or deleted in
//! the append's transaction. A destroyed secret's row is deleted: a later
//! `VACUUM` reclaims the dead tuple, and the WAL segments and base backups
//! taken before keep the old bytes until they expire. The secrets are
//! wrapped by the master key, so rotating the master key (which rewraps
//! every live secret) leaves those old copies undecryptable once the old
//! key is gone; see docs/security.md.

mod schema;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Statement};

use crate::envelope::{self, GENESIS_HASH};
use crate::subscription::Subscription;
use crate::{
    AppendOutcome, Direction, EventStore, ExpectedVersion, Filter, NewEvent, RecordedEvent,
    SecretChange, StoreConfig, StoreError, StoreStats, Uuid, VerifyProgress, VerifyReport,
};
pub use schema::SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION;
use schema::{Address, CHANNEL, storage};

/// How often a subscriber re-reads the head when no wake-up arrives.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Connections a store keeps for reads (besides the writer's and the listener's).
const READ_CONNECTIONS: usize = 4;
/// Events a catching-up subscriber or `verify` reads per query.
const PAGE: usize = 512;

/// The event log in a PostgreSQL database; cheap to clone.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: StoreConfig,
    address: Address,
    readers: Pool,
    sender: mpsc::Sender<writer::Request>,
    /// The highest head this process knows of: a wake-up, not the truth.
    head: watch::Sender<u64>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A read connection and its prepared statements.
#[derive(Debug)]
struct ReadConn {
    client: Client,
    head: Statement,
    range: Statement,
    forward: Statement,
    backward: Statement,
    version: Statement,
    secret: Statement,
    find: Statement,
}

impl ReadConn {
    async fn open(address: &Address) -> Result<ReadConn, StoreError> {
        let client = schema::connect(address).await?;
        let prepare = |sql: &'static str| {
            let client = &client;
            async move { client.prepare(sql).await.map_err(storage) }
        };
        Ok(ReadConn {
            head: prepare("SELECT position FROM log_head").await?,
            range: prepare(
                "SELECT position, envelope FROM events
                 WHERE position >= $1 AND position <= $2
                   AND ($3::text IS NULL OR starts_with(stream, $3))
                   AND (cardinality($4::text[]) = 0 OR event_type = ANY($4))
                 ORDER BY position LIMIT $5",
            )
            .await?,
            forward: prepare(
                "SELECT position, envelope FROM events WHERE stream = $1 AND version >= $2
                 ORDER BY version LIMIT $3",
            )
            .await?,
            backward: prepare(
                "SELECT position, envelope FROM events WHERE stream = $1 AND version <= $2
                 ORDER BY version DESC LIMIT $3",
            )
            .await?,
            version: prepare("SELECT version FROM streams WHERE stream = $1").await?,
            secret: prepare("SELECT secret FROM stream_secrets WHERE stream = $1").await?,
            find: prepare("SELECT position, envelope FROM events WHERE id = $1").await?,
            client,
        })
    }

    async fn head(&self) -> Result<u64, StoreError> {
        let row = self
            .client
            .query_one(&self.head, &[])
            .await
            .map_err(storage)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Events matching `filter` in `from..=to`, at most `max_count`.
    async fn range(
        &self,
        from: u64,
        to: u64,
        filter: &Filter,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = self
            .client
            .query(
                &self.range,
                &[
                    &to_i64(from),
                    &to_i64(to),
                    &filter.stream_prefix,
                    &filter.event_types,
                    &to_i64(max_count as u64),
                ],
            )
            .await
            .map_err(storage)?;
        writer::decode_rows(&rows)
    }
}

/// A few shared read connections; tokio-postgres pipelines concurrent
/// queries on one connection, so a small fixed set serves many readers.
/// A closed connection is replaced on its next use.
#[derive(Debug)]
struct Pool {
    address: Address,
    slots: Vec<Mutex<Option<Arc<ReadConn>>>>,
    next: AtomicUsize,
}

impl Pool {
    async fn get(&self) -> Result<Arc<ReadConn>, StoreError> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[index].lock().await;
        if let Some(conn) = slot.as_ref().filter(|c| !c.client.is_closed()) {
            return Ok(conn.clone());
        }
        let conn = Arc::new(ReadConn::open(&self.address).await?);
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`, optionally
    /// `?schema=NAME`), applies the missing schema migrations and starts
    /// the writer and the listener. Limits come from `config` (its path
    /// is not used); [`crate::Durability::Interval`] turns off
    /// `synchronous_commit` for this node's appends.
    pub async fn open(url: &str, config: StoreConfig) -> Result<PostgresStore, StoreError> {
        crate::sled_store::check_config(&config)?;
        let address = schema::parse(url)?;
        let mut client = schema::connect(&address).await?;
        schema::migrate(&mut client, address.schema.as_deref()).await?;
        let first = ReadConn::open(&address).await?;
        let head_now = first.head().await?;
        let readers = Pool {
            address: address.clone(),
            slots: (0..READ_CONNECTIONS).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        };
        *readers.slots[0].lock().await = Some(Arc::new(first));
        let (head, _) = watch::channel(head_now);
        let (sender, receiver) = mpsc::channel(config.max_queued_appends);
        let tasks = vec![
            tokio::spawn(writer::run(
                receiver,
                address.clone(),
                config.durability,
                config.max_batch_events,
                head.clone(),
            )),
            tokio::spawn(listen(address.clone(), head.clone())),
        ];
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                config,
                address,
                readers,
                sender,
                head,
                tasks,
            }),
        })
    }

    /// The limits this store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Events, streams and the bytes the tables occupy.
    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        let conn = self.inner.readers.get().await?;
        let row = conn
            .client
            .query_one(
                "SELECT (SELECT position FROM log_head), (SELECT count(*) FROM streams),
                        (SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
                         WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
                           AND c.relname IN ('events', 'streams', 'stream_secrets', 'log_head'))",
                &[],
            )
            .await
            .map_err(storage)?;
        Ok(StoreStats {
            events: row.get::<_, i64>(0) as u64,
            streams: row.get::<_, i64>(1) as u64,
            size_on_disk_bytes: row.get::<_, Option<i64>>(2).unwrap_or(0) as u64,
        })
    }

    /// Up to `limit` stream secrets in stream-name order, after `after`
    /// (from the start when `None`): for re-wrapping under a new master key.
    pub async fn secrets_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let conn = self.inner.readers.get().await?;
        let rows = conn
            .client
            .query(
                "SELECT stream, secret FROM stream_secrets
                 WHERE $1::text IS NULL OR stream > $1 ORDER BY stream LIMIT $2",
                &[&after, &to_i64(limit as u64)],
            )
            .await
            .map_err(storage)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Replaces the secrets of streams that still have one, in one
    /// transaction; returns how many were replaced. Streams whose secret
    /// was destroyed meanwhile stay without one.
    pub async fn replace_secrets(&self, secrets: &[(String, Vec<u8>)]) -> Result<u64, StoreError> {
        let mut client = schema::connect(&self.inner.address).await?;
        let tx = client.transaction().await.map_err(storage)?;
        let (streams, values): (Vec<&str>, Vec<&[u8]>) = secrets
            .iter()
            .map(|(s, v)| (s.as_str(), v.as_slice()))
            .unzip();
        let replaced = tx
            .execute(
                "UPDATE stream_secrets SET secret = new.secret
                 FROM UNNEST($1::text[], $2::bytea[]) AS new(stream, secret)
                 WHERE stream_secrets.stream = new.stream",
                &[&streams, &values],
            )
            .await
            .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        Ok(replaced)
    }

    fn validate(
        &self,
        stream: &str,
        events: &[NewEvent],
        secret: &SecretChange,
    ) -> Result<(), StoreError> {
        crate::sled_store::validate_append(&self.inner.config, stream, events, secret)?;
        // PostgreSQL text cannot hold NUL: refused here, it would fail the
        // whole group commit it landed in.
        if stream.contains('\0') || events.iter().any(|e| e.event_type.contains('\0')) {
            return Err(StoreError::InvalidArgument(
                "stream names and event types cannot contain NUL characters".into(),
            ));
        }
        Ok(())
    }
}

/// Keeps a `LISTEN` connection and turns notifications into wake-ups;
/// after a reconnection it wakes everyone, since notifications sent while
/// disconnected are lost.
async fn listen(address: Address, head: watch::Sender<u64>) {
    loop {
        match schema::connect_with_messages(&address).await {
            Ok((client, mut messages)) => {
                if let Err(error) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    tracing::warn!(%error, "LISTEN failed; subscribers fall back to polling");
                } else {
                    head.send_modify(|_| {});
                    while let Some(message) = messages.recv().await {
                        if let AsyncMessage::Notification(n) = message
                            && let Ok(new_head) = n.payload().parse::<u64>()
                        {
                            head.send_if_modified(|h| {
                                let newer = new_head > *h;
                                *h = (*h).max(new_head);
                                newer
                            });
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for commits; subscribers fall back to polling");
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

impl EventStore for PostgresStore {
    #[tracing::instrument(
        name = "eventlog.append",
        level = "debug",
        skip_all,
        fields(stream = %stream, events = events.len())
    )]
    async fn append_with_secret(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        secret: SecretChange,
    ) -> Result<AppendOutcome, StoreError> {
        self.validate(stream, &events, &secret)?;
        let (reply, outcome) = oneshot::channel();
        let request = writer::Request {
            stream: stream.to_owned(),
            expected,
            events,
            secret,
            reply,
        };
        self.inner
            .sender
            .send(request)
            .await
            .map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let conn = self.inner.readers.get().await?;
        let statement = match direction {
            Direction::Forward => &conn.forward,
            Direction::Backward => &conn.backward,
        };
        let rows = conn
            .client
            .query(
                statement,
                &[&stream, &to_i64(from_version), &to_i64(max_count as u64)],
            )
            .await
            .map_err(storage)?;
        writer::decode_rows(&rows)
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        let conn = self.inner.readers.get().await?;
        let row = conn
            .client
            .query_opt(&conn.version, &[&stream])
            .await
            .map_err(storage)?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    async fn stream_secret(&self, stream: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.inner.readers.get().await?;
        let row = conn
            .client
            .query_opt(&conn.secret, &[&stream])
            .await
            .map_err(storage)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn read_all(
        &self,
        from_position: u64,
        max_count: usize,
        filter: &Filter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let conn = self.inner.readers.get().await?;
        conn.range(from_position, u64::MAX, filter, max_count).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.readers.get().await?.head().await
    }

    async fn find_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        let conn = self.inner.readers.get().await?;
        let rows = conn
            .client
            .query(&conn.find, &[&id.as_bytes().as_slice()])
            .await
            .map_err(storage)?;
        Ok(writer::decode_rows(&rows)?.into_iter().next())
    }

    fn subscribe(&self, from_position: u64, filter: Filter) -> Subscription {
        let (sender, receiver) = Subscription::channel();
        let task = tokio::spawn(feed(
            self.inner.clone(),
            self.inner.head.subscribe(),
            from_position.max(1),
            filter,
            sender,
        ));
        Subscription::new(receiver, task)
    }

    async fn verify(
        &self,
        progress: &mut (dyn FnMut(VerifyProgress) + Send),
    ) -> Result<VerifyReport, StoreError> {
        let conn = self.inner.readers.get().await?;
        let row = conn
            .client
            .query_one("SELECT position, hash FROM log_head", &[])
            .await
            .map_err(storage)?;
        let head = row.get::<_, i64>(0) as u64;
        let head_hash: Vec<u8> = row.get(1);
        let mut hash = GENESIS_HASH;
        let mut checked = 0;
        let broken = |checked, at, why: String| {
            Ok(VerifyReport {
                events_checked: checked,
                first_broken: Some((at, why)),
            })
        };
        while checked < head {
            let rows = conn
                .client
                .query(
                    "SELECT position, envelope FROM events WHERE position > $1 AND position <= $2
                     ORDER BY position LIMIT $3",
                    &[&to_i64(checked), &to_i64(head), &(PAGE as i64 * 8)],
                )
                .await
                .map_err(storage)?;
            if rows.is_empty() {
                return broken(checked, checked + 1, "missing event".into());
            }
            for row in rows {
                let position = row.get::<_, i64>(0) as u64;
                if position != checked + 1 {
                    return broken(checked, checked + 1, "missing event".into());
                }
                match envelope::check_chain(row.get(1), position, &hash) {
                    Ok(next) => hash = next,
                    Err(error) => return broken(checked, position, error.to_string()),
                }
                checked += 1;
            }
            progress(VerifyProgress { checked, head });
        }
        if head_hash != hash {
            return broken(checked, head, "log_head holds another hash".into());
        }
        progress(VerifyProgress { checked, head });
        Ok(VerifyReport {
            events_checked: checked,
            first_broken: None,
        })
    }
}

/// Feeds one subscription: reads the committed head, then every matching
/// event up to it in pages; waits for a wake-up (this node's writer, a
/// notification, or [`POLL_INTERVAL`]) and repeats. A database error is
/// retried after the wait; a damaged record ends the subscription with
/// the error.
async fn feed(
    inner: Arc<Inner>,
    mut wake: watch::Receiver<u64>,
    mut next: u64,
    filter: Filter,
    sender: mpsc::Sender<Result<RecordedEvent, StoreError>>,
) {
    loop {
        // Mark the current wake-up seen before reading, so a commit after
        // the read wakes the wait below.
        wake.borrow_and_update();
        let caught_up = catch_up(&inner, &mut next, &filter, &sender).await;
        match caught_up {
            Ok(true) => {}
            Ok(false) => return,
            // The database is unreachable (a failover, a cut connection):
            // nothing was skipped, so wait and read on from `next`.
            Err(StoreError::Storage(error)) => {
                tracing::warn!(%error, next, "a subscription cannot read the log; retrying");
            }
            Err(error) => {
                let _ = sender.send(Err(error)).await;
                return;
            }
        }
        tokio::select! {
            changed = wake.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(POLL_INTERVAL) => {}
            () = sender.closed() => return,
        }
    }
}

/// Sends every matching event from `next` to the committed head; false
/// when the subscriber has gone.
async fn catch_up(
    inner: &Inner,
    next: &mut u64,
    filter: &Filter,
    sender: &mpsc::Sender<Result<RecordedEvent, StoreError>>,
) -> Result<bool, StoreError> {
    let conn = inner.readers.get().await?;
    let head = conn.head().await?;
    while *next <= head {
        let page = conn.range(*next, head, filter, PAGE).await?;
        *next = if page.len() < PAGE {
            head + 1
        } else {
            page[page.len() - 1].position + 1
        };
        for event in page {
            if sender.send(Ok(event)).await.is_err() {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
