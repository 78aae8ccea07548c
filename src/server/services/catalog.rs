//! `CatalogService`: units, districts, task areas, routing and classification
//! suggestions, read from the catalog loaded at start.

use std::sync::Arc;

use rectify_catalog::RouteQuery;
use tonic::{Request, Response, Status};

use crate::{
    pb::{self, catalog_service_server::CatalogService},
    server::auth::{Action, authorize},
    server::convert::{area_to_pb, suggestion_to_pb},
    server::error::ServiceError,
    server::error::catalog_error,
    server::state::AppState,
};

/// Most suggestions one `SuggestAreas` call returns.
pub const MAX_SUGGESTIONS: u32 = 28;
/// Longest text `SuggestAreas` classifies (characters).
pub const MAX_SUGGEST_TEXT_CHARS: usize = 10_000;

/// The `CatalogService` implementation.
#[derive(Debug, Clone)]
pub struct CatalogApi {
    state: Arc<AppState>,
}

impl CatalogApi {
    /// A service over the shared application state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn list_units(
        &self,
        request: Request<pb::ListUnitsRequest>,
    ) -> Result<Response<pb::ListUnitsResponse>, Status> {
        authorize(&request, Action::ReadCatalog)?;
        let units = self
            .state
            .catalog
            .units()
            .iter()
            .map(|unit| pb::Unit {
                code: unit.code.clone(),
                name: unit.name.clone(),
                full_name: unit.full_name.clone(),
                kind: unit.kind.to_string(),
                aliases: unit.aliases.clone(),
            })
            .collect();
        Ok(Response::new(pb::ListUnitsResponse { units }))
    }

    async fn list_districts(
        &self,
        request: Request<pb::ListDistrictsRequest>,
    ) -> Result<Response<pb::ListDistrictsResponse>, Status> {
        authorize(&request, Action::ReadCatalog)?;
        let districts = self
            .state
            .catalog
            .districts()
            .iter()
            .map(|d| pb::District {
                code: d.code.clone(),
                name: d.name.clone(),
                kind: d.kind.to_string(),
                government_unit: d.government_unit.clone(),
            })
            .collect();
        Ok(Response::new(pb::ListDistrictsResponse { districts }))
    }

    async fn list_areas(
        &self,
        request: Request<pb::ListAreasRequest>,
    ) -> Result<Response<pb::ListAreasResponse>, Status> {
        authorize(&request, Action::ReadCatalog)?;
        let areas = self.state.catalog.areas().iter().map(area_to_pb).collect();
        Ok(Response::new(pb::ListAreasResponse { areas }))
    }

    async fn route(
        &self,
        request: Request<pb::RouteRequest>,
    ) -> Result<Response<pb::RouteResponse>, Status> {
        authorize(&request, Action::ReadCatalog)?;
        let request = request.into_inner();
        if request.area.is_empty() {
            return Err(ServiceError::invalid("area", "required").into());
        }
        let routing = self
            .state
            .catalog
            .route(&RouteQuery {
                area: &request.area,
                task: (request.task != 0).then_some(request.task),
                district: (!request.district.is_empty()).then_some(request.district.as_str()),
            })
            .map_err(catalog_error)?;
        Ok(Response::new(pb::RouteResponse {
            lead_units: routing.lead,
            responsible_units: routing.responsible,
            rule_id: routing.rule_id,
            explanation: routing.explanation,
        }))
    }

    async fn suggest_areas(
        &self,
        request: Request<pb::SuggestAreasRequest>,
    ) -> Result<Response<pb::SuggestAreasResponse>, Status> {
        authorize(&request, Action::ReadCatalog)?;
        let request = request.into_inner();
        if request.text.trim().is_empty() {
            return Err(ServiceError::invalid("text", "required").into());
        }
        if request.text.chars().count() > MAX_SUGGEST_TEXT_CHARS {
            return Err(ServiceError::invalid(
                "text",
                format!("longer than {MAX_SUGGEST_TEXT_CHARS} characters"),
            )
            .into());
        }
        let limit = match request.limit {
            0 => 3,
            n if n > MAX_SUGGESTIONS => {
                return Err(
                    ServiceError::invalid("limit", format!("at most {MAX_SUGGESTIONS}")).into(),
                );
            }
            n => n,
        };
        let text = request.text;
        let state = self.state.clone();
        // Segmentation is CPU work: keep it off the async workers.
        let suggestions =
            tokio::task::spawn_blocking(move || state.catalog.suggest_areas(&text, limit as usize))
                .await
                .map_err(|e| ServiceError::Internal(format!("classifier task failed: {e}")))?;
        Ok(Response::new(pb::SuggestAreasResponse {
            suggestions: suggestions.iter().map(suggestion_to_pb).collect(),
        }))
    }
}
