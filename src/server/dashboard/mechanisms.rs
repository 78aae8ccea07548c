//! 城市机制: the city's own mechanisms at a glance — grassroots stations
//! ranked by complaints through their QR codes, the liaison cadres (包联)
//! with their enterprises' complaints, and the experience officers
//! (营商环境体验官) per kind — as `RankStations`, `LiaisonReport` and
//! `OfficerReport` give them.

use maud::{Markup, html};
use tonic::Status;

use super::layout::{self, Chrome};
use super::{Dashboard, sessions::Identity};
use crate::pb::{self, registry_service_server::RegistryService as _};

/// What the page shows.
#[derive(Debug)]
struct MechanismsPage {
    chrome: Chrome,
    stations: Vec<pb::StationRanking>,
    /// Each station's district and owning unit by Chinese name, in the
    /// order of `stations`.
    station_names: Vec<(String, String)>,
    cadres: Vec<pb::CadreReport>,
    officers: pb::OfficerReportResponse,
}

/// Loads the three reports as the signed-in role may read them.
pub async fn load(dashboard: &Dashboard, identity: &Identity) -> Result<Markup, Status> {
    let chrome = dashboard.chrome(identity, "/dashboard/mechanisms");
    let registry = &dashboard.registry;
    let stations = registry
        .rank_stations(Dashboard::request(
            identity,
            pb::RankStationsRequest { min_position: 0 },
        )?)
        .await?
        .into_inner()
        .stations;
    let cadres = registry
        .liaison_report(Dashboard::request(
            identity,
            pb::LiaisonReportRequest::default(),
        )?)
        .await?
        .into_inner()
        .cadres;
    let officers = registry
        .officer_report(Dashboard::request(
            identity,
            pb::OfficerReportRequest::default(),
        )?)
        .await?
        .into_inner();
    let station_names = stations
        .iter()
        .map(|s| {
            let station = s.station.clone().unwrap_or_default();
            (
                dashboard.district_name(&station.district),
                dashboard.unit_name(&station.unit),
            )
        })
        .collect();
    Ok(render(&MechanismsPage {
        chrome,
        stations,
        station_names,
        cadres,
        officers,
    }))
}

/// A per-mille share as a percentage with one decimal, `—` without cases.
fn permille(value: Option<u32>) -> String {
    value.map_or("—".to_owned(), |p| format!("{}.{}%", p / 10, p % 10))
}

/// Minutes as hours and minutes, `—` without cases.
fn minutes(value: Option<u64>) -> String {
    value.map_or("—".to_owned(), |m| {
        format!("{} 小时 {} 分", m / 60, m % 60)
    })
}

fn render(view: &MechanismsPage) -> Markup {
    layout::page(
        "城市机制",
        Some(&view.chrome),
        html! {
            section {
                h2 { "基层站所扫码反馈 · 排名" }
                table id="stations" {
                    thead { tr { th { "站点" } th { "旗区" } th { "主管单位" } th { "诉求" } th { "销号" } th { "满意率" } th { "办结时长中位数" } } }
                    tbody {
                        @for (s, (district, unit)) in view.stations.iter().zip(&view.station_names) {
                            @let station = s.station.clone().unwrap_or_default();
                            tr data-station=(station.code) {
                                td { (station.name) " " code { (station.code) } }
                                td { (district) " " code { (station.district) } }
                                td { (unit) " " code { (station.unit) } }
                                td.complaints { (s.complaints) }
                                td.closed { (s.closed) }
                                td { (permille(s.satisfaction_permille)) }
                                td { (minutes(s.median_minutes_to_close)) }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "包联干部 · 企业诉求" }
                table id="cadres" {
                    thead { tr { th { "包联干部" } th { "企业" } th { "诉求" } th { "已联系" } th { "首次联系中位数" } th { "办结" } th { "满意/回访" } } }
                    tbody {
                        @for c in &view.cadres {
                            tr data-cadre=(c.cadre) {
                                td { code { (c.cadre) } }
                                td { (c.enterprises) }
                                td.complaints { (c.complaints) }
                                td { (c.contacted) }
                                td { (minutes(c.median_minutes_to_contact)) }
                                td { (c.resolved) }
                                td { (c.satisfied) "/" (c.callbacks) }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "营商环境体验官 · 按类别" }
                table id="officer-kinds" {
                    thead { tr { th { "类别" } th { "反馈" } th { "已响应" } th { "响应时长中位数" } th { "预警" } th { "销号" } th { "满意/回访" } } }
                    tbody {
                        @for k in &view.officers.kinds {
                            @let t = k.tally.unwrap_or_default();
                            tr data-kind=(k.kind) {
                                td { (crate::labels::officer_kind_label(&k.kind)) " " code { (k.kind) } }
                                td.reports { (t.reports) }
                                td { (t.acknowledged) }
                                td { (minutes(t.median_minutes_to_acknowledge)) }
                                td { (t.warned) }
                                td { (t.closed) }
                                td { (t.satisfied) "/" (t.callbacks) }
                            }
                        }
                    }
                }
                p { "体验官 " (view.officers.officers.len()) " 名，反馈 "
                    span id="officer-reports" { (view.officers.officers.iter().map(|o| o.tally.unwrap_or_default().reports).sum::<u32>()) }
                    " 件。" }
            }
        },
    )
}
