//! What the dashboard shows: tracked people with the gists new since their last visit,
//! searched, sorted and paged; one person with every gist, the new ones marked.

use std::collections::HashSet;

use super::{summary, PersonDetail, PersonSummary, ViewMode};
use crate::db::gists;
use crate::db::people::{self, Person};
use crate::db::Store;
use crate::error::Result;
use crate::ids::{PersonId, PipedriveUserId};

/// How the overview is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// By login.
    #[default]
    Name,
    /// Most new gists first, then by login.
    New,
}

/// Which people the overview shows.
#[derive(Debug, Clone, Default)]
pub struct OverviewQuery {
    pub sort: Sort,
    /// Logins starting with this (any case).
    pub search: String,
    /// Where the previous page ended: a login key (by name), or `{new}:{login key}` (by new).
    pub after: Option<String>,
    pub limit: usize,
    /// Only the people this Pipedrive user owns.
    pub owner: Option<PipedriveUserId>,
}

/// One tracked person in the overview.
#[derive(Debug, Clone)]
pub struct OverviewRow {
    pub person: PersonSummary,
    /// Gists first seen since the last visit (all of them before the first one).
    pub new_gists: i64,
}

/// A page of the overview.
#[derive(Debug, Clone)]
pub struct Overview {
    pub rows: Vec<OverviewRow>,
    /// The `after` of the next page, when there is one.
    pub next: Option<String>,
}

/// One page of tracked people with their counts. By name and by "new" alike a keyset read of
/// an index (login, or each person's stored count of new gists then login), as cheap deep in
/// the list as at its start.
pub fn people(store: &Store, query: &OverviewQuery) -> Result<Overview> {
    let pattern = people::key_prefix_pattern(&query.search);
    let limit = query.limit.max(1);
    store.read(|conn| {
        let new_cursor = || {
            query.after.as_deref().and_then(|after| {
                let (new, key) = after.split_once(':')?;
                Some((new.parse::<i64>().ok()?, key))
            })
        };
        let mut page = match (query.owner, query.sort) {
            (Some(owner), sort) => people::owned_by(
                conn,
                owner,
                &pattern,
                sort == Sort::New,
                new_cursor(),
                query.after.as_deref().unwrap_or(""),
                limit as i64 + 1,
            )?,
            (None, Sort::Name) => {
                let after = query.after.as_deref().unwrap_or("");
                people::matching(conn, &pattern, after, limit as i64 + 1)?
            }
            (None, Sort::New) => {
                people::by_new_count(conn, &pattern, new_cursor(), limit as i64 + 1)?
            }
        };
        let next = (page.len() > limit).then(|| cursor_after(&page[limit - 1], query.sort));
        page.truncate(limit);
        let ids: Vec<PersonId> = page.iter().map(|p| p.id).collect();
        let counts = gists::counts_of(conn, &ids)?;
        let rows = page
            .iter()
            .map(|person| OverviewRow {
                person: summary(person, counts.get(&person.id).copied().unwrap_or_default()),
                new_gists: person.new_count,
            })
            .collect();
        Ok(Overview { rows, next })
    })
}

/// The `after` of the page that follows this person.
fn cursor_after(person: &Person, sort: Sort) -> String {
    match sort {
        Sort::Name => person.github_login_key.clone(),
        Sort::New => format!("{}:{}", person.new_count, person.github_login_key),
    }
}

/// A person with every gist, newest first, and which of them are new: since the visit this
/// opening records (`visit`), or since the last one (a peek, which records nothing).
#[derive(Debug, Clone)]
pub struct PersonPage {
    pub detail: PersonDetail,
    /// The visit the new gists are new since (`None`: the first visit, all are new).
    pub since: Option<String>,
    /// GitHub ids of the new gists.
    pub new: HashSet<String>,
}

pub fn person(store: &Store, login: &str, visit: bool) -> Result<PersonPage> {
    let mode = if visit {
        ViewMode::NewSinceLastVisit
    } else {
        ViewMode::Peek
    };
    let fresh = super::view_person(store, login, mode)?;
    let detail = super::view_person(store, login, ViewMode::All)?;
    Ok(PersonPage {
        since: fresh.since,
        new: fresh.gists.into_iter().map(|g| g.id.to_string()).collect(),
        detail,
    })
}
