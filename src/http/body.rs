//! Request bodies: a size limit checked before and while reading, and a time limit.

use bytes::Buf;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::problem::ApiProblem;
use super::server;

/// Largest request body accepted (a username is a few bytes).
pub const BODY_LIMIT: u64 = 16 * 1024;

/// The request body, up to [`BODY_LIMIT`] (413 beyond), with or without a Content-Length: a
/// bodiless POST is an empty body, as the Go service took it, not a 411.
pub fn limited_body() -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    // A declared length over the limit is refused before anything is read (and before
    // `Expect: 100-continue` invites the upload); a chunked body is cut off as it streams.
    warp::header::optional::<u64>("content-length")
        .and_then(|declared: Option<u64>| async move {
            match declared {
                Some(length) if length > BODY_LIMIT => Err(too_large()),
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::body::stream())
        .and_then(|stream| async move {
            // A body that never ends would hold its connection for ever.
            tokio::time::timeout(server::BODY_READ_TIMEOUT, collect_limited(stream))
                .await
                .unwrap_or_else(|_| {
                    Err(warp::reject::custom(ApiProblem::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "request_timeout",
                        format!(
                            "the request body did not arrive within {}s",
                            server::BODY_READ_TIMEOUT.as_secs()
                        ),
                    )))
                })
        })
}

fn too_large() -> Rejection {
    warp::reject::custom(ApiProblem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is over {BODY_LIMIT} bytes"),
    ))
}

async fn collect_limited<S, B>(stream: S) -> Result<bytes::Bytes, Rejection>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    use futures_util::TryStreamExt;
    let mut body = bytes::BytesMut::new();
    let mut stream = Box::pin(stream);
    let unreadable = |_| {
        warp::reject::custom(ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the request body could not be read",
        ))
    };
    while let Some(mut chunk) = stream.try_next().await.map_err(unreadable)? {
        if body.len() as u64 + chunk.remaining() as u64 > BODY_LIMIT {
            return Err(too_large());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            body.extend_from_slice(part);
            let read = part.len();
            chunk.advance(read);
        }
    }
    Ok(body.freeze())
}

/// The fields of a URL-encoded form, the first value of a repeated name winning (as the Go
/// service read them). The API and the dashboard both read forms through this.
pub fn form_fields(
    body: &[u8],
) -> Result<std::collections::HashMap<String, String>, serde_urlencoded::de::Error> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)?;
    let mut fields = std::collections::HashMap::new();
    for (name, value) in pairs {
        fields.entry(name).or_insert(value);
    }
    Ok(fields)
}
