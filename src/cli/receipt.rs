//! `rectify receipt …`: receipts as files people keep and hand over, and
//! their verification without trusting the server.
//!
//! The receipt file (format `rectify-receipt`, version 1) is JSON holding
//! the fields of the log's signed statement and the leaf it is about; byte
//! strings are standard base64 with padding (as in C2SP notes), the key id
//! is the 8 hex digits key strings use. `entry` and `signed_at` repeat the
//! leaf and the time for people to read; they must agree with the signed
//! fields, so editing them is caught too. `docs/verification.md` documents
//! the format and the exit codes.
//!
//! `get` fetches a receipt for a position; `verify` checks one offline (the
//! signature and the leaf) and, with `--server`, online: the latest
//! checkpoint's signature, the entry's inclusion in it and that it extends
//! each checkpoint the user kept.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, FixedOffset, Utc};
use clap::{Args, Subcommand};
use rectify_transparency::{
    Checkpoint, EntryStatement, Hash, Leaf, Receipt, ReceiptError, SignedStatement, Verifier,
    open_checkpoint,
};
use serde::{Deserialize, Serialize};

use super::{
    checkpoints::{
        Checks, Client, Online, Verdict, beijing, check_extends, key_names, latest, load_keys,
        note_failure, read_note, root_prefix, write_file,
    },
    connect::{Connection, client},
    output::{call, print_reply},
};
use crate::pb::{self, transparency_service_client::TransparencyServiceClient};

/// The `format` of every receipt file.
const FORMAT: &str = "rectify-receipt";
/// The version of the receipt file this build writes and reads.
const VERSION: u32 = 1;

/// Receipt commands.
#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Fetch a receipt for the event at a log position (whoever may read
    /// the event may have one).
    Get {
        /// Server and identity.
        #[command(flatten)]
        conn: Connection,
        /// The event's log position.
        position: u64,
        /// Write the receipt file here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a receipt file: offline its signature and leaf; with --server
    /// also its inclusion in the latest signed checkpoint and that the log
    /// extends each --checkpoint kept. Exit code 3 when a check fails, 4
    /// when the latest checkpoint does not cover the receipt yet.
    Verify(VerifyArgs),
}

/// `receipt verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The receipt file.
    receipt: PathBuf,
    /// The log's verifier key: a file holding key lines (such as the
    /// server's log-signing.pub) or the key string itself. Repeat for
    /// rotated keys.
    #[arg(long, required = true)]
    key: Vec<String>,
    /// The server, for the online checks.
    #[command(flatten)]
    online: Online,
    /// A checkpoint note kept earlier (from --save-checkpoint or
    /// `checkpoints fetch`); the latest must extend it. Repeatable; needs
    /// --server.
    #[arg(long, requires = "server")]
    checkpoint: Vec<PathBuf>,
    /// Save the latest checkpoint note here once it verifies, to pass as
    /// --checkpoint next time. Needs --server.
    #[arg(long, requires = "server")]
    save_checkpoint: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// A receipt file, as written and read.
#[derive(Debug, Serialize, Deserialize)]
struct ReceiptFile {
    /// Always [`FORMAT`].
    format: String,
    /// The file format's version, [`VERSION`].
    version: u32,
    /// The log's origin, as in its checkpoints.
    origin: String,
    /// The event's log position.
    position: u64,
    /// The leaf's canonical encoding, base64.
    leaf: String,
    /// SHA-256(0x00 ‖ leaf), base64.
    leaf_hash: String,
    /// When the statement was signed, Unix seconds.
    time_unix_s: i64,
    /// The signing key's name.
    key_name: String,
    /// The signing key's id, 8 hex digits.
    key_id: String,
    /// The Ed25519 signature of the statement, base64.
    signature: String,
    /// The leaf, decoded, for people to read.
    entry: EntryView,
    /// `time_unix_s` in Beijing time, RFC 3339, for people to read.
    signed_at: String,
}

/// The leaf's fields, for people to read.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct EntryView {
    /// The event's id.
    event_id: String,
    /// Its stream, e.g. `complaint-RC-…`.
    stream: String,
    /// Its type, e.g. `ComplaintReceived`.
    event_type: String,
    /// Its stored BLAKE3 hash, base64.
    event_hash: String,
}

impl EntryView {
    fn of(leaf: &Leaf) -> Self {
        Self {
            event_id: uuid::Uuid::from_bytes(leaf.event_id).to_string(),
            stream: leaf.stream.clone(),
            event_type: leaf.event_type.clone(),
            event_hash: BASE64.encode(leaf.event_hash),
        }
    }
}

/// `time_unix_s` in Beijing time; `None` when out of range.
fn signed_at(time_unix_s: i64) -> Option<DateTime<FixedOffset>> {
    DateTime::<Utc>::from_timestamp(time_unix_s, 0).map(beijing)
}

/// The receipt file of a receipt the server sent.
fn file_of(receipt: &pb::Receipt) -> anyhow::Result<ReceiptFile> {
    let leaf = Leaf::decode(&receipt.leaf)
        .map_err(|error| anyhow::anyhow!("the server sent an undecodable leaf: {error}"))?;
    anyhow::ensure!(
        receipt.leaf_hash.len() == 32 && receipt.signature.len() == 64,
        "the server sent a receipt with a {}-byte leaf hash and a {}-byte signature",
        receipt.leaf_hash.len(),
        receipt.signature.len()
    );
    Ok(ReceiptFile {
        format: FORMAT.to_owned(),
        version: VERSION,
        origin: receipt.origin.clone(),
        position: receipt.position,
        leaf: BASE64.encode(&receipt.leaf),
        leaf_hash: BASE64.encode(&receipt.leaf_hash),
        time_unix_s: receipt.time_unix_s,
        key_name: receipt.key_name.clone(),
        key_id: format!("{:08x}", receipt.key_id),
        signature: BASE64.encode(&receipt.signature),
        entry: EntryView::of(&leaf),
        signed_at: signed_at(receipt.time_unix_s)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
    })
}

/// Writes the receipt the server sent as a receipt file.
pub(super) fn write_receipt(path: &Path, receipt: &pb::Receipt) -> anyhow::Result<()> {
    let file = file_of(receipt)?;
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    write_file(path, text.as_bytes())
}

/// A receipt file read back: the signed statement, the leaf (or why its
/// bytes do not decode), and where the readable fields disagree with the
/// signed ones.
struct Kept {
    signed: SignedStatement,
    leaf: Result<Leaf, String>,
    edits: Vec<String>,
}

/// Reads a receipt file; an error when it is not one (not JSON, another
/// format or version, a field of the wrong shape).
fn read_receipt(path: &Path) -> anyhow::Result<Kept> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: ReceiptFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a receipt file", path.display()))?;
    anyhow::ensure!(
        file.format == FORMAT,
        "{} is not a receipt file: format {:?}, not {FORMAT:?}",
        path.display(),
        file.format
    );
    anyhow::ensure!(
        file.version == VERSION,
        "{} is a version {} receipt file; this rectify reads version {VERSION}",
        path.display(),
        file.version
    );
    let bytes = |field: &str, text: &str| {
        BASE64
            .decode(text)
            .with_context(|| format!("{}: {field} is not base64", path.display()))
    };
    let leaf_bytes = bytes("leaf", &file.leaf)?;
    let leaf_hash: Hash = bytes("leaf_hash", &file.leaf_hash)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("{}: leaf_hash is not 32 bytes", path.display()))?;
    let signature: [u8; 64] = bytes("signature", &file.signature)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("{}: signature is not 64 bytes", path.display()))?;
    let key_id = u32::from_str_radix(&file.key_id, 16)
        .ok()
        .filter(|_| file.key_id.len() == 8)
        .with_context(|| format!("{}: key_id is not 8 hex digits", path.display()))?;
    let leaf = Leaf::decode(&leaf_bytes).map_err(|error| error.to_string());
    let mut edits = Vec::new();
    if let Ok(leaf) = &leaf {
        let view = EntryView::of(leaf);
        for (field, written, held) in [
            ("event_id", &file.entry.event_id, &view.event_id),
            ("stream", &file.entry.stream, &view.stream),
            ("event_type", &file.entry.event_type, &view.event_type),
            ("event_hash", &file.entry.event_hash, &view.event_hash),
        ] {
            if written != held {
                edits.push(format!(
                    "entry.{field} reads {written:?} but the leaf holds {held:?}"
                ));
            }
        }
    }
    let readable = signed_at(file.time_unix_s).map(|t| t.to_rfc3339());
    if readable.as_deref() != Some(file.signed_at.as_str()) {
        edits.push(format!(
            "signed_at reads {:?} but time_unix_s is {}",
            file.signed_at,
            readable.unwrap_or_else(|| file.time_unix_s.to_string())
        ));
    }
    Ok(Kept {
        signed: SignedStatement {
            statement: EntryStatement {
                origin: file.origin,
                position: file.position,
                leaf_hash,
                time_unix_s: file.time_unix_s,
            },
            key_name: file.key_name,
            key_id,
            signature,
        },
        leaf,
        edits,
    })
}

/// The name of an event type in Chinese, where people read it.
fn event_type_label(event_type: &str) -> &'static str {
    match event_type {
        "ComplaintReceived" => "受理",
        "ComplaintClassified" => "分类",
        "ComplaintDispatched" => "转派",
        "AssignmentAccepted" => "签收",
        "AssignmentReturned" => "退单",
        "RectificationStepRecorded" => "处办",
        "ExtensionRequested" => "申请延期",
        "ExtensionGranted" => "准予延期",
        "ExtensionDenied" => "不予延期",
        "ResolutionSubmitted" => "办结",
        "ResolutionVerified" => "核查通过",
        "ResolutionRejected" => "核查退回",
        "CallbackRecorded" => "回访",
        "ComplaintReopened" => "重办",
        "ComplaintClosed" => "销号",
        "ChasedUp" => "催办",
        "SupervisionFlagged" => "督办",
        "AccountabilityRecorded" => "问责",
        "AppealFiled" => "申诉",
        "AppealDecided" => "申诉处理",
        "ClockPaused" => "暂停计时",
        "ClockResumed" => "恢复计时",
        "DeadlineWarned" => "时限预警",
        "DeadlineMissed" => "超期",
        "PersonalDataErased" => "个人信息删除",
        "LedgerOpened" => "台账建立",
        "LedgerItemAdded" => "台账事项",
        "LedgerItemClosed" => "事项销号",
        "RegistryRecorded" => "名录登记",
        _ => "",
    }
}

/// What a receipt states, in one line: position, event, stream, time, key.
fn describe(statement: &EntryStatement, key: (&str, u32), leaf: Option<&Leaf>) -> String {
    let event = leaf.map_or_else(
        || "an undecodable leaf".to_owned(),
        |leaf| match event_type_label(&leaf.event_type) {
            "" => format!("{} in {}", leaf.event_type, leaf.stream),
            label => format!("{} ({label}) in {}", leaf.event_type, leaf.stream),
        },
    );
    let time = signed_at(statement.time_unix_s).map_or_else(
        || statement.time_unix_s.to_string(),
        |t| format!("{} 北京时间", t.format("%Y-%m-%d %H:%M:%S")),
    );
    format!(
        "position {} of {}: {event}, signed {time} by {}+{:08x}",
        statement.position, statement.origin, key.0, key.1
    )
}

/// `rectify receipt …`.
pub(super) async fn run(command: ReceiptCommand) -> anyhow::Result<ExitCode> {
    match command {
        ReceiptCommand::Get {
            conn,
            position,
            out,
        } => {
            get(&conn, position, out.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        ReceiptCommand::Verify(args) => verify(args).await,
    }
}

/// `receipt get`.
async fn get(conn: &Connection, position: u64, out: Option<&Path>) -> anyhow::Result<()> {
    let mut client = client(conn, TransparencyServiceClient::new).await?;
    let reply = call(client.get_receipt(pb::GetReceiptRequest { position })).await?;
    let receipt = reply
        .receipt
        .as_ref()
        .context("the server sent no receipt")?;
    if let Some(out) = out {
        write_receipt(out, receipt)?;
    }
    print_reply(conn.json, "rectify.v1.GetReceiptResponse", &reply, |_| {
        let statement = EntryStatement {
            origin: receipt.origin.clone(),
            position: receipt.position,
            leaf_hash: [0; 32],
            time_unix_s: receipt.time_unix_s,
        };
        let leaf = Leaf::decode(&receipt.leaf).ok();
        let key = (receipt.key_name.as_str(), receipt.key_id);
        println!("receipt for {}", describe(&statement, key, leaf.as_ref()));
        if let Some(out) = out {
            println!("written to {}", out.display());
        }
    })
}

/// `receipt verify`: the offline checks, then the online ones when a
/// server was given.
async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let keys = load_keys(&args.key)?;
    let kept = read_receipt(&args.receipt)?;
    let mut checks = Checks::default();
    let receipt = check_offline(&kept, &keys, &mut checks);
    let mut latest_note = None;
    if let Some(mut client) = args.online.client().await? {
        latest_note = check_online(
            &mut client,
            &kept,
            receipt.as_ref(),
            &keys,
            &args,
            &mut checks,
        )
        .await?;
    }
    if let (Some(path), Some(note)) = (&args.save_checkpoint, &latest_note) {
        write_file(path, note.as_bytes())?;
    }
    let signed = &kept.signed;
    let key = (signed.key_name.as_str(), signed.key_id);
    let summary = describe(&signed.statement, key, kept.leaf.as_ref().ok());
    if args.json {
        let leaf = kept.leaf.as_ref().ok();
        let report = serde_json::json!({
            "verified": checks.all_ok(),
            "receipt": {
                "origin": kept.signed.statement.origin,
                "position": kept.signed.statement.position,
                "eventType": leaf.map(|l| l.event_type.clone()),
                "stream": leaf.map(|l| l.stream.clone()),
                "eventId": leaf.map(|l| uuid::Uuid::from_bytes(l.event_id).to_string()),
                "signedAt": signed_at(kept.signed.statement.time_unix_s).map(|t| t.to_rfc3339()),
                "keyName": kept.signed.key_name,
                "keyId": format!("{:08x}", kept.signed.key_id),
            },
            "checks": checks.to_json(),
            "savedCheckpoint": args.save_checkpoint.as_ref().filter(|_| latest_note.is_some()).map(|p| p.display().to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("receipt for {summary}");
        checks.print();
        let failed = checks
            .0
            .iter()
            .filter(|c| c.verdict == Verdict::Failed)
            .count();
        if checks.all_ok() {
            println!(
                "verified: {}",
                if args.online.is_set() {
                    "the log signed this entry, and holds it now"
                } else {
                    "the log signed this entry (offline; add --server to check it is still in the log)"
                }
            );
        } else if failed > 0 {
            println!("NOT VERIFIED: {failed} check(s) failed");
        } else {
            println!("not verified yet: try again in a few seconds");
        }
        if let (Some(path), Some(_)) = (&args.save_checkpoint, &latest_note) {
            println!("saved the latest checkpoint to {}", path.display());
        }
    }
    Ok(checks.exit_code())
}

/// The offline checks: the readable fields agree, the signature verifies
/// with a known key, the leaf is the one stated. The receipt, when the leaf
/// decodes.
fn check_offline(kept: &Kept, keys: &[Verifier], checks: &mut Checks) -> Option<Receipt> {
    if kept.edits.is_empty() {
        checks.ok("file", "its readable fields agree with the signed ones");
    } else {
        for edit in &kept.edits {
            checks.fail("file", format!("edited: {edit}"));
        }
    }
    let signed = &kept.signed;
    match signed.verify(keys) {
        Ok(()) => checks.ok(
            "signature",
            format!("by {}+{:08x}", signed.key_name, signed.key_id),
        ),
        Err(ReceiptError::UnknownKey { name, key_id }) => checks.fail(
            "signature",
            format!(
                "unknown key id: signed by {name}+{key_id:08x}; known keys: {}",
                key_names(keys)
            ),
        ),
        Err(error) => checks.fail("signature", format!("bad signature: {error}")),
    }
    let leaf = match &kept.leaf {
        Ok(leaf) => leaf,
        Err(error) => {
            checks.fail("leaf", format!("the leaf does not decode: {error}"));
            return None;
        }
    };
    let receipt = Receipt {
        leaf: leaf.clone(),
        signed: signed.clone(),
    };
    match receipt.check_entry(leaf) {
        Ok(()) => checks.ok(
            "leaf",
            format!(
                "hashes to the signed leaf hash at position {}",
                leaf.position
            ),
        ),
        Err(ReceiptError::ChangedEntry { position }) => checks.fail(
            "leaf",
            format!(
                "leaf hash mismatch: the leaf does not hash to the signed leaf hash for position {position}"
            ),
        ),
        Err(error) => checks.fail("leaf", error.to_string()),
    }
    Some(receipt)
}

/// The online checks: the latest checkpoint's signature, the receipt's
/// inclusion in it, and that it extends each kept checkpoint. The latest
/// note, when it verified.
async fn check_online(
    client: &mut Client,
    kept: &Kept,
    receipt: Option<&Receipt>,
    keys: &[Verifier],
    args: &VerifyArgs,
    checks: &mut Checks,
) -> anyhow::Result<Option<String>> {
    let (reply, opened) = latest(client, keys).await?;
    let latest = match opened {
        Ok(latest) => latest,
        Err(problem) => {
            checks.fail("checkpoint", format!("the server's latest: {problem}"));
            return Ok(None);
        }
    };
    checks.ok(
        "checkpoint",
        format!(
            "the server's latest, size {}, root {}, signed by a known key",
            latest.size,
            root_prefix(&latest.root)
        ),
    );
    check_inclusion(client, kept, receipt, &latest, checks).await;
    for path in &args.checkpoint {
        check_kept(client, path, &latest, keys, checks).await;
    }
    Ok(Some(reply.note))
}

/// The receipt's entry is in the tree of the latest checkpoint.
async fn check_inclusion(
    client: &mut Client,
    kept: &Kept,
    receipt: Option<&Receipt>,
    latest: &Checkpoint,
    checks: &mut Checks,
) {
    let position = kept.signed.statement.position;
    if kept.signed.statement.origin != latest.origin {
        checks.fail(
            "inclusion",
            format!(
                "the receipt is from log {:?}, the server's checkpoint from {:?}",
                kept.signed.statement.origin, latest.origin
            ),
        );
        return;
    }
    if position > latest.size {
        checks.pending(
            "inclusion",
            format!(
                "the latest checkpoint, at size {}, does not cover position {position} yet",
                latest.size
            ),
        );
        return;
    }
    let Some(receipt) = receipt else {
        checks.fail(
            "inclusion",
            "not checked: the receipt's leaf does not decode",
        );
        return;
    };
    let proof = call(client.get_inclusion_proof(pb::GetInclusionProofRequest {
        position,
        tree_size: latest.size,
    }))
    .await
    .map_err(|error| format!("the server gives no inclusion proof: {error}"))
    .and_then(|reply| {
        reply
            .hashes
            .into_iter()
            .map(|h| Hash::try_from(h).map_err(|_| "a proof hash is not 32 bytes".to_owned()))
            .collect::<Result<Vec<_>, _>>()
    });
    match proof.and_then(|proof| receipt.verify_in(latest, &proof).map_err(|e| e.to_string())) {
        Ok(()) => checks.ok(
            "inclusion",
            format!("position {position} is in the tree of size {}", latest.size),
        ),
        Err(error) => checks.fail(
            "inclusion",
            format!(
                "not included at size {}: position {position}: {error}",
                latest.size
            ),
        ),
    }
}

/// A kept checkpoint opens with a known key and the latest extends it.
async fn check_kept(
    client: &mut Client,
    path: &Path,
    latest: &Checkpoint,
    keys: &[Verifier],
    checks: &mut Checks,
) {
    let shown = path.display();
    let kept: Checkpoint = match read_note(path) {
        Ok(note) => match open_checkpoint(&note, keys) {
            Ok(checkpoint) => checkpoint,
            Err(error) => {
                checks.fail(
                    "consistency",
                    format!("{shown}: {}", note_failure(&error, keys)),
                );
                return;
            }
        },
        Err(error) => {
            checks.fail("consistency", format!("{error:#}"));
            return;
        }
    };
    match check_extends(client, &kept, latest).await {
        Ok(()) => checks.ok(
            "consistency",
            format!(
                "size {} ({shown}) is extended by size {}",
                kept.size, latest.size
            ),
        ),
        Err(problem) => checks.fail("consistency", format!("{problem} ({shown})")),
    }
}

#[cfg(test)]
mod tests {
    use rectify_transparency::Signer;

    use super::*;

    fn issued() -> (Signer, pb::Receipt) {
        let signer = Signer::new("rectify.example/log", [3; 32]).unwrap();
        let leaf = Leaf {
            position: 7,
            event_id: [4; 16],
            stream: "complaint-RC-1".into(),
            event_type: "ComplaintReceived".into(),
            event_hash: [5; 32],
        };
        let receipt = Receipt::issue("rectify.example/log", leaf, 1_793_584_800, &signer).unwrap();
        let reply = pb::Receipt {
            leaf: receipt.leaf.encode().unwrap(),
            origin: receipt.signed.statement.origin.clone(),
            position: 7,
            leaf_hash: receipt.signed.statement.leaf_hash.to_vec(),
            time_unix_s: 1_793_584_800,
            key_name: receipt.signed.key_name.clone(),
            key_id: receipt.signed.key_id,
            signature: receipt.signed.signature.to_vec(),
        };
        (signer, reply)
    }

    #[test]
    fn a_receipt_file_reads_back_as_the_receipt_it_was_written_from() {
        let (signer, reply) = issued();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("receipt.json");
        write_receipt(&path, &reply).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\"signed_at\": \"2026-11-02T10:00:00+08:00\""),
            "{text}"
        );
        let kept = read_receipt(&path).unwrap();
        assert!(kept.edits.is_empty());
        let mut checks = Checks::default();
        let receipt = check_offline(&kept, &[signer.verifier()], &mut checks).unwrap();
        assert!(checks.all_ok(), "{checks:?}");
        assert_eq!(receipt.leaf.encode().unwrap(), reply.leaf);
    }

    #[test]
    fn other_formats_versions_and_shapes_are_refused_by_name() {
        let (_, reply) = issued();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("receipt.json");
        write_receipt(&path, &reply).unwrap();
        let original = std::fs::read_to_string(&path).unwrap();
        for (from, to, expected) in [
            (
                "\"version\": 1",
                "\"version\": 2",
                "a version 2 receipt file",
            ),
            ("\"rectify-receipt\"", "\"other\"", "format \"other\""),
            (
                "\"key_id\": \"",
                "\"key_id\": \"x",
                "key_id is not 8 hex digits",
            ),
            (
                "\"signature\": \"",
                "\"signature\": \"AAAA",
                "signature is not 64 bytes",
            ),
        ] {
            std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
            let error = format!("{:#}", read_receipt(&path).err().expect("refused"));
            assert!(error.contains(expected), "{expected:?} in {error}");
        }
    }
}
