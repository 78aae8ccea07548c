//! `rectify catalog …`: lookups in the city's action-plan catalog (units,
//! districts, task areas, routing, area suggestions for a text).

use clap::Subcommand;

use super::{
    connect::{Authed, Connection, client},
    output::{call, print_reply},
};
use crate::pb::{self, catalog_service_client::CatalogServiceClient};

/// Catalog lookups.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Every unit.
    Units,
    /// Banners, districts and development zones.
    Districts,
    /// The 28 task areas and their tasks.
    Areas,
    /// Which units an area (and district) routes to.
    Route {
        /// Area code.
        area: String,
        /// Task number.
        #[arg(long)]
        task: Option<u32>,
        /// District code.
        #[arg(long)]
        district: Option<String>,
    },
    /// Suggest task areas for a text.
    Suggest {
        /// The complaint text.
        text: String,
        /// How many.
        #[arg(long, default_value_t = 3)]
        limit: u32,
    },
}

type Client = CatalogServiceClient<Authed>;

/// `rectify catalog …`: one function per lookup.
pub(super) async fn run(conn: &Connection, command: CatalogCommand) -> anyhow::Result<()> {
    let c = &mut client(conn, CatalogServiceClient::new).await?;
    let json = conn.json;
    match command {
        CatalogCommand::Units => units(c, json).await,
        CatalogCommand::Districts => districts(c, json).await,
        CatalogCommand::Areas => areas(c, json).await,
        CatalogCommand::Route {
            area,
            task,
            district,
        } => route(c, json, area, task, district).await,
        CatalogCommand::Suggest { text, limit } => suggest(c, json, text, limit).await,
    }
}

/// `catalog units`.
async fn units(c: &mut Client, json: bool) -> anyhow::Result<()> {
    let reply = call(c.list_units(pb::ListUnitsRequest {})).await?;
    print_reply(json, "rectify.v1.ListUnitsResponse", &reply, |reply| {
        for unit in &reply.units {
            println!("{:<32} {:<24} {}", unit.code, unit.name, unit.kind);
        }
    })
}

/// `catalog districts`.
async fn districts(c: &mut Client, json: bool) -> anyhow::Result<()> {
    let reply = call(c.list_districts(pb::ListDistrictsRequest {})).await?;
    print_reply(json, "rectify.v1.ListDistrictsResponse", &reply, |reply| {
        for d in &reply.districts {
            let (code, name, kind) = (&d.code, &d.name, &d.kind);
            println!("{code:<24} {name:<20} {kind:<18} {}", d.government_unit);
        }
    })
}

/// `catalog areas`.
async fn areas(c: &mut Client, json: bool) -> anyhow::Result<()> {
    let reply = call(c.list_areas(pb::ListAreasRequest {})).await?;
    print_reply(json, "rectify.v1.ListAreasResponse", &reply, |reply| {
        for area in &reply.areas {
            let (number, code, name) = (area.number, &area.code, &area.name);
            println!("{number:>2} {code:<36} {name} ({} tasks)", area.tasks.len());
        }
    })
}

/// `catalog route`: the lead and responsible units and the rule that chose
/// them.
async fn route(
    c: &mut Client,
    json: bool,
    area: String,
    task: Option<u32>,
    district: Option<String>,
) -> anyhow::Result<()> {
    let request = pb::RouteRequest {
        area,
        task: task.unwrap_or(0),
        district: district.unwrap_or_default(),
    };
    let reply = call(c.route(request)).await?;
    print_reply(json, "rectify.v1.RouteResponse", &reply, |reply| {
        println!("lead:        {}", reply.lead_units.join(", "));
        println!("responsible: {}", reply.responsible_units.join(", "));
        println!("rule:        {}", reply.rule_id);
        println!("why:         {}", reply.explanation);
    })
}

/// `catalog suggest`.
async fn suggest(c: &mut Client, json: bool, text: String, limit: u32) -> anyhow::Result<()> {
    let reply = call(c.suggest_areas(pb::SuggestAreasRequest { text, limit })).await?;
    print_reply(json, "rectify.v1.SuggestAreasResponse", &reply, |reply| {
        for s in &reply.suggestions {
            println!("{:<36} {} ({:.2})", s.area, s.name, s.score);
        }
    })
}
