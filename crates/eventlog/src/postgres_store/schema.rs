//! Where the store lives in PostgreSQL: the connection string, the schema,
//! and the versioned migrations applied at open.

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::StoreError;

/// Migrations in order; `rectify_schema_migrations` records which ran.
/// A migration is never edited once released: a change is a new entry.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    r"
CREATE TABLE log_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    position bigint NOT NULL,
    hash bytea NOT NULL
);
INSERT INTO log_head (only_row, position, hash)
    VALUES (true, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE events (
    position bigint PRIMARY KEY,
    stream text NOT NULL,
    version bigint NOT NULL,
    id bytea NOT NULL UNIQUE,
    event_type text NOT NULL,
    envelope bytea NOT NULL,
    UNIQUE (stream, version)
);
CREATE TABLE streams (
    stream text PRIMARY KEY,
    version bigint NOT NULL
);
CREATE TABLE stream_secrets (
    stream text PRIMARY KEY,
    secret bytea NOT NULL
);
",
)];

/// The schema version this build creates and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// Advisory lock key serialising migrations of concurrent openers
/// (`rectify` in ASCII).
const MIGRATION_LOCK: i64 = 0x0072_6563_7469_6679;

/// The channel commits notify with the new head (a wake-up only).
pub(crate) const CHANNEL: &str = "rectify_log";

/// A parsed store address: the connection settings with the search path
/// set to the store's schema, and that schema.
#[derive(Clone)]
pub(crate) struct Address {
    pub(crate) pg: tokio_postgres::Config,
    pub(crate) schema: Option<String>,
}

impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config may hold a password: print where, not how.
        f.debug_struct("Address")
            .field("hosts", &self.pg.get_hosts())
            .field("dbname", &self.pg.get_dbname())
            .field("schema", &self.schema)
            .finish()
    }
}

/// Parses `postgres://…` (or key=value) settings. A `schema=NAME` query
/// parameter, which PostgreSQL itself does not know, puts the store's
/// tables in that schema (created if absent) instead of `public`.
pub(crate) fn parse(url: &str) -> Result<Address, StoreError> {
    let invalid = |why: String| StoreError::InvalidArgument(format!("PostgreSQL address: {why}"));
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut schema = None;
    let mut kept = Vec::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        match pair.split_once('=') {
            Some(("schema", name)) => schema = Some(name.to_owned()),
            _ => kept.push(pair),
        }
    }
    let rebuilt = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut pg: tokio_postgres::Config = rebuilt.parse().map_err(|e| invalid(format!("{e}")))?;
    if let Some(name) = &schema {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(invalid(format!(
                "schema {name:?}: use lowercase letters, digits and _ (at most 63)"
            )));
        }
        let options = match pg.get_options() {
            Some(existing) => format!("{existing} -c search_path={name}"),
            None => format!("-c search_path={name}"),
        };
        pg.options(options);
    }
    if pg.get_application_name().is_none() {
        pg.application_name("rectify");
    }
    Ok(Address { pg, schema })
}

/// A PostgreSQL error as the store reports it, with its causes spelled
/// out ("error connecting to server: Connection refused").
pub(crate) fn storage(error: tokio_postgres::Error) -> StoreError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    StoreError::Storage(message.into())
}

/// Opens one connection, driving it on a task of its own.
pub(crate) async fn connect(address: &Address) -> Result<Client, StoreError> {
    let (client, connection) = address.pg.connect(NoTls).await.map_err(storage)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// Opens one connection whose notifications arrive on the returned
/// channel; the channel closes when the connection ends.
pub(crate) async fn connect_with_messages(
    address: &Address,
) -> Result<(Client, mpsc::UnboundedReceiver<AsyncMessage>), StoreError> {
    let (client, mut connection) = address.pg.connect(NoTls).await.map_err(storage)?;
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(message) => {
                    if sender.send(message).is_err() {
                        return;
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "a PostgreSQL connection ended");
                    return;
                }
            }
        }
    });
    Ok((client, receiver))
}

/// Creates the schema if asked for and applies the missing migrations in
/// one transaction under an advisory lock, so concurrent openers (several
/// nodes starting together) apply each migration once. A database newer
/// than this build is refused with [`StoreError::Format`].
pub(crate) async fn migrate(client: &mut Client, schema: Option<&str>) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(storage)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(storage)?;
    if let Some(name) = schema {
        // The name was checked to be a plain identifier.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{name}\""))
            .await
            .map_err(storage)?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS rectify_schema_migrations (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(storage)?;
    let applied: Option<i32> = tx
        .query_one("SELECT max(version) FROM rectify_schema_migrations", &[])
        .await
        .map_err(storage)?
        .get(0);
    let applied = applied.unwrap_or(0);
    if applied > SCHEMA_VERSION {
        return Err(StoreError::Format {
            found: applied as u32,
            supported: SCHEMA_VERSION as u32,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
        tx.batch_execute(sql).await.map_err(storage)?;
        tx.execute(
            "INSERT INTO rectify_schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(storage)?;
        tracing::info!(version, "applied an event log schema migration");
    }
    tx.commit().await.map_err(storage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parameter_becomes_the_search_path() {
        let address = parse("postgres://postgres@127.0.0.1:5432/test?schema=city_a").unwrap();
        assert_eq!(address.schema.as_deref(), Some("city_a"));
        assert_eq!(address.pg.get_options(), Some("-c search_path=city_a"));
        assert_eq!(address.pg.get_dbname(), Some("test"));
        let plain = parse("postgres://postgres@127.0.0.1/test?connect_timeout=5").unwrap();
        assert_eq!(plain.schema, None);
        assert!(parse("postgres://h/test?schema=Bad;drop").is_err());
        assert!(parse("postgres://h/test?nonsense=1").is_err());
    }
}
