//! What a POST's body says: JSON, URL-encoded or multipart form data (the Go service's way),
//! or the query string when the body says nothing.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use warp::http::StatusCode;

use crate::http::problem::ApiProblem;
use crate::http::query::{parse_bool, Query, BOOLEANS};
use crate::ids::PipedrivePersonId;
use crate::service::relink::RelinkTo;

/// The body of `POST /api/v1/people`, as JSON or as form data (the seed's way).
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddPersonRequest {
    /// GitHub login to track.
    #[schema(
        min_length = 1,
        max_length = 39,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*-?$"
    )]
    pub username: String,
    /// Deliver gists that existed before the user was added (default true). In form data:
    /// `true`, `false`, `1` or `0`, in any case.
    pub backfill: Option<bool>,
}

/// The query string of `POST /api/v1/people`, read when the body does not say (the Go
/// service's clients post `?username=...` with no body). (Documents the parameters; they are
/// read through [`Query`].)
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AddQuery {
    /// GitHub login to track, when the body has none.
    #[param(
        min_length = 1,
        max_length = 39,
        pattern = "^[A-Za-z0-9][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*-?$"
    )]
    pub username: Option<String>,
    /// Deliver gists that existed before the user was added (default true), when the body
    /// does not say. `true`, `false`, `1` or `0`, in any case.
    pub backfill: Option<bool>,
}

fn missing_username() -> ApiProblem {
    ApiProblem::new(
        StatusCode::BAD_REQUEST,
        "missing_username",
        "send username as form data, as JSON {\"username\": ...}, or in the query string",
    )
}

fn invalid_body(message: impl Into<String>) -> ApiProblem {
    ApiProblem::new(StatusCode::BAD_REQUEST, "invalid_body", message)
}

/// The content types `POST /api/v1/people` takes.
const ACCEPTED_BODIES: &str =
    "application/x-www-form-urlencoded, multipart/form-data or application/json";

/// What a POST said, before the query string fills in what the body did not.
#[derive(Debug, Default)]
pub(super) struct Fields {
    username: Option<String>,
    backfill: Option<String>,
}

/// The fields of a JSON, URL-encoded or multipart body (the Go service took form data in
/// either encoding); none for an empty body. Another content type is a 415.
pub(super) async fn body_fields(
    content_type: Option<&str>,
    body: bytes::Bytes,
) -> Result<Fields, ApiProblem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Fields::default());
    }
    let original = content_type.unwrap_or("");
    let lower = original.to_ascii_lowercase();
    let media = lower.split(';').next().unwrap_or("").trim();
    match media {
        // The boundary is case-sensitive: it is read from the header as sent.
        "multipart/form-data" => multipart_fields(original, body).await,
        "application/x-www-form-urlencoded" => form_fields(&body),
        m if m == "application/json" || m.ends_with("+json") => json_fields(&body),
        "" if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => json_fields(&body),
        "" => form_fields(&body),
        _ => Err(ApiProblem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("a body of type {original:?} is not taken here: send {ACCEPTED_BODIES}"),
        )),
    }
}

fn json_fields(body: &[u8]) -> Result<Fields, ApiProblem> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| invalid_body(format!("invalid JSON: {e}")))?;
    if !value.is_object() {
        return Err(invalid_body(
            "expected a JSON object such as {\"username\": \"octocat\"}",
        ));
    }
    let username = match value.get("username") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(name)) => Some(name.clone()),
        Some(_) => return Err(invalid_body("username must be a string")),
    };
    let backfill = match value.get("backfill") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(text)) => Some(text.clone()),
        Some(other @ (serde_json::Value::Bool(_) | serde_json::Value::Number(_))) => {
            Some(other.to_string())
        }
        Some(_) => return Err(invalid_body(format!("backfill takes {BOOLEANS}"))),
    };
    Ok(Fields { username, backfill })
}

fn form_fields(body: &[u8]) -> Result<Fields, ApiProblem> {
    let mut fields = crate::http::body::form_fields(body)
        .map_err(|e| invalid_body(format!("invalid form data: {e}")))?;
    Ok(Fields {
        username: fields.remove("username"),
        backfill: fields.remove("backfill"),
    })
}

async fn multipart_fields(content_type: &str, body: bytes::Bytes) -> Result<Fields, ApiProblem> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| invalid_body(format!("invalid multipart body: {e}")))?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut fields = Fields::default();
    let bad = |e: multer::Error| invalid_body(format!("invalid multipart body: {e}"));
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            // The first of a repeated field counts, as in a URL-encoded form.
            Some("username") if fields.username.is_none() => {
                fields.username = Some(field.text().await.map_err(bad)?)
            }
            Some("backfill") if fields.backfill.is_none() => {
                fields.backfill = Some(field.text().await.map_err(bad)?)
            }
            _ => {}
        }
    }
    Ok(fields)
}

/// The username and backfill of an add: from the body, else the query string (the Go
/// service's form lookup read both; its own tests post `?username=...` with no body).
pub(super) async fn add_request(
    query: &Query,
    content_type: Option<&str>,
    body: bytes::Bytes,
) -> Result<AddPersonRequest, ApiProblem> {
    let fields = body_fields(content_type, body).await?;
    let username = fields
        .username
        .or_else(|| query.first("username").map(str::to_string))
        .ok_or_else(missing_username)?;
    let backfill = match fields.backfill {
        Some(value) => Some(
            parse_bool(&value).ok_or_else(|| invalid_body(format!("backfill takes {BOOLEANS}")))?,
        ),
        None => query.bool("backfill")?,
    };
    Ok(AddPersonRequest { username, backfill })
}

/// The body of `POST /api/v1/people/{username}/relink`, as JSON or form data: `to` or
/// `create`, or neither (the person a merge left, looked for again).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RelinkRequest {
    /// An existing Pipedrive person to link the user to.
    #[schema(minimum = 1)]
    pub to: Option<i64>,
    /// Create a new Pipedrive person for the user. In form data: `true`, `false`, `1` or `0`.
    pub create: Option<bool>,
}

/// Where a relink's body says to link: JSON `{"to": 42}` / `{"create": true}`, the same as
/// form data, or an empty body.
pub(super) fn relink_target(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<RelinkTo, ApiProblem> {
    let media = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        RelinkRequest {
            to: None,
            create: None,
        }
    } else if media == "application/json" || media.ends_with("+json") {
        serde_json::from_slice(body).map_err(|e| invalid_body(format!("invalid JSON: {e}")))?
    } else if media == "application/x-www-form-urlencoded" || media.is_empty() {
        let form = Query::parse(&String::from_utf8_lossy(body))?;
        RelinkRequest {
            to: form.number("to", (1, i64::MAX))?,
            create: form.bool("create")?,
        }
    } else {
        return Err(ApiProblem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("a body of type {media:?} is not taken here: send application/json or application/x-www-form-urlencoded"),
        ));
    };
    match (request.to, request.create.unwrap_or(false)) {
        (Some(_), true) => Err(invalid_body(
            "send \"to\" (an existing person) or \"create\", not both",
        )),
        (Some(id), false) if id >= 1 => Ok(RelinkTo::Person(PipedrivePersonId(id))),
        (Some(_), false) => Err(invalid_body(
            "\"to\" takes a Pipedrive person id (1 or more)",
        )),
        (None, true) => Ok(RelinkTo::Create),
        (None, false) => Ok(RelinkTo::Survivor),
    }
}
