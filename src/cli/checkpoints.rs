//! `rectify checkpoints …`: the log's signed checkpoints as an auditor keeps
//! them. `fetch` saves the server's latest signed note to a file (from
//! cron, say); `audit` reads notes saved over time, checks every signature,
//! finds forks (two roots for one size) and, with `--server`, checks with
//! consistency proofs that each later tree extends the earlier one.
//!
//! Also the parts `receipt verify` shares: the verifier keys (`--key`), the
//! optional server of an online check (`--server`), the checkpoint and
//! consistency-proof calls, the list of named checks a verifying command
//! prints, and its exit codes.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use rectify_transparency::{Checkpoint, Hash, NoteError, Verifier, open_checkpoint};

use super::{
    connect::{Authed, Connection, client},
    output::{call, print_reply},
};
use crate::pb::{self, transparency_service_client::TransparencyServiceClient};

/// Exit code when a check failed: a signature, a leaf, an inclusion or a
/// consistency proof does not hold, or two checkpoints fork.
pub(super) const EXIT_FAILED: u8 = 3;
/// Exit code when nothing failed but a check could not be made yet: the
/// server's latest checkpoint does not cover the receipt's position.
pub(super) const EXIT_PENDING: u8 = 4;

/// A transparency client.
pub(super) type Client = TransparencyServiceClient<Authed>;

/// Checkpoint commands.
#[derive(Debug, Subcommand)]
pub enum CheckpointsCommand {
    /// Save the server's latest signed checkpoint (a C2SP signed note) to a
    /// file, e.g. from cron; `checkpoints audit` reads such files later.
    Fetch {
        /// Server and identity.
        #[command(flatten)]
        conn: Connection,
        /// The file to write (replaced if it exists).
        #[arg(long)]
        out: PathBuf,
        /// The log's verifier key (a file such as the server's
        /// log-signing.pub, or the key string); when given, a note not
        /// signed by it is refused instead of saved. Repeat for rotated
        /// keys.
        #[arg(long)]
        key: Vec<String>,
    },
    /// Check checkpoint notes saved over time: every signature, no two
    /// roots for one size (a fork) and, with --server, that each tree
    /// extends the one before it. Exit code 3 on any failure.
    Audit(AuditArgs),
}

/// `checkpoints audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The checkpoint notes, in any order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The log's verifier key: a file holding key lines (such as the
    /// server's log-signing.pub) or the key string itself. Repeat for
    /// rotated keys.
    #[arg(long, required = true)]
    key: Vec<String>,
    /// The server, when it should be asked too.
    #[command(flatten)]
    online: Online,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// The optional server of a check: offline without `--server`.
#[derive(Debug, Clone, Args)]
pub(super) struct Online {
    /// Check against this server too (its latest checkpoint and proofs);
    /// without it only the files are checked. Not read from
    /// RECTIFY_SERVER: going online is always asked for.
    #[arg(long)]
    server: Option<String>,
    /// Role to ask as; every role may read checkpoints and proofs.
    #[arg(long = "as", default_value = "portal")]
    role: String,
    /// Bearer token, for a server that requires one.
    #[arg(long, env = "RECTIFY_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl Online {
    /// Whether a server was given.
    pub(super) fn is_set(&self) -> bool {
        self.server.is_some()
    }

    /// A client of the server, when one was given.
    pub(super) async fn client(&self) -> anyhow::Result<Option<Client>> {
        let Some(server) = &self.server else {
            return Ok(None);
        };
        let conn = Connection {
            server: server.clone(),
            role: self.role.clone(),
            unit: None,
            principal: None,
            token: self.token.clone(),
            json: false,
        };
        Ok(Some(client(&conn, TransparencyServiceClient::new).await?))
    }
}

/// The verifier keys `--key` names: each value is a file of key lines
/// (blank lines and `#` comments skipped) when such a file exists,
/// otherwise a key string.
pub(super) fn load_keys(values: &[String]) -> anyhow::Result<Vec<Verifier>> {
    let mut keys: Vec<Verifier> = Vec::new();
    for value in values {
        let path = Path::new(value);
        if path.is_file() {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--key {value}: cannot read the file"))?;
            let mut found = false;
            for (number, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let key = line.parse::<Verifier>().map_err(|error| {
                    anyhow::anyhow!(
                        "--key {value}, line {}: not a verifier key: {error}",
                        number + 1
                    )
                })?;
                keys.push(key);
                found = true;
            }
            anyhow::ensure!(found, "--key {value}: the file holds no verifier key");
        } else {
            let key = value.trim().parse::<Verifier>().map_err(|error| {
                anyhow::anyhow!("--key {value}: no such file, and not a verifier key: {error}")
            })?;
            keys.push(key);
        }
    }
    anyhow::ensure!(!keys.is_empty(), "give the log's verifier key with --key");
    keys.dedup();
    Ok(keys)
}

/// `name+keyid` of each key, as signature lines and errors name them.
pub(super) fn key_names(keys: &[Verifier]) -> String {
    keys.iter()
        .map(|k| format!("{}+{:08x}", k.name(), k.key_id()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a note that does not open says, in the words of the checks.
pub(super) fn note_failure(error: &NoteError, keys: &[Verifier]) -> String {
    match error {
        NoteError::UnknownKey { signed_by } => format!(
            "unknown key id: signed by {} only; known keys: {}",
            signed_by.join(", "),
            key_names(keys)
        ),
        NoteError::BadSignature { .. } => format!("bad signature: {error}"),
        other => other.to_string(),
    }
}

/// The first characters of a root, in the base64 the notes use.
pub(super) fn root_prefix(root: &Hash) -> String {
    let mut text = BASE64.encode(root);
    text.truncate(12);
    text + "…"
}

/// A time in Beijing time, as the CLI prints it.
pub(super) fn beijing(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&rectify_domain::CHINA_STANDARD_TIME)
}

/// Writes `bytes` to `path` whole or not at all (a temporary file in the
/// same directory, renamed over it).
pub(super) fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// A checkpoint note read from a file.
pub(super) fn read_note(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The server's latest checkpoint: its note and, when a known key signed
/// it, the checkpoint; otherwise what is wrong with it.
pub(super) async fn latest(
    client: &mut Client,
    keys: &[Verifier],
) -> anyhow::Result<(pb::GetCheckpointResponse, Result<Checkpoint, String>)> {
    let reply = call(client.get_checkpoint(pb::GetCheckpointRequest { min_tree_size: 0 }))
        .await
        .context("asking the server for its latest checkpoint")?;
    let opened = open_checkpoint(&reply.note, keys).map_err(|e| note_failure(&e, keys));
    Ok((reply, opened))
}

/// Checks that `newer` extends `older` with the server's consistency proof;
/// the failure in the checks' words.
pub(super) async fn check_extends(
    client: &mut Client,
    older: &Checkpoint,
    newer: &Checkpoint,
) -> Result<(), String> {
    let hashes = if older.size < newer.size {
        let reply = call(
            client.get_consistency_proof(pb::GetConsistencyProofRequest {
                old_size: older.size,
                new_size: newer.size,
            }),
        )
        .await
        .map_err(|error| {
            format!(
                "the server gives no consistency proof from size {} to {}: {error}",
                older.size, newer.size
            )
        })?;
        reply
            .hashes
            .into_iter()
            .map(|hash| Hash::try_from(hash).map_err(|_| "a proof hash is not 32 bytes".to_owned()))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    newer.verify_extends(older, &hashes).map_err(|error| {
        format!(
            "checkpoint at size {} not extended by size {}: {error}",
            older.size, newer.size
        )
    })
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// It holds.
    Ok,
    /// It does not hold.
    Failed,
    /// It could not be made yet.
    Pending,
}

/// One named check and what it found.
#[derive(Debug, Clone)]
pub(super) struct Check {
    /// What was checked, e.g. `signature`.
    pub name: &'static str,
    /// The outcome.
    pub verdict: Verdict,
    /// What it proved, or exactly what failed.
    pub detail: String,
}

/// The checks of one verifying command, in the order they were made.
#[derive(Debug, Default)]
pub(super) struct Checks(pub Vec<Check>);

impl Checks {
    /// Records a check that holds.
    pub(super) fn ok(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Verdict::Ok, detail.into());
    }

    /// Records a check that failed.
    pub(super) fn fail(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Verdict::Failed, detail.into());
    }

    /// Records a check that could not be made yet.
    pub(super) fn pending(&mut self, name: &'static str, detail: impl Into<String>) {
        self.push(name, Verdict::Pending, detail.into());
    }

    fn push(&mut self, name: &'static str, verdict: Verdict, detail: String) {
        self.0.push(Check {
            name,
            verdict,
            detail,
        });
    }

    /// Whether every check holds.
    pub(super) fn all_ok(&self) -> bool {
        self.0.iter().all(|c| c.verdict == Verdict::Ok)
    }

    /// The exit code: 0, [`EXIT_FAILED`] if any check failed, otherwise
    /// [`EXIT_PENDING`] if one could not be made yet.
    pub(super) fn exit_code(&self) -> ExitCode {
        if self.0.iter().any(|c| c.verdict == Verdict::Failed) {
            ExitCode::from(EXIT_FAILED)
        } else if self.0.iter().any(|c| c.verdict == Verdict::Pending) {
            ExitCode::from(EXIT_PENDING)
        } else {
            ExitCode::SUCCESS
        }
    }

    /// One line per check: `ok`, `FAIL` or `wait`, its name, its detail.
    pub(super) fn print(&self) {
        for check in &self.0 {
            let mark = match check.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Failed => "FAIL",
                Verdict::Pending => "wait",
            };
            println!("{mark} {:<12} {}", check.name, check.detail);
        }
    }

    /// The checks as JSON: `[{check, result, detail}]`.
    pub(super) fn to_json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|check| {
                serde_json::json!({
                    "check": check.name,
                    "result": match check.verdict {
                        Verdict::Ok => "ok",
                        Verdict::Failed => "failed",
                        Verdict::Pending => "pending",
                    },
                    "detail": check.detail,
                })
            })
            .collect()
    }
}

/// `rectify checkpoints …`.
pub(super) async fn run(command: CheckpointsCommand) -> anyhow::Result<ExitCode> {
    match command {
        CheckpointsCommand::Fetch { conn, out, key } => fetch(&conn, &out, &key).await,
        CheckpointsCommand::Audit(args) => audit(args).await,
    }
}

/// `checkpoints fetch`: saves the latest note, checked first when keys
/// were given.
async fn fetch(conn: &Connection, out: &Path, key: &[String]) -> anyhow::Result<ExitCode> {
    let keys = if key.is_empty() {
        Vec::new()
    } else {
        load_keys(key)?
    };
    let mut client = client(conn, TransparencyServiceClient::new).await?;
    let reply = call(client.get_checkpoint(pb::GetCheckpointRequest { min_tree_size: 0 })).await?;
    let checkpoint = if keys.is_empty() {
        let body = reply
            .note
            .split_once("\n\n")
            .map(|(body, _)| format!("{body}\n"))
            .unwrap_or_default();
        Checkpoint::parse(&body)
            .map_err(|error| anyhow::anyhow!("the server's checkpoint is malformed: {error}"))?
    } else {
        match open_checkpoint(&reply.note, &keys) {
            Ok(checkpoint) => checkpoint,
            Err(error) => {
                eprintln!(
                    "FAIL checkpoint    {} (not saved)",
                    note_failure(&error, &keys)
                );
                return Ok(ExitCode::from(EXIT_FAILED));
            }
        }
    };
    write_file(out, reply.note.as_bytes())?;
    print_reply(
        conn.json,
        "rectify.v1.GetCheckpointResponse",
        &reply,
        |_| {
            println!(
                "saved the checkpoint of {} at size {} (root {}{}) to {}",
                checkpoint.origin,
                checkpoint.size,
                root_prefix(&checkpoint.root),
                if keys.is_empty() {
                    ", signature not checked: no --key"
                } else {
                    ", signature checked"
                },
                out.display()
            );
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// One checkpoint of an audit: where it came from, what it says and what
/// is wrong with it.
struct Row {
    /// The file, or `(server)` for the server's latest.
    source: String,
    /// The checkpoint, when it opened.
    checkpoint: Option<Checkpoint>,
    /// When the file was last written (the note holds no time), or when
    /// the server's was fetched.
    saved: Option<DateTime<Utc>>,
    /// Every failure found, in words; empty when it passes.
    problems: Vec<String>,
}

impl Row {
    fn size(&self) -> Option<u64> {
        self.checkpoint.as_ref().map(|c| c.size)
    }
}

/// Reads and opens one saved note.
fn read_row(path: &Path, keys: &[Verifier]) -> Row {
    let source = path.display().to_string();
    let saved = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(DateTime::<Utc>::from);
    let mut row = Row {
        source,
        checkpoint: None,
        saved,
        problems: Vec::new(),
    };
    match read_note(path) {
        Ok(note) => match open_checkpoint(&note, keys) {
            Ok(checkpoint) => row.checkpoint = Some(checkpoint),
            Err(error) => row.problems.push(note_failure(&error, keys)),
        },
        Err(error) => row.problems.push(format!("{error:#}")),
    }
    row
}

/// `checkpoints audit`.
async fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let keys = load_keys(&args.key)?;
    let mut rows: Vec<Row> = args.files.iter().map(|f| read_row(f, &keys)).collect();
    let mut client = args.online.client().await?;
    let mut tree_size = None;
    if let Some(client) = client.as_mut() {
        let (reply, opened) = latest(client, &keys).await?;
        tree_size = Some(reply.tree_size);
        let (checkpoint, problems) = match opened {
            Ok(checkpoint) => (Some(checkpoint), Vec::new()),
            Err(problem) => (None, vec![problem]),
        };
        rows.push(Row {
            source: "(server)".to_owned(),
            checkpoint,
            saved: Some(Utc::now()),
            problems,
        });
    }
    rows.sort_by(|a, b| (a.size(), &a.source).cmp(&(b.size(), &b.source)));
    // Unreadable notes and bad signatures first, then what the opened
    // checkpoints say together.
    let mut summary: Vec<String> = rows
        .iter()
        .flat_map(|row| row.problems.iter().map(|p| format!("{}: {p}", row.source)))
        .collect();
    check_origins(&mut rows, &mut summary);
    check_forks(&mut rows, &mut summary);
    if let Some(client) = client.as_mut() {
        check_growth(client, &mut rows, tree_size, &mut summary).await;
    }
    if args.json {
        print_audit_json(&rows, &summary, client.is_some())?;
    } else {
        print_audit(&rows, &summary, client.is_some());
    }
    Ok(if summary.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// Every checkpoint must be of one log: the first opened one's origin.
fn check_origins(rows: &mut [Row], summary: &mut Vec<String>) {
    let Some(origin) = rows
        .iter()
        .find_map(|r| r.checkpoint.as_ref().map(|c| c.origin.clone()))
    else {
        return;
    };
    for row in rows.iter_mut() {
        if let Some(checkpoint) = &row.checkpoint
            && checkpoint.origin != origin
        {
            let problem = format!(
                "a checkpoint of another log ({:?}, not {origin:?})",
                checkpoint.origin
            );
            summary.push(format!("{}: {problem}", row.source));
            row.problems.push(problem);
        }
    }
}

/// Two different roots for one size: a fork, named by both sources.
fn check_forks(rows: &mut [Row], summary: &mut Vec<String>) {
    let mut by_size: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate() {
        if let Some(size) = row.size() {
            by_size.entry(size).or_default().push(index);
        }
    }
    for (size, indexes) in by_size {
        for (n, &a) in indexes.iter().enumerate() {
            for &b in &indexes[n + 1..] {
                let root = |i: usize| rows[i].checkpoint.as_ref().map(|c| c.root);
                let (Some(root_a), Some(root_b)) = (root(a), root(b)) else {
                    continue;
                };
                if root_a == root_b {
                    continue;
                }
                let (source_a, source_b) = (rows[a].source.clone(), rows[b].source.clone());
                summary.push(format!(
                    "fork at size {size}: {source_a} has root {} and {source_b} has root {}",
                    root_prefix(&root_a),
                    root_prefix(&root_b)
                ));
                rows[a]
                    .problems
                    .push(format!("fork: another root for size {size} in {source_b}"));
                rows[b]
                    .problems
                    .push(format!("fork: another root for size {size} in {source_a}"));
            }
        }
    }
}

/// With the server: each checkpoint must extend every checkpoint of the
/// next smaller size (consistency proofs), and no signed size may be past
/// the server's tree.
async fn check_growth(
    client: &mut Client,
    rows: &mut [Row],
    tree_size: Option<u64>,
    summary: &mut Vec<String>,
) {
    let sizes: Vec<u64> = {
        let mut sizes: Vec<u64> = rows.iter().filter_map(Row::size).collect();
        sizes.dedup();
        sizes
    };
    if let Some(tree_size) = tree_size {
        for row in rows.iter_mut() {
            if let Some(size) = row.size()
                && size > tree_size
            {
                let problem = format!(
                    "the log shrank: signed at size {size}, the server's tree now holds {tree_size}"
                );
                summary.push(format!("{}: {problem}", row.source));
                row.problems.push(problem);
            }
        }
    }
    for pair in sizes.windows(2) {
        let (older, newer) = (pair[0], pair[1]);
        let olders: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].size() == Some(older))
            .collect();
        let newers: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].size() == Some(newer))
            .collect();
        for &o in &olders {
            for &n in &newers {
                let (Some(old_cp), Some(new_cp)) = (&rows[o].checkpoint, &rows[n].checkpoint)
                else {
                    continue;
                };
                if old_cp.origin != new_cp.origin {
                    continue;
                }
                if let Err(problem) = check_extends(client, old_cp, new_cp).await {
                    let old_source = rows[o].source.clone();
                    summary.push(format!("{problem} ({old_source} → {})", rows[n].source));
                    rows[n]
                        .problems
                        .push(format!("does not extend {old_source}: {problem}"));
                }
            }
        }
    }
}

/// The audit as a table and a summary.
fn print_audit(rows: &[Row], summary: &[String], online: bool) {
    let width = rows
        .iter()
        .map(|r| r.source.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    // The heading's four Chinese characters are two columns wide each.
    println!(
        "{:<width$}  {:>10}  {:<15}  {:<15}  VERDICT",
        "FILE", "SIZE", "ROOT", "SAVED (北京时间)"
    );
    for row in rows {
        let size = row.size().map_or_else(|| "-".to_owned(), |s| s.to_string());
        let root = row
            .checkpoint
            .as_ref()
            .map_or_else(|| "-".to_owned(), |c| root_prefix(&c.root));
        let saved = row.saved.map_or_else(
            || "-".to_owned(),
            |t| beijing(t).format("%Y-%m-%d %H:%M:%S").to_string(),
        );
        let verdict = if row.problems.is_empty() {
            "ok".to_owned()
        } else {
            format!("FAIL: {}", row.problems.join("; "))
        };
        println!(
            "{:<width$}  {size:>10}  {root:<15}  {saved:<19}  {verdict}",
            row.source
        );
    }
    let checked = rows.iter().filter(|r| r.checkpoint.is_some()).count();
    if summary.is_empty() {
        println!(
            "ok: {checked} checkpoints, every signature verifies, no fork{}",
            if online {
                ", each extends the one before it"
            } else {
                " (growth not checked: no --server)"
            }
        );
    } else {
        println!("FAILED: {} problem(s)", summary.len());
        for line in summary {
            println!("  {line}");
        }
    }
}

/// The audit as JSON: the rows, the problems, whether it passed.
fn print_audit_json(rows: &[Row], summary: &[String], online: bool) -> anyhow::Result<()> {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            serde_json::json!({
                "file": row.source,
                "origin": row.checkpoint.as_ref().map(|c| c.origin.clone()),
                "size": row.size(),
                "root": row.checkpoint.as_ref().map(|c| BASE64.encode(c.root)),
                "savedAt": row
                    .saved
                    .map(|t| beijing(t).to_rfc3339_opts(SecondsFormat::Secs, false)),
                "ok": row.problems.is_empty(),
                "problems": row.problems,
            })
        })
        .collect();
    let report = serde_json::json!({
        "ok": summary.is_empty(),
        "online": online,
        "checkpoints": rows,
        "problems": summary,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use rectify_transparency::Signer;

    use super::*;

    #[test]
    fn keys_come_from_files_of_key_lines_or_key_strings_and_bad_ones_are_named() {
        let old = Signer::new("rectify.example/log", [1; 32]).unwrap();
        let new = Signer::new("rectify.example/log", [2; 32]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.pub");
        std::fs::write(&file, format!("# rotated in 2026\n\n{}\n", old.verifier())).unwrap();
        let keys = load_keys(&[file.display().to_string(), new.verifier().to_string()]).unwrap();
        assert_eq!(keys, [old.verifier(), new.verifier()]);

        std::fs::write(&file, format!("{}\nnot a key\n", old.verifier())).unwrap();
        let error = load_keys(&[file.display().to_string()])
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2: not a verifier key"), "{error}");
        let error = load_keys(&["missing.pub".to_owned()])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--key missing.pub: no such file"), "{error}");
        std::fs::write(&file, "# nothing\n").unwrap();
        let error = load_keys(&[file.display().to_string()])
            .unwrap_err()
            .to_string();
        assert!(error.contains("holds no verifier key"), "{error}");
    }

    #[test]
    fn the_exit_code_is_the_worst_verdict() {
        let mut checks = Checks::default();
        checks.ok("signature", "by k");
        assert_eq!(checks.exit_code(), ExitCode::SUCCESS);
        checks.pending("inclusion", "not yet");
        assert_eq!(checks.exit_code(), ExitCode::from(EXIT_PENDING));
        checks.fail("leaf", "leaf hash mismatch");
        assert_eq!(checks.exit_code(), ExitCode::from(EXIT_FAILED));
        assert!(!checks.all_ok());
    }
}
