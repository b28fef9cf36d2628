//! The OpenAPI 3 document, generated from the handlers and types by utoipa.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{operations, orgs, people, sync};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gisttrack",
        description = "Tracks GitHub users' public gists and mirrors each new one into Pipedrive as exactly one activity. \
                       When the server has an API token, every /api/v1 route needs `Authorization: Bearer <token>`."
    ),
    paths(
        people::list_people,
        people::add_person,
        people::view_person,
        people::delete_person,
        people::relink_person,
        orgs::list_orgs,
        orgs::add_org,
        orgs::delete_org,
        sync::trigger_sync,
        sync::sync_runs,
        operations::healthz,
        operations::readyz,
        operations::metrics,
    ),
    modifiers(&ApiTokenScheme, &OptionalAddBody, &HeadOperationIds),
    tags(
        (name = "people", description = "Tracked GitHub users and their gists"),
        (name = "orgs", description = "Followed GitHub organizations, mirrored to Pipedrive organizations"),
        (name = "sync", description = "Sync passes"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// Every `/api/v1` operation takes the API token when the server has one, and answers 503
/// when the database is away: the requirement and those answers are stated here, once,
/// instead of on each handler (a handler with more to say about a 503 says it itself).
struct ApiTokenScheme;

impl Modify for ApiTokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        let unauthorized = error_response("Missing or wrong API token");
        let unavailable = error_response("The database is unavailable");
        let api = openapi
            .paths
            .paths
            .iter_mut()
            .filter(|(path, _)| path.starts_with("/api/v1/"));
        for (_, item) in api {
            let operations = [&mut item.get, &mut item.post, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                operation.security = Some(vec![
                    SecurityRequirement::default(),
                    SecurityRequirement::new("api_token", Vec::<String>::new()),
                ]);
                let responses = &mut operation.responses.responses;
                responses.insert("401".into(), RefOr::T(unauthorized.clone()));
                responses
                    .entry("503".into())
                    .or_insert_with(|| RefOr::T(unavailable.clone()));
            }
        }
    }
}

/// `POST /api/v1/people` may come without a body, its username in the query string, as the
/// Go service's own tests send it; utoipa marks any declared body required.
struct OptionalAddBody;

impl Modify for OptionalAddBody {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let body = openapi
            .paths
            .paths
            .get_mut("/api/v1/people")
            .and_then(|item| item.post.as_mut())
            .and_then(|post| post.request_body.as_mut());
        if let Some(RefOr::T(body)) = body {
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
}

/// A route answering `GET` and `HEAD` through one handler gets one operation id for both,
/// which OpenAPI forbids (validators refuse the document, code generators stop): the `HEAD`
/// operation is `head_{id}`.
struct HeadOperationIds;

impl Modify for HeadOperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            if let Some(head) = item.head.as_mut() {
                if let Some(id) = head.operation_id.as_mut() {
                    *id = format!("head_{id}");
                }
            }
        }
    }
}

/// An error answer with the JSON error body.
fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// The document as pretty JSON (served, and snapshot-tested).
pub fn json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_operation_has_its_own_id() {
        let doc: serde_json::Value = serde_json::from_str(&super::json()).unwrap();
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|operation| operation["operationId"].as_str().expect("an operation id"))
            .collect();
        let operations = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), operations, "{ids:?}");
        assert!(ids.contains(&"head_healthz") && ids.contains(&"head_readyz"));
    }
}
