//! `rectify registry …` and the registry admin commands: importing the
//! registries from CSV files (`admin import-enterprises|import-liaisons|
//! import-officers|import-stations FILE.csv`), listing them, ranking the
//! grassroots stations, and a station's QR code as a PNG (`admin
//! station-qr CODE --out FILE.png`).
//!
//! The QR code holds a portal URL carrying the station's code
//! (`<portal>?station=<code>`): the portal opens its complaint form with the
//! station filled in and submits through the QR-code channel.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};

use super::{
    connect::{Connection, client, time_flag},
    output::{call, print_reply},
};
use crate::labels::{liaison_level_label, officer_kind_label};
use crate::pb::{self, registry_service_client::RegistryServiceClient};

/// Pixels per QR module in the PNG.
pub const QR_MODULE_PX: u32 = 8;
/// Modules of light margin around the code (the standard's quiet zone).
pub const QR_QUIET_ZONE: u32 = 4;
/// The portal address a station's QR code leads to, when none is given.
pub const DEFAULT_PORTAL_URL: &str = "https://portal.example/feedback";

/// Which registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Key enterprises.
    Enterprises,
    /// Liaison pairs (包联).
    Liaisons,
    /// Experience officers (营商环境体验官).
    Officers,
    /// Grassroots stations.
    Stations,
}

impl From<Kind> for pb::RegistryKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Enterprises => pb::RegistryKind::Enterprise,
            Kind::Liaisons => pb::RegistryKind::Liaison,
            Kind::Officers => pb::RegistryKind::Officer,
            Kind::Stations => pb::RegistryKind::Station,
        }
    }
}

/// Registry reads.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// The records of one registry.
    List {
        /// Which registry.
        kind: Kind,
    },
    /// Every station by complaints through its QR code, with satisfaction
    /// and time to close.
    Stations,
    /// Per liaison cadre (包联): complaints of their enterprises, time to
    /// first contact, resolution and satisfaction. A cadre (`--as liaison
    /// --principal CADRE`) sees their own.
    Liaison {
        /// Only this cadre.
        #[arg(long)]
        cadre: Option<String>,
    },
    /// Experience officers' reports (营商环境体验官) per officer and per kind.
    /// An officer (`--as officer --principal ID`) sees their own.
    Officers {
        /// Only this officer.
        #[arg(long)]
        officer: Option<String>,
    },
    /// A survey finding on a station becomes an item of an open
    /// rectification ledger, led by the station's unit.
    StationFinding {
        /// The station's code.
        station: String,
        /// The rectification ledger.
        #[arg(long)]
        ledger: String,
        /// The new item's id.
        #[arg(long)]
        item: String,
        /// What the survey found.
        #[arg(long)]
        problem: String,
        /// The rectification measures.
        #[arg(long)]
        measures: String,
        /// Deadline, RFC 3339 (e.g. 2026-12-31T17:30:00+08:00).
        #[arg(long)]
        deadline: Option<String>,
    },
}

/// `rectify registry …`.
pub(super) async fn run(conn: &Connection, command: RegistryCommand) -> anyhow::Result<()> {
    let mut c = client(conn, RegistryServiceClient::new).await?;
    match command {
        RegistryCommand::List { kind } => {
            let reply = call(c.list_registry(pb::ListRegistryRequest {
                kind: pb::RegistryKind::from(kind) as i32,
                min_position: 0,
            }))
            .await?;
            print_reply(conn.json, "rectify.v1.ListRegistryResponse", &reply, |r| {
                for record in &r.records {
                    println!("{}", record_line(record));
                }
                println!("{} records", r.records.len());
            })
        }
        RegistryCommand::Liaison { cadre } => {
            let reply = call(c.liaison_report(pb::LiaisonReportRequest {
                cadre: cadre.unwrap_or_default(),
                min_position: 0,
            }))
            .await?;
            print_reply(conn.json, "rectify.v1.LiaisonReportResponse", &reply, |r| {
                println!(
                    "包联干部 cadre\t企业 enterprises\t诉求 complaints\t首次联系中位数 median to contact\t办结 resolved\t满意 satisfied/回访 callbacks"
                );
                for cadre in &r.cadres {
                    let contact = cadre
                        .median_minutes_to_contact
                        .map_or("—".to_owned(), |m| format!("{m} min"));
                    println!(
                        "{}\t{}\t{}\t{contact}\t{}\t{}/{}\t{}",
                        cadre.cadre,
                        cadre.enterprises,
                        cadre.complaints,
                        cadre.resolved,
                        cadre.satisfied,
                        cadre.callbacks,
                        cadre.complaint_ids.join(" ")
                    );
                }
            })
        }
        RegistryCommand::Officers { officer } => {
            let reply = call(c.officer_report(pb::OfficerReportRequest {
                officer: officer.unwrap_or_default(),
                min_position: 0,
            }))
            .await?;
            print_reply(conn.json, "rectify.v1.OfficerReportResponse", &reply, |r| {
                println!("体验官 officer\t类别 kind\t{TALLY_HEADER}\t诉求单 complaint ids");
                for o in &r.officers {
                    let tally = o.tally.unwrap_or_default();
                    println!(
                        "{}\t{} {}\t{}\t{}",
                        o.officer,
                        officer_kind_label(&o.kind),
                        o.kind,
                        tally_line(&tally),
                        o.complaint_ids.join(" ")
                    );
                }
                for k in &r.kinds {
                    let tally = k.tally.unwrap_or_default();
                    println!(
                        "类别 kind {} {}\t{}",
                        officer_kind_label(&k.kind),
                        k.kind,
                        tally_line(&tally)
                    );
                }
            })
        }
        RegistryCommand::StationFinding {
            station,
            ledger,
            item,
            problem,
            measures,
            deadline,
        } => {
            let reply = call(c.record_station_finding(pb::RecordStationFindingRequest {
                options: None,
                station_code: station,
                ledger_id: ledger,
                item_id: item.clone(),
                problem,
                measures,
                deadline: time_flag(deadline.as_deref(), "deadline")?,
            }))
            .await?;
            print_reply(
                conn.json,
                "rectify.v1.RecordStationFindingResponse",
                &reply,
                |r| {
                    let result = r.result.clone().unwrap_or_default();
                    println!(
                        "ledger {} item {item}: led by {} (version {}, position {})",
                        result.id, r.lead_unit, result.version, result.position
                    );
                },
            )
        }
        RegistryCommand::Stations => {
            let reply = call(c.rank_stations(pb::RankStationsRequest { min_position: 0 })).await?;
            print_reply(conn.json, "rectify.v1.RankStationsResponse", &reply, |r| {
                println!(
                    "站点 (station)\t诉求 complaints\t销号 closed\t满意率 satisfaction\t办结时长中位数 median to close"
                );
                for s in &r.stations {
                    let station = s.station.clone().unwrap_or_default();
                    let satisfaction = s
                        .satisfaction_permille
                        .map_or("—".to_owned(), |p| format!("{:.1}%", f64::from(p) / 10.0));
                    let median = s
                        .median_minutes_to_close
                        .map_or("—".to_owned(), |m| format!("{:.1} h", m as f64 / 60.0));
                    println!(
                        "{} {}\t{}\t{}\t{satisfaction}\t{median}",
                        station.code, station.name, s.complaints, s.closed
                    );
                }
            })
        }
    }
}

/// The columns of an officer tally.
const TALLY_HEADER: &str = "诉求 reports\t已响应 acknowledged\t响应时长中位数 median to acknowledge\t预警 warned\t销号 closed\t满意 satisfied/回访 callbacks";

/// An officer tally as tab-separated columns.
fn tally_line(t: &pb::OfficerTally) -> String {
    let median = t
        .median_minutes_to_acknowledge
        .map_or("—".to_owned(), |m| format!("{m} min"));
    format!(
        "{}\t{}\t{median}\t{}\t{}\t{}/{}",
        t.reports, t.acknowledged, t.warned, t.closed, t.satisfied, t.callbacks
    )
}

/// One record as a line of text.
fn record_line(record: &pb::RegistryRecord) -> String {
    use pb::registry_record::Record;
    match &record.record {
        Some(Record::Enterprise(e)) => format!(
            "{} {} [{}] {} {}",
            e.credit_code,
            e.name,
            e.kind,
            e.district,
            e.aliases.join("；")
        ),
        Some(Record::Liaison(l)) => format!(
            "{} ↔ {} [{} {}] {}..{}",
            l.credit_code,
            l.cadre,
            liaison_level_label(&l.level),
            l.level,
            l.from,
            l.to
        ),
        Some(Record::Officer(o)) => format!(
            "{} [{} {}] round {} {}",
            o.id,
            officer_kind_label(&o.kind),
            o.kind,
            o.round,
            if o.active {
                "在岗 active"
            } else {
                "离岗 inactive"
            }
        ),
        Some(Record::Station(s)) => format!("{} {} {} → {}", s.code, s.name, s.district, s.unit),
        None => String::new(),
    }
}

/// `admin import-…`: sends the file; the server checks every row first.
pub(super) async fn import(conn: &Connection, kind: Kind, file: &Path) -> anyhow::Result<()> {
    let csv = std::fs::read_to_string(file)
        .with_context(|| format!("reading {} (UTF-8 CSV)", file.display()))?;
    let mut c = client(conn, RegistryServiceClient::new).await?;
    let reply = call(c.import_registry(pb::ImportRegistryRequest {
        kind: pb::RegistryKind::from(kind) as i32,
        csv,
    }))
    .await
    .with_context(|| format!("importing {}", file.display()))?;
    print_reply(
        conn.json,
        "rectify.v1.ImportRegistryResponse",
        &reply,
        |r| {
            println!(
                "{}: {} rows, {} added, {} revised, {} unchanged (position {})",
                file.display(),
                r.rows,
                r.added,
                r.revised,
                r.unchanged,
                r.position
            );
        },
    )
}

/// The text a station's QR code holds.
pub fn station_payload(portal_url: &str, code: &str) -> String {
    let separator = if portal_url.contains('?') { '&' } else { '?' };
    format!("{portal_url}{separator}station={code}")
}

/// `admin station-qr CODE --out FILE.png`: the station must be registered.
pub(super) async fn station_qr(
    conn: &Connection,
    code: &str,
    out: &PathBuf,
    portal_url: &str,
) -> anyhow::Result<()> {
    let mut c = client(conn, RegistryServiceClient::new).await?;
    let stations = call(c.list_registry(pb::ListRegistryRequest {
        kind: pb::RegistryKind::Station as i32,
        min_position: 0,
    }))
    .await?;
    let known = stations.records.iter().any(
        |r| matches!(&r.record, Some(pb::registry_record::Record::Station(s)) if s.code == code),
    );
    if !known {
        bail!("unknown station {code:?}: import it first (rectify admin import-stations)");
    }
    let payload = station_payload(portal_url, code);
    let png = qr_png(&payload)?;
    std::fs::write(out, png).with_context(|| format!("writing {}", out.display()))?;
    if conn.json {
        println!(
            "{}",
            serde_json::json!({"station": code, "payload": payload, "file": out})
        );
    } else {
        println!("{}: {payload}", out.display());
    }
    Ok(())
}

/// `payload` as a QR code in a greyscale PNG: [`QR_MODULE_PX`] pixels per
/// module, a [`QR_QUIET_ZONE`]-module margin, medium error correction.
pub fn qr_png(payload: &str) -> anyhow::Result<Vec<u8>> {
    let code = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::M)
        .context("the payload does not fit in a QR code")?;
    let modules = u32::try_from(code.width()).context("QR code width")?;
    let colors = code.to_colors();
    let side = (modules + 2 * QR_QUIET_ZONE) * QR_MODULE_PX;
    let mut pixels = vec![0xFF_u8; (side * side) as usize];
    for (index, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let index = u32::try_from(index).context("QR module index")?;
        let (mx, my) = (index % modules, index / modules);
        for dy in 0..QR_MODULE_PX {
            let y = (my + QR_QUIET_ZONE) * QR_MODULE_PX + dy;
            let start = (y * side + (mx + QR_QUIET_ZONE) * QR_MODULE_PX) as usize;
            pixels[start..start + QR_MODULE_PX as usize].fill(0);
        }
    }
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("writing the PNG header")?;
    writer
        .write_image_data(&pixels)
        .context("writing the PNG image")?;
    writer.finish().context("finishing the PNG")?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_carries_the_code() {
        assert_eq!(
            station_payload("https://p.example/qr", "kbs-1"),
            "https://p.example/qr?station=kbs-1"
        );
        assert_eq!(
            station_payload("https://p.example/qr?lang=zh", "kbs-1"),
            "https://p.example/qr?lang=zh&station=kbs-1"
        );
    }
}
