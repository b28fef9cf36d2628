//! What the dashboard shows: tracked people with the gists new since their last visit,
//! searched, sorted and paged; one person with every gist, the new ones marked.

use std::collections::{HashMap, HashSet};

use super::{summary, PersonDetail, PersonSummary, ViewMode};
use crate::db::gists;
use crate::db::people::{self, Person};
use crate::db::Store;
use crate::error::Result;
use crate::ids::PersonId;

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

/// One page of tracked people with their counts. By name it is a keyset read, as cheap deep
/// in the list as at its start; by "new" the database counts every matching person's new gists
/// and returns only the page (time grows with the people, memory does not).
pub fn people(store: &Store, query: &OverviewQuery) -> Result<Overview> {
    let pattern = people::key_prefix_pattern(&query.search);
    let limit = query.limit.max(1);
    store.read(|conn| {
        let (page, next, new) = match query.sort {
            Sort::Name => {
                let after = query.after.as_deref().unwrap_or("");
                let mut page = people::matching(conn, &pattern, after, limit as i64 + 1)?;
                let next = (page.len() > limit).then(|| page[limit - 1].github_login_key.clone());
                page.truncate(limit);
                let ids: Vec<PersonId> = page.iter().map(|p| p.id).collect();
                let new = gists::new_counts(conn, &ids)?;
                (page, next, new)
            }
            // The ranking counted them already.
            Sort::New => by_new(conn, &pattern, query.after.as_deref(), limit)?,
        };
        let ids: Vec<PersonId> = page.iter().map(|p| p.id).collect();
        let counts = gists::counts_of(conn, &ids)?;
        let rows = page
            .iter()
            .map(|person| OverviewRow {
                person: summary(person, counts.get(&person.id).copied().unwrap_or_default()),
                new_gists: new.get(&person.id).copied().unwrap_or(0),
            })
            .collect();
        Ok(Overview { rows, next })
    })
}

/// A page of people in its order, the cursor of the next page, and each one's new gists.
type PageOfPeople = (Vec<Person>, Option<String>, HashMap<PersonId, i64>);

/// The page of people by new gists (most first, then login) after `after` (`{new}:{key}`),
/// the next cursor, and each one's count of new gists.
fn by_new(
    conn: &mut crate::db::DbConnection,
    pattern: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<PageOfPeople> {
    let cursor = after.and_then(|after| {
        let (new, key) = after.split_once(':')?;
        Some((new.parse::<i64>().ok()?, key))
    });
    let mut ranked = gists::ranked_by_new(conn, pattern, cursor, limit as i64 + 1)?;
    let next = (ranked.len() > limit).then(|| {
        let (_, key, new) = &ranked[limit - 1];
        format!("{new}:{key}")
    });
    ranked.truncate(limit);
    let ids: Vec<PersonId> = ranked.iter().map(|(id, _, _)| *id).collect();
    let new: HashMap<PersonId, i64> = ranked.iter().map(|(id, _, n)| (*id, *n)).collect();
    let mut people = people::find_all(conn, &ids)?;
    let order: HashMap<PersonId, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    people.sort_by_key(|p| order.get(&p.id).copied().unwrap_or(usize::MAX));
    Ok((people, next, new))
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
