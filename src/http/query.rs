//! Query strings as the Go service read them: the first value of a repeated parameter wins,
//! booleans are `true`/`false`/`1`/`0` in any case, and a refused value names its parameter
//! and what it takes.

use std::str::FromStr;

use warp::http::StatusCode;
use warp::{Filter, Rejection};

use crate::http::problem::ApiProblem;

/// A request's query parameters, in order.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

/// The raw query string (empty when there is none) as a [`Query`]; 400 when it cannot be
/// read at all.
pub fn query() -> impl Filter<Extract = (Query,), Error = Rejection> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .and_then(|raw: String| async move { Query::parse(&raw).map_err(Rejection::from) })
}

fn invalid(name: &str, takes: &str) -> ApiProblem {
    ApiProblem::new(
        StatusCode::BAD_REQUEST,
        "invalid_query",
        format!("query parameter {name:?} takes {takes}"),
    )
}

impl Query {
    pub fn parse(raw: &str) -> Result<Query, ApiProblem> {
        serde_urlencoded::from_str(raw).map(Query).map_err(|e| {
            ApiProblem::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("the query string cannot be read: {e}"),
            )
        })
    }

    /// The parameters again as a query string (`?a=1&b=2`, empty when there are none).
    pub fn to_query_string(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        format!(
            "?{}",
            serde_urlencoded::to_string(&self.0).unwrap_or_default()
        )
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiProblem> {
        self.first(name)
            .map(|value| parse_bool(value).ok_or_else(|| invalid(name, BOOLEANS)))
            .transpose()
    }

    /// A number within `range` (inclusive).
    pub fn number<T>(&self, name: &str, range: (T, T)) -> Result<Option<T>, ApiProblem>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(value) = self.first(name) else {
            return Ok(None);
        };
        let takes = || {
            invalid(
                name,
                &format!("a whole number from {} to {}", range.0, range.1),
            )
        };
        let number: T = value.trim().parse().map_err(|_| takes())?;
        if number < range.0 || number > range.1 {
            return Err(takes());
        }
        Ok(Some(number))
    }
}

/// What a boolean parameter or form field takes.
pub const BOOLEANS: &str = "true, false, 1 or 0";

/// `true`/`false`/`1`/`0`, in any case.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_value_of_a_repeated_parameter_wins() {
        let query = Query::parse("getAllGists=true&getAllGists=false&x=%41").unwrap();
        assert_eq!(query.first("getAllGists"), Some("true"));
        assert_eq!(query.first("x"), Some("A"));
        assert_eq!(query.first("missing"), None);
    }

    #[test]
    fn booleans_and_numbers_take_what_people_write() {
        for (value, expected) in [("TRUE", true), ("1", true), ("False", false), ("0", false)] {
            assert_eq!(parse_bool(value), Some(expected), "{value}");
        }
        assert_eq!(parse_bool("yes"), None);
        let query = Query::parse("peek=1&per_page=50&page=0").unwrap();
        assert_eq!(query.bool("peek").unwrap(), Some(true));
        assert_eq!(
            query.number::<u32>("per_page", (1, 1000)).unwrap(),
            Some(50)
        );
        assert!(query.number::<u32>("page", (1, u32::MAX)).is_err());
        assert!(Query::parse("peek=maybe").unwrap().bool("peek").is_err());
    }
}
