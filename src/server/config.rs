//! Server configuration: raw sources (file, environment, flags) kept apart
//! from the resolved [`ServerConfig`].
//!
//! Precedence, lowest to highest: built-in defaults, the TOML config file
//! (`--config` / `RECTIFY_CONFIG`), environment variables (`RECTIFY_*`), then
//! command-line flags. Flags and environment variables are merged by clap (a
//! flag beats its variable); the file fills in whatever neither gave.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// Default gRPC listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Default data directory (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "rectify-data";
/// Default sled page cache: 64 MiB. sled's resident memory can be several
/// times this figure, see docs/operations.md.
pub const DEFAULT_CACHE_CAPACITY_MB: u64 = 64;
/// Default flush interval of the relaxed durability mode.
pub const DEFAULT_FLUSH_INTERVAL_MS: u64 = 10;
/// Default calls per second per principal (bursts of twice that).
pub const DEFAULT_RATE_LIMIT_PER_S: u32 = 500;
/// Default interval between two passes of the deadline watcher.
pub const DEFAULT_DEADLINE_SCAN_INTERVAL_S: u64 = 60;
/// The log's origin when none is configured: deployments set their own
/// host name, e.g. `complaints.example.gov.cn/log`.
pub const DEFAULT_LOG_ORIGIN: &str = "rectify.local/log";

/// How an append is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityMode {
    /// Acknowledge only after the data is on disk (fdatasync). The default.
    Fsync,
    /// Acknowledge after the write reaches the page cache; flush every
    /// `flush_interval_ms`. A power loss may lose the last interval.
    Interval,
}

/// Where the event log lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded sled store in this directory.
    Sled(PathBuf),
    /// A PostgreSQL database (`postgres://…`, optionally `?schema=NAME`),
    /// which several servers may share.
    Postgres(String),
}

impl StoreLocation {
    /// A `postgres://` or `postgresql://` URL, or else a directory.
    pub fn parse(dir_or_url: &str) -> Self {
        if dir_or_url.starts_with("postgres://") || dir_or_url.starts_with("postgresql://") {
            StoreLocation::Postgres(dir_or_url.to_owned())
        } else {
            StoreLocation::Sled(PathBuf::from(dir_or_url))
        }
    }
}

/// Shows where, never a password (`postgres://user:***@host/db`).
impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sled(dir) => write!(f, "{}", dir.display()),
            StoreLocation::Postgres(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
                match rest.rsplit_once('@') {
                    Some((credentials, host)) => match credentials.split_once(':') {
                        Some((user, _password)) => write!(f, "{scheme}://{user}:***@{host}"),
                        None => write!(f, "{scheme}://{credentials}@{host}"),
                    },
                    None => write!(f, "{url}"),
                }
            }
        }
    }
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreLocation({self})")
    }
}

/// The config file's shape. Every field is optional; unknown fields are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// gRPC listen address.
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded store (and of the projections).
    pub data_dir: Option<PathBuf>,
    /// `sled` (default: the log in `data_dir`) or a `postgres://` URL.
    pub store: Option<String>,
    /// `fsync` (default) or `interval`.
    pub durability: Option<DurabilityMode>,
    /// Flush interval for `interval` durability.
    pub flush_interval_ms: Option<u64>,
    /// sled page cache size.
    pub cache_capacity_mb: Option<u64>,
    /// A directory with an edited copy of the catalog files; unset = the
    /// catalog embedded in the binary.
    pub catalog_dir: Option<PathBuf>,
    /// Seconds between deadline-watcher passes; 0 = only on request.
    pub deadline_scan_interval_s: Option<u64>,
    /// Address of the Prometheus metrics endpoint; unset = none.
    pub metrics_listen: Option<SocketAddr>,
    /// Calls per second per principal; 0 = no limit.
    pub rate_limit_per_s: Option<u32>,
    /// PEM certificate chain of the server (turns on TLS).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the server.
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates that client certificates must chain to (turns on
    /// mutual TLS: a connection without a valid client certificate fails).
    pub tls_client_ca: Option<PathBuf>,
    /// OTLP/gRPC endpoint to export traces to; unset = none.
    pub otlp_endpoint: Option<String>,
    /// Read the current instant from this file (RFC 3339) instead of the
    /// system clock: for drills and tests only.
    pub clock_file: Option<PathBuf>,
    /// Principals and the BLAKE3 hashes of their tokens; when any are
    /// listed, every call needs a bearer token (see `authn`).
    #[serde(default)]
    pub principals: Vec<crate::server::authn::PrincipalConfig>,
    /// File holding the master key (64 hex digits) that wraps the
    /// per-complaint data keys; unset = `<data_dir>/master.key`, created on
    /// first start.
    pub master_key_file: Option<PathBuf>,
    /// Master key files retired by a rotation, still used to unwrap data keys
    /// not yet re-wrapped (see `rectify admin rotate-master-key`).
    #[serde(default)]
    pub retired_master_key_files: Vec<PathBuf>,
    /// File holding the log-signing key (a C2SP note signer key) for
    /// checkpoints and receipts; unset = `<data_dir>/log-signing.key`,
    /// created on first start.
    pub log_signing_key_file: Option<PathBuf>,
    /// The log's origin, the first line of its checkpoints and the name of
    /// its key, used when the key is created; default
    /// [`DEFAULT_LOG_ORIGIN`].
    pub log_origin: Option<String>,
    /// Browser origins (`https://portal.example.gov.cn`) whose pages may
    /// call the API over gRPC-Web; none by default.
    #[serde(default)]
    pub grpc_web_origins: Vec<String>,
    /// Serve on a non-loopback address without principals, trusting the
    /// identity headers callers send (only behind a gateway that sets them).
    pub trust_identity_headers: Option<bool>,
}

impl FileConfig {
    /// Reads and parses a config file.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

/// Flags of `rectify serve`; each also reads its `RECTIFY_*` variable.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeArgs {
    /// TOML config file.
    #[arg(long, env = "RECTIFY_CONFIG")]
    pub config: Option<PathBuf>,
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, env = "RECTIFY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded store and the projections; created if
    /// missing.
    #[arg(long, env = "RECTIFY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the event log lives: `sled` (default, in the data directory)
    /// or a PostgreSQL URL, postgres://user@host/db[?schema=NAME], which
    /// several servers can share (docs/scale-out.md).
    #[arg(long, env = "RECTIFY_STORE")]
    pub store: Option<String>,
    /// Durability of acknowledged appends.
    #[arg(long, env = "RECTIFY_DURABILITY", value_enum)]
    pub durability: Option<DurabilityMode>,
    /// Flush interval for `--durability interval`.
    #[arg(long, env = "RECTIFY_FLUSH_INTERVAL_MS")]
    pub flush_interval_ms: Option<u64>,
    /// sled page cache size in MiB.
    #[arg(long, env = "RECTIFY_CACHE_CAPACITY_MB")]
    pub cache_capacity_mb: Option<u64>,
    /// Directory with an edited copy of the catalog files.
    #[arg(long, env = "RECTIFY_CATALOG_DIR")]
    pub catalog_dir: Option<PathBuf>,
    /// Seconds between deadline-watcher passes (0: only on request).
    #[arg(long, env = "RECTIFY_DEADLINE_SCAN_INTERVAL_S")]
    pub deadline_scan_interval_s: Option<u64>,
    /// Serve Prometheus metrics at http://ADDR/metrics (port 0 picks one).
    #[arg(long, env = "RECTIFY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Calls per second per principal, bursts of twice that (0: no limit).
    #[arg(long, env = "RECTIFY_RATE_LIMIT_PER_S")]
    pub rate_limit_per_s: Option<u32>,
    /// Server certificate chain (PEM); with --tls-key, serve TLS.
    #[arg(long, env = "RECTIFY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, env = "RECTIFY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) client certificates must chain to: mutual TLS.
    #[arg(long, env = "RECTIFY_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Export traces over OTLP/gRPC to this endpoint, e.g.
    /// http://127.0.0.1:4317 (the OpenTelemetry variable also works).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Take the current instant from this file (one RFC 3339 line) instead
    /// of the system clock. For drills and tests; never in production.
    #[arg(long, env = "RECTIFY_CLOCK_FILE", hide = true)]
    pub clock_file: Option<PathBuf>,
    /// Master key file (64 hex digits) wrapping the per-complaint data keys
    /// of personal data; default `<data_dir>/master.key`, created if missing.
    #[arg(long, env = "RECTIFY_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Log-signing key file (a C2SP note signer key) for checkpoints and
    /// receipts; default `<data_dir>/log-signing.key`, created if missing.
    #[arg(long, env = "RECTIFY_LOG_SIGNING_KEY_FILE")]
    pub log_signing_key_file: Option<PathBuf>,
    /// The log's origin line, used when the signing key is created.
    #[arg(long, env = "RECTIFY_LOG_ORIGIN")]
    pub log_origin: Option<String>,
    /// A browser origin allowed to call over gRPC-Web, e.g.
    /// https://portal.example.gov.cn (repeatable; none by default).
    #[arg(
        long = "grpc-web-origin",
        env = "RECTIFY_GRPC_WEB_ORIGINS",
        value_delimiter = ','
    )]
    pub grpc_web_origins: Vec<String>,
    /// Listen on a non-loopback address without principals, trusting the
    /// identity headers callers send. Only behind a gateway that sets them.
    #[arg(long, env = "RECTIFY_TRUST_IDENTITY_HEADERS")]
    pub trust_identity_headers: bool,
}

/// The PEM files of TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Server certificate chain.
    pub cert: PathBuf,
    /// Server private key.
    pub key: PathBuf,
    /// CA that client certificates must chain to (mutual TLS), if any.
    pub client_ca: Option<PathBuf>,
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// Directory of the embedded store and the projections.
    pub data_dir: PathBuf,
    /// The event log in PostgreSQL (a `postgres://` URL); `None` = sled in
    /// `data_dir`.
    pub postgres: Option<String>,
    /// Durability of acknowledged appends.
    pub durability: DurabilityMode,
    /// Flush interval for [`DurabilityMode::Interval`].
    pub flush_interval_ms: u64,
    /// sled page cache size in bytes.
    pub cache_capacity_bytes: u64,
    /// Edited catalog directory, or `None` for the embedded catalog.
    pub catalog_dir: Option<PathBuf>,
    /// Seconds between deadline-watcher passes; 0 = only on request.
    pub deadline_scan_interval_s: u64,
    /// Address of the Prometheus metrics endpoint, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// OTLP/gRPC endpoint for traces, if any.
    pub otlp_endpoint: Option<String>,
    /// Calls per second per principal; 0 = no limit.
    pub rate_limit_per_s: u32,
    /// TLS: (certificate chain, private key, client CA) PEM files.
    pub tls: Option<TlsFiles>,
    /// Principals allowed in, by token hash (empty: trust identity headers).
    pub principals: Vec<crate::server::authn::PrincipalConfig>,
    /// File the clock reads instead of the system time, if any.
    pub clock_file: Option<PathBuf>,
    /// The master key file; `None` = `<data_dir>/master.key`, created on
    /// first start.
    pub master_key_file: Option<PathBuf>,
    /// Retired master key files (unwrap only).
    pub retired_master_key_files: Vec<PathBuf>,
    /// The log-signing key file; `None` = `<data_dir>/log-signing.key`,
    /// created on first start.
    pub log_signing_key_file: Option<PathBuf>,
    /// The origin a new log-signing key is named after.
    pub log_origin: String,
    /// Browser origins allowed to call over gRPC-Web (CORS); empty = none.
    pub grpc_web_origins: Vec<String>,
    /// Trust identity headers on a non-loopback address without principals.
    pub trust_identity_headers: bool,
}

impl ServerConfig {
    /// Where the event log lives.
    pub fn store_location(&self) -> StoreLocation {
        match &self.postgres {
            Some(url) => StoreLocation::Postgres(url.clone()),
            None => StoreLocation::Sled(self.data_dir.clone()),
        }
    }

    /// Every default, on `data_dir`, listening on 127.0.0.1 with a port the
    /// system picks: the base of in-process servers (`bench --spawn`, tests,
    /// fuzzing), which override what they need.
    pub fn local(data_dir: PathBuf) -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            postgres: None,
            durability: DurabilityMode::Fsync,
            flush_interval_ms: DEFAULT_FLUSH_INTERVAL_MS,
            cache_capacity_bytes: DEFAULT_CACHE_CAPACITY_MB << 20,
            catalog_dir: None,
            deadline_scan_interval_s: DEFAULT_DEADLINE_SCAN_INTERVAL_S,
            metrics_listen: None,
            otlp_endpoint: None,
            rate_limit_per_s: DEFAULT_RATE_LIMIT_PER_S,
            tls: None,
            principals: Vec::new(),
            clock_file: None,
            master_key_file: None,
            retired_master_key_files: Vec::new(),
            log_signing_key_file: None,
            log_origin: DEFAULT_LOG_ORIGIN.to_owned(),
            grpc_web_origins: Vec::new(),
            trust_identity_headers: false,
        }
    }

    /// Resolves flags/environment over the config file over defaults.
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Self::merge(args.clone(), file)
    }

    fn merge(args: ServeArgs, file: FileConfig) -> anyhow::Result<Self> {
        let listen = match args.listen.or(file.listen) {
            Some(listen) => listen,
            None => DEFAULT_LISTEN.parse().context("default listen address")?,
        };
        let flush_interval_ms = args
            .flush_interval_ms
            .or(file.flush_interval_ms)
            .unwrap_or(DEFAULT_FLUSH_INTERVAL_MS);
        if flush_interval_ms == 0 || flush_interval_ms > 10_000 {
            bail!("flush_interval_ms must be between 1 and 10000, got {flush_interval_ms}");
        }
        let cache_mb = args
            .cache_capacity_mb
            .or(file.cache_capacity_mb)
            .unwrap_or(DEFAULT_CACHE_CAPACITY_MB);
        if !(8..=65_536).contains(&cache_mb) {
            bail!("cache_capacity_mb must be between 8 and 65536, got {cache_mb}");
        }
        let trust_identity_headers =
            args.trust_identity_headers || file.trust_identity_headers.unwrap_or(false);
        if !listen.ip().is_loopback() && file.principals.is_empty() && !trust_identity_headers {
            bail!(
                "refusing to listen on {listen} without principals: anyone who can reach it could \
                 name their own role. Configure [[principals]] (docs/security.md), listen on \
                 127.0.0.1, or pass --trust-identity-headers when a gateway sets the identity \
                 headers"
            );
        }
        let grpc_web_origins = if args.grpc_web_origins.is_empty() {
            file.grpc_web_origins
        } else {
            args.grpc_web_origins
        };
        for origin in &grpc_web_origins {
            check_origin(origin)?;
        }
        let postgres = match args.store.or(file.store).as_deref() {
            None | Some("sled") => None,
            Some(store) => match StoreLocation::parse(store) {
                StoreLocation::Postgres(url) => Some(url),
                StoreLocation::Sled(_) => bail!(
                    "store must be `sled` or a postgres:// URL, got {store:?} (the sled \
                     directory is data_dir)"
                ),
            },
        };
        Ok(Self {
            listen,
            postgres,
            grpc_web_origins,
            trust_identity_headers,
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            durability: args
                .durability
                .or(file.durability)
                .unwrap_or(DurabilityMode::Fsync),
            flush_interval_ms,
            cache_capacity_bytes: cache_mb * 1024 * 1024,
            catalog_dir: args.catalog_dir.or(file.catalog_dir),
            deadline_scan_interval_s: args
                .deadline_scan_interval_s
                .or(file.deadline_scan_interval_s)
                .unwrap_or(DEFAULT_DEADLINE_SCAN_INTERVAL_S),
            clock_file: args.clock_file.or(file.clock_file),
            metrics_listen: args.metrics_listen.or(file.metrics_listen),
            otlp_endpoint: args.otlp_endpoint.or(file.otlp_endpoint),
            principals: file.principals,
            master_key_file: args.master_key_file.or(file.master_key_file),
            retired_master_key_files: file.retired_master_key_files,
            log_signing_key_file: args.log_signing_key_file.or(file.log_signing_key_file),
            log_origin: args
                .log_origin
                .or(file.log_origin)
                .unwrap_or_else(|| DEFAULT_LOG_ORIGIN.to_owned()),
            rate_limit_per_s: args
                .rate_limit_per_s
                .or(file.rate_limit_per_s)
                .unwrap_or(DEFAULT_RATE_LIMIT_PER_S),
            tls: match (
                args.tls_cert.or(file.tls_cert),
                args.tls_key.or(file.tls_key),
                args.tls_client_ca.or(file.tls_client_ca),
            ) {
                (Some(cert), Some(key), client_ca) => Some(TlsFiles {
                    cert,
                    key,
                    client_ca,
                }),
                (None, None, None) => None,
                _ => bail!("TLS needs both tls_cert and tls_key (tls_client_ca is optional)"),
            },
        })
    }
}

/// An allowed browser origin: `http(s)://host[:port]`, nothing after.
fn check_origin(origin: &str) -> anyhow::Result<()> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match rest {
        Some(host)
            if !host.is_empty()
                && host.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                }) =>
        {
            Ok(())
        }
        _ => bail!(
            "grpc_web_origins: {origin:?} is not an origin such as https://portal.example.gov.cn"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_and_file_beats_defaults() {
        let file: FileConfig = toml::from_str(
            "listen = \"0.0.0.0:7000\"\ndata_dir = \"/srv/rectify\"\ndurability = \"interval\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            listen: Some("127.0.0.1:9000".parse().unwrap()),
            ..ServeArgs::default()
        };
        let config = ServerConfig::merge(args, file).unwrap();
        assert_eq!(config.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from("/srv/rectify"));
        assert_eq!(config.durability, DurabilityMode::Interval);
        assert_eq!(config.cache_capacity_bytes, DEFAULT_CACHE_CAPACITY_MB << 20);
    }

    #[test]
    fn the_shipped_example_config_parses() {
        let file: FileConfig =
            toml::from_str(include_str!("../../deploy/rectify.toml")).expect("deploy/rectify.toml");
        assert!(file.master_key_file.is_some());
        let config = ServerConfig::merge(ServeArgs::default(), file).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/rectify/data"));
    }

    #[test]
    fn a_public_address_without_principals_needs_an_explicit_trust_flag() {
        let public = || ServeArgs {
            listen: Some("0.0.0.0:50051".parse().unwrap()),
            ..ServeArgs::default()
        };
        let err = ServerConfig::merge(public(), FileConfig::default()).unwrap_err();
        assert!(err.to_string().contains("without principals"), "{err}");
        let trusted = ServeArgs {
            trust_identity_headers: true,
            ..public()
        };
        assert!(ServerConfig::merge(trusted, FileConfig::default()).is_ok());
        let local = ServeArgs {
            listen: Some("127.0.0.1:50051".parse().unwrap()),
            ..ServeArgs::default()
        };
        assert!(ServerConfig::merge(local, FileConfig::default()).is_ok());
    }

    #[test]
    fn grpc_web_origins_are_checked() {
        let args = |origin: &str| ServeArgs {
            grpc_web_origins: vec![origin.to_owned()],
            ..ServeArgs::default()
        };
        let ok = ServerConfig::merge(args("https://portal.example.gov.cn"), FileConfig::default());
        assert_eq!(
            ok.unwrap().grpc_web_origins,
            ["https://portal.example.gov.cn"]
        );
        for bad in [
            "*",
            "portal.example.gov.cn",
            "https://a.cn/path",
            "https://",
        ] {
            let err = ServerConfig::merge(args(bad), FileConfig::default()).unwrap_err();
            assert!(err.to_string().contains("grpc_web_origins"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_store_is_sled_unless_a_postgres_url_is_given() {
        let config = ServerConfig::merge(ServeArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(
            config.store_location(),
            StoreLocation::Sled(PathBuf::from(DEFAULT_DATA_DIR))
        );
        let file: FileConfig =
            toml::from_str("store = \"postgres://rectify@db/rectify?schema=city\"\n").unwrap();
        let config = ServerConfig::merge(ServeArgs::default(), file).unwrap();
        assert_eq!(
            config.postgres.as_deref(),
            Some("postgres://rectify@db/rectify?schema=city")
        );
        let flag = ServeArgs {
            store: Some("sled".into()),
            ..ServeArgs::default()
        };
        let file: FileConfig = toml::from_str("store = \"postgres://db/x\"\n").unwrap();
        assert_eq!(ServerConfig::merge(flag, file).unwrap().postgres, None);
        let bad = ServeArgs {
            store: Some("/srv/log".into()),
            ..ServeArgs::default()
        };
        let err = ServerConfig::merge(bad, FileConfig::default()).unwrap_err();
        assert!(err.to_string().contains("postgres://"), "{err}");
        let shown = StoreLocation::parse("postgres://rectify:s3cret@db:5432/log").to_string();
        assert_eq!(shown, "postgres://rectify:***@db:5432/log");
        assert_eq!(
            StoreLocation::parse("postgresql://db/log").to_string(),
            "postgresql://db/log"
        );
    }

    #[test]
    fn unknown_file_fields_and_bad_values_are_errors() {
        assert!(toml::from_str::<FileConfig>("listn = \"x\"").is_err());
        let args = ServeArgs {
            cache_capacity_mb: Some(1),
            ..ServeArgs::default()
        };
        let err = ServerConfig::merge(args, FileConfig::default()).unwrap_err();
        assert!(err.to_string().contains("cache_capacity_mb"), "{err}");
    }
}
