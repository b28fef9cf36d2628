//! Which page of the people list a request asks for, and the `Link` header to the others.

use warp::http::StatusCode;
use warp::Rejection;

use crate::db::people::Page;
use crate::http::list_cache::ListKey;
use crate::http::problem::ApiProblem;
use crate::http::query::Query;

/// `None` for the whole list, else the page asked for: numbered (`page` 1 and `per_page`
/// 100 when only one is given) or after a login.
pub(super) fn page_key(query: &Query) -> Result<ListKey, Rejection> {
    let page = query.number::<u32>("page", (1, u32::MAX))?;
    let per_page = query.number::<u32>("per_page", (1, 1000))?;
    let after = query.first("after");
    let limit = per_page.unwrap_or(100) as i64;
    match (after, page) {
        (Some(_), Some(_)) => Err(ApiProblem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "query parameters \"after\" and \"page\" are two ways to page: send one",
        )
        .into()),
        (Some(after), None) => {
            let login = crate::login::Login::parse(after).map_err(|_| {
                ApiProblem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "query parameter \"after\" takes a GitHub login",
                )
            })?;
            Ok(Some(Page::After {
                key: login.key(),
                limit,
            }))
        }
        (None, None) if per_page.is_none() => Ok(None),
        (None, page) => Ok(Some(Page::Offset {
            offset: (page.unwrap_or(1) as i64 - 1) * limit,
            limit,
        })),
    }
}

/// RFC 8288 links to the first, previous, next and last pages. The previous page of one
/// beyond the end is the last page, so a client walking back lands on data.
pub(super) fn numbered_links(page: u32, per_page: u32, total: i64) -> String {
    let last = ((total.max(0) as u64).div_ceil(per_page as u64)).max(1) as u32;
    let link =
        |n: u32, rel: &str| format!("</api/v1/people?page={n}&per_page={per_page}>; rel=\"{rel}\"");
    let mut links = vec![link(1, "first")];
    if page > 1 {
        links.push(link((page - 1).min(last), "prev"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
    }
    links.push(link(last, "last"));
    links.join(", ")
}

/// Keyset links: the first page, and the next one (after this page's last login) while there
/// are people after it.
pub(super) fn keyset_links(per_page: u32, next_after: Option<&str>) -> String {
    let mut links = vec![format!(
        "</api/v1/people?per_page={per_page}>; rel=\"first\""
    )];
    if let Some(after) = next_after {
        links.push(format!(
            "</api/v1/people?after={after}&per_page={per_page}>; rel=\"next\""
        ));
    }
    links.join(", ")
}

#[cfg(test)]
mod tests {
    use super::{keyset_links, numbered_links};

    #[test]
    fn links_point_at_pages_that_exist() {
        let rel = |header: &str, rel: &str| {
            header
                .split(", ")
                .find(|l| l.ends_with(&format!("rel=\"{rel}\"")))
                .map(|l| l.split(['=', '&']).nth(1).unwrap().to_string())
        };
        let middle = numbered_links(2, 1, 3);
        assert_eq!(rel(&middle, "prev").as_deref(), Some("1"));
        assert_eq!(rel(&middle, "next").as_deref(), Some("3"));
        assert_eq!(rel(&middle, "last").as_deref(), Some("3"));
        let beyond = numbered_links(99, 1, 3);
        assert_eq!(rel(&beyond, "prev").as_deref(), Some("3"), "{beyond}");
        assert_eq!(rel(&beyond, "next"), None);
        let empty = numbered_links(1, 10, 0);
        assert_eq!(rel(&empty, "last").as_deref(), Some("1"));
        assert_eq!(rel(&empty, "prev"), None);
    }

    #[test]
    fn keyset_links_continue_after_the_last_login_while_there_is_more() {
        assert_eq!(
            keyset_links(2, Some("bob")),
            "</api/v1/people?per_page=2>; rel=\"first\", </api/v1/people?after=bob&per_page=2>; rel=\"next\""
        );
        assert!(!keyset_links(2, None).contains("next"));
    }
}
