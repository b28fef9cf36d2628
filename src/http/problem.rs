//! Every HTTP error as a JSON body `{"error", "code"}` with the right status; client errors are 4xx.

use std::convert::Infallible;

use serde::Serialize;
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::reject::Reject;
use warp::{Rejection, Reply};

use crate::error::Error;

/// What every 401 answers with (RFC 9110 wants a challenge on each): the token goes in
/// `Authorization: Bearer`.
pub const BEARER_CHALLENGE: &str = "Bearer realm=\"gisttrack\"";

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// A stable identifier, for a program.
    pub code: &'static str,
}

/// An error answer carried through warp's rejection system.
#[derive(Debug)]
pub struct ApiProblem {
    pub status: StatusCode,
    pub body: ErrorBody,
    /// Seconds to send as `Retry-After`, when the answer is "not yet".
    pub retry_after: Option<u64>,
}

impl Reject for ApiProblem {}

impl ApiProblem {
    pub fn new(status: StatusCode, code: &'static str, error: impl Into<String>) -> ApiProblem {
        ApiProblem {
            status,
            body: ErrorBody {
                error: error.into(),
                code,
            },
            retry_after: None,
        }
    }

    pub fn unauthorized() -> ApiProblem {
        ApiProblem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong API token: send Authorization: Bearer <GISTTRACK_API_TOKEN>",
        )
    }

    /// The same answer with `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u64) -> ApiProblem {
        self.retry_after = Some(seconds);
        self
    }

    /// A wrong token came from an address that has sent too many.
    pub fn too_many_attempts(retry_after: u64) -> ApiProblem {
        ApiProblem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many wrong API tokens from this address; try again in {retry_after}s"),
        )
        .retry_after(retry_after)
    }

    pub fn reply(&self) -> warp::reply::Response {
        let mut response =
            warp::reply::with_status(warp::reply::json(&self.body), self.status).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(warp::http::header::RETRY_AFTER, seconds.into());
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                warp::http::header::WWW_AUTHENTICATE,
                warp::http::HeaderValue::from_static(BEARER_CHALLENGE),
            );
        }
        response
    }
}

impl From<Error> for ApiProblem {
    fn from(err: Error) -> ApiProblem {
        use StatusCode as S;
        let message = err.to_string();
        match &err {
            Error::InvalidLogin { .. } => {
                ApiProblem::new(S::BAD_REQUEST, "invalid_username", message)
            }
            Error::NotTracked(_) => ApiProblem::new(S::NOT_FOUND, "not_tracked", message),
            // The seed documented 400 for adding a tracked user; its clients rely on it.
            Error::AlreadyTracked(_) => ApiProblem::new(S::BAD_REQUEST, "already_tracked", message),
            Error::GithubUserNotFound(_) => {
                ApiProblem::new(S::UNPROCESSABLE_ENTITY, "github_user_not_found", message)
            }
            Error::GithubOrgNotFound(_) => {
                ApiProblem::new(S::UNPROCESSABLE_ENTITY, "github_org_not_found", message)
            }
            Error::OrgNotFollowed(_) => ApiProblem::new(S::NOT_FOUND, "not_followed", message),
            Error::MissingPipedriveToken => ApiProblem::new(
                S::SERVICE_UNAVAILABLE,
                "pipedrive_not_configured",
                "this needs Pipedrive: start serve with PIPEDRIVE_TOKEN set",
            ),
            Error::DatabaseUnavailable(_) | Error::DatabaseUnreachable { .. } => ApiProblem::new(
                S::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unavailable; try again shortly",
            ),
            Error::Database(db) if crate::db::is_unavailable(db) => ApiProblem::new(
                S::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unavailable; try again shortly",
            ),
            Error::Github(_) | Error::Pipedrive(_) => {
                ApiProblem::new(S::BAD_GATEWAY, "upstream_error", message)
            }
            // Not the client's fault, and over once the earlier request can no longer land.
            Error::PersonCreationUnsettled { settles_at, .. }
            | Error::OrgCreationUnsettled { settles_at, .. }
            | Error::DeliveryUnsettled { settles_at, .. } => {
                let left = (*settles_at - crate::time::now_ms()).max(0);
                ApiProblem::new(S::SERVICE_UNAVAILABLE, "unsettled", message)
                    .retry_after((left as u64).div_ceil(1000).max(1))
            }
            Error::NoSuchPipedrivePerson(_) => {
                ApiProblem::new(S::UNPROCESSABLE_ENTITY, "no_such_pipedrive_person", message)
            }
            Error::PersonTaken { .. } => ApiProblem::new(S::CONFLICT, "person_taken", message),
            Error::NoSurvivor(_) => {
                ApiProblem::new(S::UNPROCESSABLE_ENTITY, "no_survivor", message)
            }
            // Another request for the same user holds it; it is usually over in a moment.
            Error::AccountBusy { .. } | Error::ClaimLost(_) | Error::SyncBusy(_) => {
                ApiProblem::new(S::SERVICE_UNAVAILABLE, "busy", message).retry_after(1)
            }
            Error::DatabaseBusy(_) => ApiProblem::new(
                S::SERVICE_UNAVAILABLE,
                "database_busy",
                "the database is busy; try again in a moment",
            )
            .retry_after(1),
            _ => {
                log::error!("internal error: {message}");
                ApiProblem::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log",
                )
            }
        }
    }
}

/// Turns any rejection into the JSON error body.
pub async fn handle_rejection(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    use StatusCode as S;
    if let Some(problem) = rejection.find::<ApiProblem>() {
        return Ok(problem.reply());
    }
    let problem = if rejection.is_not_found() {
        ApiProblem::new(S::NOT_FOUND, "not_found", "no such route")
    } else if let Some(err) = rejection.find::<warp::reject::InvalidHeader>() {
        ApiProblem::new(S::BAD_REQUEST, "invalid_header", err.to_string())
    } else if let Some(err) = rejection.find::<warp::reject::MissingHeader>() {
        ApiProblem::new(S::BAD_REQUEST, "missing_header", err.to_string())
    } else if rejection
        .find::<warp::reject::UnsupportedMediaType>()
        .is_some()
    {
        ApiProblem::new(
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "unsupported content type",
        )
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        // Checked last: when one branch of a path refused the method and another refused the
        // content, the content's answer is the useful one.
        ApiProblem::new(
            S::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not answer that method",
        )
    } else {
        log::error!("unhandled rejection: {rejection:?}");
        ApiProblem::new(S::INTERNAL_SERVER_ERROR, "internal", "internal error")
    };
    Ok(problem.reply())
}
