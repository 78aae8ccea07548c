//! The writer task: group commit of concurrent appends into one
//! transaction that holds the `log_head` row.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::{Client, Statement};

use super::schema::{self, Address, CHANNEL, storage};
use crate::envelope;
use crate::{
    AppendOutcome, Durability, ExpectedVersion, NewEvent, RecordedEvent, SecretChange, StoreError,
    Uuid,
};

/// One append waiting for the writer.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) stream: String,
    pub(crate) expected: ExpectedVersion,
    pub(crate) events: Vec<NewEvent>,
    pub(crate) secret: SecretChange,
    pub(crate) reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

/// The writer's connection and its prepared statements.
struct Conn {
    client: Client,
    statements: Statements,
}

struct Statements {
    lock_head: Statement,
    known_ids: Statement,
    stream_versions: Statement,
    insert_events: Statement,
    upsert_streams: Statement,
    set_secrets: Statement,
    delete_secrets: Statement,
    update_head: Statement,
}

impl Conn {
    async fn open(address: &Address, durability: Durability) -> Result<Conn, StoreError> {
        let client = schema::connect(address).await?;
        if let Durability::Interval { .. } = durability {
            // PostgreSQL flushes its WAL in the background (within
            // 3 × wal_writer_delay); a crash of the server, not of rectify,
            // may lose the last acknowledged commits.
            client
                .batch_execute("SET synchronous_commit = off")
                .await
                .map_err(storage)?;
        }
        let prepare = |sql: &'static str| {
            let client = &client;
            async move { client.prepare(sql).await.map_err(storage) }
        };
        let statements = Statements {
            lock_head: prepare("SELECT position, hash FROM log_head FOR UPDATE").await?,
            known_ids: prepare("SELECT position, envelope FROM events WHERE id = ANY($1::bytea[])")
                .await?,
            stream_versions: prepare(
                "SELECT stream, version FROM streams WHERE stream = ANY($1::text[])",
            )
            .await?,
            insert_events: prepare(
                "INSERT INTO events (position, stream, version, id, event_type, envelope)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bytea[],
                                      $5::text[], $6::bytea[])",
            )
            .await?,
            upsert_streams: prepare(
                "INSERT INTO streams (stream, version)
                 SELECT * FROM UNNEST($1::text[], $2::bigint[])
                 ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version",
            )
            .await?,
            set_secrets: prepare(
                "INSERT INTO stream_secrets (stream, secret)
                 SELECT * FROM UNNEST($1::text[], $2::bytea[])
                 ON CONFLICT (stream) DO UPDATE SET secret = EXCLUDED.secret",
            )
            .await?,
            delete_secrets: prepare("DELETE FROM stream_secrets WHERE stream = ANY($1::text[])")
                .await?,
            update_head: prepare("UPDATE log_head SET position = $1, hash = $2").await?,
        };
        Ok(Conn { client, statements })
    }
}

/// What the writer decided for one request.
enum Planned {
    Accepted(AppendOutcome),
    Deduplicated(AppendOutcome),
    Rejected(StoreError),
}

/// One commit being assembled, on top of the head read under the lock.
struct Plan {
    head: u64,
    hash: [u8; 32],
    /// Events already in the log whose ids this batch uses.
    known: HashMap<Uuid, RecordedEvent>,
    /// Stream versions as committed (absent: no stream).
    committed_versions: HashMap<String, u64>,
    /// Stream versions left by earlier requests of this batch.
    heads: HashMap<String, u64>,
    pending: Vec<RecordedEvent>,
    envelopes: Vec<Vec<u8>>,
    pending_ids: HashMap<Uuid, usize>,
    /// The last secret change per stream, in request order.
    secrets: HashMap<String, SecretChange>,
}

impl Plan {
    fn decide(&mut self, request: &Request) -> Planned {
        match self.dedup(request) {
            Err(error) => Planned::Rejected(error),
            Ok(Some(outcome)) => Planned::Deduplicated(outcome),
            Ok(None) => {
                let actual = self
                    .heads
                    .get(&request.stream)
                    .or_else(|| self.committed_versions.get(&request.stream))
                    .copied();
                if request.expected.admits(actual) {
                    Planned::Accepted(self.accept(request, actual))
                } else {
                    Planned::Rejected(StoreError::Conflict {
                        stream: request.stream.clone(),
                        expected: request.expected,
                        actual,
                    })
                }
            }
        }
    }

    fn accept(&mut self, request: &Request, actual: Option<u64>) -> AppendOutcome {
        let first_version = actual.map_or(0, |v| v + 1);
        let first_position = self.head + 1;
        for (i, new) in request.events.iter().enumerate() {
            self.head += 1;
            let (event, value) = envelope::seal(
                &request.stream,
                new,
                first_version + i as u64,
                self.head,
                &self.hash,
            );
            self.hash = event.hash;
            self.pending_ids.insert(new.id, self.pending.len());
            self.pending.push(event);
            self.envelopes.push(value);
        }
        let last_version = first_version + request.events.len() as u64 - 1;
        self.heads.insert(request.stream.clone(), last_version);
        if request.secret != SecretChange::Keep {
            self.secrets
                .insert(request.stream.clone(), request.secret.clone());
        }
        AppendOutcome {
            first_version,
            last_version,
            first_position,
            last_position: self.head,
            deduplicated: false,
        }
    }

    /// `Some(original outcome)` when every id is already written by an
    /// identical append; `None` when no id is known; an error otherwise.
    fn dedup(&self, request: &Request) -> Result<Option<AppendOutcome>, StoreError> {
        let found: Vec<Option<&RecordedEvent>> = request
            .events
            .iter()
            .map(|e| {
                self.pending_ids
                    .get(&e.id)
                    .map(|&i| &self.pending[i])
                    .or_else(|| self.known.get(&e.id))
            })
            .collect();
        let Some(first_known) = found.iter().position(Option::is_some) else {
            return Ok(None);
        };
        let mismatch = |i: usize| StoreError::IdempotencyMismatch {
            event_id: request.events[i].id,
        };
        let mut previous: Option<&RecordedEvent> = None;
        for (i, (new, at)) in request.events.iter().zip(&found).enumerate() {
            let Some(recorded) = at else {
                return Err(mismatch(first_known));
            };
            let same = recorded.stream == request.stream
                && recorded.event_type == new.event_type
                && recorded.schema_version == new.schema_version
                && recorded.payload == new.payload
                && recorded.metadata == new.metadata
                && previous.is_none_or(|p| {
                    p.version + 1 == recorded.version && p.position + 1 == recorded.position
                });
            if !same {
                return Err(mismatch(i));
            }
            previous = Some(recorded);
        }
        let first = found[0].expect("all found");
        let last = previous.expect("at least one event");
        Ok(Some(AppendOutcome {
            first_version: first.version,
            last_version: last.version,
            first_position: first.position,
            last_position: last.position,
            deduplicated: true,
        }))
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Decodes `(position, envelope)` rows, checking each record.
pub(crate) fn decode_rows(rows: &[tokio_postgres::Row]) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.iter()
        .map(|row| {
            let position: i64 = row.get(0);
            let envelope: &[u8] = row.get(1);
            envelope::decode(envelope, position as u64)
        })
        .collect()
}

/// Runs one batch: locks the head, decides every request in order, writes
/// the accepted ones and the new head, commits. Returns each request's
/// fate and the new head when anything was written.
async fn commit(
    conn: &mut Conn,
    batch: &[Request],
) -> Result<(Vec<Planned>, Option<u64>), StoreError> {
    let s = &conn.statements;
    let tx = conn.client.transaction().await.map_err(storage)?;
    let row = tx.query_one(&s.lock_head, &[]).await.map_err(storage)?;
    let head: i64 = row.get(0);
    let stored_hash: &[u8] = row.get(1);
    let hash: [u8; 32] = stored_hash.try_into().map_err(|_| StoreError::Corrupt {
        position: head as u64,
        reason: "the head hash is not 32 bytes".into(),
    })?;
    let ids: Vec<&[u8]> = batch
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.id.as_bytes().as_slice()))
        .collect();
    let known = decode_rows(&tx.query(&s.known_ids, &[&ids]).await.map_err(storage)?)?;
    let mut streams: Vec<&str> = batch.iter().map(|r| r.stream.as_str()).collect();
    streams.sort_unstable();
    streams.dedup();
    let committed_versions = tx
        .query(&s.stream_versions, &[&streams])
        .await
        .map_err(storage)?
        .iter()
        .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1) as u64))
        .collect();
    let mut plan = Plan {
        head: head as u64,
        hash,
        known: known.into_iter().map(|e| (e.id, e)).collect(),
        committed_versions,
        heads: HashMap::new(),
        pending: Vec::new(),
        envelopes: Vec::new(),
        pending_ids: HashMap::new(),
        secrets: HashMap::new(),
    };
    let fates: Vec<Planned> = batch.iter().map(|r| plan.decide(r)).collect();
    if plan.pending.is_empty() {
        tx.rollback().await.map_err(storage)?;
        return Ok((fates, None));
    }
    write(&tx, s, &plan).await?;
    tx.commit().await.map_err(storage)?;
    Ok((fates, Some(plan.head)))
}

/// The writes of an accepted plan, inside its transaction.
async fn write(
    tx: &tokio_postgres::Transaction<'_>,
    conn: &Statements,
    plan: &Plan,
) -> Result<(), StoreError> {
    let positions: Vec<i64> = plan.pending.iter().map(|e| to_i64(e.position)).collect();
    let streams: Vec<&str> = plan.pending.iter().map(|e| e.stream.as_str()).collect();
    let versions: Vec<i64> = plan.pending.iter().map(|e| to_i64(e.version)).collect();
    let ids: Vec<&[u8]> = plan
        .pending
        .iter()
        .map(|e| e.id.as_bytes().as_slice())
        .collect();
    let types: Vec<&str> = plan.pending.iter().map(|e| e.event_type.as_str()).collect();
    tx.execute(
        &conn.insert_events,
        &[
            &positions,
            &streams,
            &versions,
            &ids,
            &types,
            &plan.envelopes,
        ],
    )
    .await
    .map_err(storage)?;
    let (names, heads): (Vec<&str>, Vec<i64>) = plan
        .heads
        .iter()
        .map(|(s, v)| (s.as_str(), to_i64(*v)))
        .unzip();
    tx.execute(&conn.upsert_streams, &[&names, &heads])
        .await
        .map_err(storage)?;
    let mut set: (Vec<&str>, Vec<&[u8]>) = Default::default();
    let mut destroy: Vec<&str> = Vec::new();
    for (stream, change) in &plan.secrets {
        match change {
            SecretChange::Set(secret) => {
                set.0.push(stream);
                set.1.push(secret);
            }
            SecretChange::Destroy => destroy.push(stream),
            SecretChange::Keep => {}
        }
    }
    if !set.0.is_empty() {
        tx.execute(&conn.set_secrets, &[&set.0, &set.1])
            .await
            .map_err(storage)?;
    }
    if !destroy.is_empty() {
        tx.execute(&conn.delete_secrets, &[&destroy])
            .await
            .map_err(storage)?;
    }
    tx.execute(
        &conn.update_head,
        &[&to_i64(plan.head), &plan.hash.as_slice()],
    )
    .await
    .map_err(storage)?;
    // Delivered at commit, and only if it commits: a wake-up for other
    // nodes' subscribers, never the truth (they poll by position).
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANNEL, &plan.head.to_string()],
    )
    .await
    .map_err(storage)?;
    Ok(())
}

/// The writer loop: takes every waiting request (up to
/// `max_batch_events` events), commits them together, answers each, and
/// announces the new head to this process's subscribers.
pub(crate) async fn run(
    mut receiver: mpsc::Receiver<Request>,
    address: Address,
    durability: Durability,
    max_batch_events: usize,
    head: watch::Sender<u64>,
) {
    let mut conn: Option<Conn> = None;
    while let Some(first) = receiver.recv().await {
        let mut events = first.events.len();
        let mut batch = vec![first];
        while events < max_batch_events {
            match receiver.try_recv() {
                Ok(request) => {
                    events += request.events.len();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        metrics::counter!("rectify_eventlog_appends_total").increment(batch.len() as u64);
        let started = std::time::Instant::now();
        let result = match &mut conn {
            Some(open) if !open.client.is_closed() => commit(open, &batch).await,
            _ => match Conn::open(&address, durability).await {
                Ok(open) => commit(conn.insert(open), &batch).await,
                Err(error) => Err(error),
            },
        };
        let failure = match result {
            Ok((fates, new_head)) => {
                if let Some(new_head) = new_head {
                    let written = batch
                        .iter()
                        .zip(&fates)
                        .filter(|(_, f)| matches!(f, Planned::Accepted(_)))
                        .map(|(r, _)| r.events.len() as u64)
                        .sum::<u64>();
                    metrics::histogram!("rectify_eventlog_flush_seconds").record(started.elapsed());
                    metrics::histogram!("rectify_eventlog_events_per_flush").record(written as f64);
                    metrics::counter!("rectify_eventlog_flushes_total").increment(1);
                    metrics::counter!("rectify_eventlog_events_total").increment(written);
                    head.send_if_modified(|h| {
                        let newer = new_head > *h;
                        *h = (*h).max(new_head);
                        newer
                    });
                }
                for (request, fate) in batch.into_iter().zip(fates) {
                    let _ = request.reply.send(match fate {
                        Planned::Accepted(o) | Planned::Deduplicated(o) => Ok(o),
                        Planned::Rejected(error) => Err(error),
                    });
                }
                None
            }
            Err(error) => Some((error, batch)),
        };
        if let Some((error, batch)) = failure {
            // Nothing of a failed transaction is visible; if the failure
            // hid the commit's outcome, a retry with the same event ids is
            // answered from the log (idempotency), never written twice.
            tracing::error!(%error, "committing a batch of appends failed");
            let message = error.to_string();
            if conn.as_ref().is_some_and(|c| c.client.is_closed()) {
                conn = None;
            }
            for request in batch {
                let _ = request
                    .reply
                    .send(Err(StoreError::Io(std::io::Error::other(format!(
                        "commit failed: {message}"
                    )))));
            }
        }
    }
}
