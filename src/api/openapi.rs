//! The OpenAPI 3 document, generated from the handlers and types by utoipa.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::handlers;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gisttrack",
        description = "Tracks GitHub users' public gists and mirrors each new one into Pipedrive as exactly one activity. \
                       When the server has an API token, every /api/v1 route needs `Authorization: Bearer <token>`."
    ),
    paths(
        handlers::list_people,
        handlers::add_person,
        handlers::view_person,
        handlers::delete_person,
        handlers::trigger_sync,
        handlers::sync_runs,
        handlers::healthz,
        handlers::readyz,
        handlers::metrics,
    ),
    modifiers(&ApiTokenScheme),
    tags(
        (name = "people", description = "Tracked GitHub users and their gists"),
        (name = "sync", description = "Sync passes"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct ApiTokenScheme;

impl Modify for ApiTokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as pretty JSON (served, and snapshot-tested).
pub fn json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into())
}
