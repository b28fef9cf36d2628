//! The rules behind every user-facing operation, shared by the CLI commands, the HTTP API and
//! the dashboard.

pub mod claim;
pub mod import;
pub mod link;
pub mod orgs;
pub mod overview;
pub mod relink;

use serde::Serialize;
use utoipa::ToSchema;

use crate::clients::{GistId, GithubUrl};
use crate::db::claims::ClaimPurpose;
use crate::db::departed::{self, Departed};
use crate::db::gists::{self, DeliveryState, Gist, GistCounts, GistFile, Which};
use crate::db::link_history::{self, LinkEvent, LinkReason};
use crate::db::people::{self, NewPerson, Page, Person};
use crate::db::person_creations;
use crate::db::sync_runs::{self, RunCounts, RunTrigger, SyncRun};
use crate::db::{DbConnection, Store};
use crate::error::{Error, Result};
use crate::ids::{
    ActivityId, GithubUserId, PersonId, PipedriveOrgId, PipedrivePersonId, PipedriveUserId,
};
use crate::login::Login;
use crate::metrics::Gauge;
use crate::sync::{App, SyncSettings};
use crate::time::format_ms;
use claim::Claim;

/// A tracked person as `list` and `GET /api/v1/people` show it. Times are RFC 3339 UTC.
/// `id`, `created_at` and `updated_at` mean what they meant in the Go service this replaces.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonSummary {
    /// The row id (the Go service's `id`).
    #[schema(value_type = i64)]
    pub id: PersonId,
    /// The GitHub login, in GitHub's case.
    pub github_username: String,
    #[schema(value_type = Option<i64>)]
    pub github_id: Option<GithubUserId>,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The Pipedrive person that stands for this user (when `unlinked_at` is set, the one
    /// that was deleted).
    #[schema(value_type = Option<i64>)]
    pub pipedrive_id: Option<PipedrivePersonId>,
    /// The Pipedrive user who owns that person, as last read before a delivery: whose
    /// activities the user's gists become.
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<PipedriveUserId>,
    /// The owner's name, where the token may read Pipedrive's users.
    pub owner_name: Option<String>,
    /// The person's Pipedrive organization, as last read.
    #[schema(value_type = Option<i64>)]
    pub org_id: Option<PipedriveOrgId>,
    /// When the Pipedrive person was found deleted with no survivor: nothing is sent for the
    /// user until they are relinked (`gisttrack relink`, `POST .../relink`).
    pub unlinked_at: Option<String>,
    /// Whether gists that existed before the user was added become activities.
    pub backfill: bool,
    pub gists_known: i64,
    /// Gists waiting for their activity (including interrupted attempts).
    pub deliveries_pending: i64,
    /// Gists whose last delivery attempt failed; retried with backoff.
    pub deliveries_failed: i64,
    pub added_at: String,
    pub last_sync: Option<String>,
    /// The most recent recorded visit.
    pub last_visit: Option<String>,
    /// When tracking began (the Go service's name for `added_at`).
    pub created_at: String,
    /// When the person last changed: added, synced or visited.
    pub updated_at: String,
}

/// A person with gists: `show` and `GET /api/v1/people/{username}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonDetail {
    #[serde(flatten)]
    pub person: PersonSummary,
    /// The visit the listed gists are new since (null: first visit, or `all`).
    pub since: Option<String>,
    pub gists: Vec<GistView>,
    /// Every change of the user's Pipedrive person, oldest first; with every gist (`all`)
    /// only, which keeps the common view one read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<LinkView>>,
}

/// A change of the Pipedrive person a user is linked to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LinkView {
    pub reason: LinkReason,
    #[schema(value_type = Option<i64>)]
    pub from: Option<PipedrivePersonId>,
    /// Null when the user was left unlinked.
    #[schema(value_type = Option<i64>)]
    pub to: Option<PipedrivePersonId>,
    pub at: String,
}

impl From<LinkEvent> for LinkView {
    fn from(event: LinkEvent) -> LinkView {
        LinkView {
            reason: event.reason,
            from: event.from_pipedrive_id,
            to: event.to_pipedrive_id,
            at: format_ms(event.at),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GistView {
    /// GitHub's gist id.
    #[schema(value_type = String)]
    pub id: GistId,
    pub description: Option<String>,
    #[schema(value_type = String)]
    pub html_url: GithubUrl,
    #[schema(value_type = String)]
    pub pull_url: GithubUrl,
    pub files: Vec<FileView>,
    pub created_at: String,
    pub updated_at: String,
    /// When gisttrack first saw the gist.
    pub discovered_at: String,
    pub delivery: DeliveryState,
    /// The Pipedrive activity, once delivered.
    #[schema(value_type = Option<i64>)]
    pub activity_id: Option<ActivityId>,
    pub attempts: i32,
    /// Why the last attempt did not deliver: a failure, or (for `sending`) that no answer
    /// came back and the request may still land.
    pub last_error: Option<String>,
    /// For a `failed` gist its next try; for a `sending` one, when the attempt settles and
    /// it is looked for before anything is sent again.
    pub next_attempt_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileView {
    pub name: String,
    /// Null when GitHub's link was not an https one (or on its own host) and was dropped.
    #[schema(value_type = Option<String>)]
    pub raw_url: Option<GithubUrl>,
    pub language: Option<String>,
    pub size: i64,
}

/// One sync pass as `GET /api/v1/sync/runs` shows it. Times are RFC 3339 UTC.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncRunView {
    pub id: i64,
    pub trigger: RunTrigger,
    /// The process that ran the pass, as leases name it: `host/pid/start-ms/machine`.
    pub owner: String,
    pub started_at: String,
    /// Null while the pass runs (or if its process died).
    pub finished_at: Option<String>,
    #[serde(flatten)]
    pub counts: RunCounts,
    /// The same as `failed` (the name earlier versions used).
    pub failures: i32,
    pub error_summary: Option<String>,
}

impl From<SyncRun> for SyncRunView {
    fn from(run: SyncRun) -> Self {
        let counts = run.counts;
        SyncRunView {
            id: run.id,
            trigger: run.trigger_kind,
            owner: run.owner,
            started_at: format_ms(run.started_at),
            finished_at: run.finished_at.map(format_ms),
            failures: counts.failed,
            counts,
            error_summary: run.error_summary,
        }
    }
}

/// Which gists a view shows, and whether it counts as a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewMode {
    /// Gists first seen since the previous visit; records this visit.
    NewSinceLastVisit,
    /// The same gists, without recording a visit.
    Peek,
    /// Every gist, without recording a visit.
    All,
}

pub(crate) fn summary(person: &Person, counts: GistCounts) -> PersonSummary {
    PersonSummary {
        id: person.id,
        github_username: person.github_login.clone(),
        github_id: person.github_id,
        name: person.name.clone(),
        email: person.email.clone(),
        pipedrive_id: person.pipedrive_person_id,
        owner_id: person.pipedrive_owner_id,
        owner_name: person.pipedrive_owner_name.clone(),
        org_id: person.pipedrive_org_id,
        unlinked_at: person.unlinked_at.map(format_ms),
        backfill: person.backfill,
        gists_known: counts.known,
        deliveries_pending: counts.pending,
        deliveries_failed: counts.failed,
        added_at: format_ms(person.added_at),
        last_sync: person.last_synced_at.map(format_ms),
        last_visit: person.last_visited_at.map(format_ms),
        created_at: format_ms(person.added_at),
        updated_at: format_ms(
            [person.last_synced_at, person.last_visited_at]
                .into_iter()
                .flatten()
                .fold(person.added_at, i64::max),
        ),
    }
}

fn gist_view(gist: Gist, files: Vec<GistFile>) -> GistView {
    GistView {
        delivery: gist.delivery_state,
        id: gist.github_gist_id,
        description: gist.description,
        html_url: gist.html_url,
        pull_url: gist.pull_url,
        files: files
            .into_iter()
            .map(|f| FileView {
                name: f.name,
                raw_url: f.raw_url,
                language: f.language,
                size: f.size,
            })
            .collect(),
        created_at: format_ms(gist.github_created_at),
        updated_at: format_ms(gist.github_updated_at),
        discovered_at: format_ms(gist.first_seen_at),
        activity_id: gist.activity_id,
        attempts: gist.attempts,
        last_error: gist.last_error,
        next_attempt_at: gist.next_attempt_at.map(format_ms),
    }
}

/// Starts tracking a GitHub user, as claim, decide, act: validated, checked against GitHub,
/// then under the account's claim linked to a Pipedrive person (the one they had if they were
/// tracked before, else one an unanswered creation made, else one with their e-mail, else a
/// new one) and stored in the same transaction that gives the claim up. A refusal leaves
/// nothing behind but what must be remembered: a creation whose answer was lost, so the next
/// add finds that person instead of making a second. No Pipedrive person is ever deleted.
pub fn add_person(engine: &App, input: &str, backfill: bool) -> Result<PersonDetail> {
    let asked = Login::parse(input)?;
    engine.pipedrive_api()?;
    // Tracked under this very spelling: refused without asking GitHub.
    if let Some(existing) = people::find_by_login(&mut *engine.store.conn()?, &asked)? {
        return Err(Error::AlreadyTracked(existing.github_login));
    }
    let user = engine
        .github
        .user(asked.as_str())
        .map_err(Error::Github)?
        .ok_or_else(|| Error::GithubUserNotFound(asked.to_string()))?;
    add_user(engine, &asked, &user, backfill, None)
}

/// [`add_person`] for an account GitHub has described: under its claim, linked to a Pipedrive
/// person (one created for it belongs to `org`, an organization gisttrack follows) and stored.
pub(crate) fn add_user(
    engine: &App,
    asked: &Login,
    user: &crate::clients::GithubUser,
    backfill: bool,
    org: Option<PipedriveOrgId>,
) -> Result<PersonDetail> {
    let pipedrive = engine.pipedrive_api()?;
    let login = Login::parse(&user.login).unwrap_or_else(|_| asked.clone());
    let settings = &engine.settings;
    let claim = Claim::take(
        &engine.store,
        claim_terms(settings),
        user.id,
        ClaimPurpose::Add,
        login.as_str(),
    )?;
    let bound = settings.in_flight_bound.as_millis() as i64;
    let known = link::Known::read(&engine.store, user.id, &login)?;
    let now = engine.store.now_ms();
    let steps = match link::decide(&known, user.email.as_deref(), now, bound) {
        link::Decision::Refuse(refusal) => return Err(refusal.into_error(asked, login.as_str())),
        link::Decision::Link(steps) => steps,
    };
    let key = login.key();
    let display_name = user.name.clone().unwrap_or_else(|| login.to_string());
    let who = link::Candidate {
        github_id: user.id,
        login_key: &key,
        login: login.as_str(),
        name: &display_name,
        email: user.email.as_deref(),
        owner: settings.person_owner,
        org,
    };
    let linked = link::link(pipedrive, &claim, who, steps, bound)?;
    let new = NewPerson {
        github_login: login.as_str(),
        github_login_key: &key,
        github_id: Some(user.id),
        name: user.name.as_deref(),
        email: user.email.as_deref(),
        pipedrive_person_id: Some(linked.pipedrive_id),
        backfill,
        added_at: engine.store.now_ms(),
        activities_looked_at: linked.activities_looked_at(engine.store.now_ms()),
    };
    let person = claim.finish(|conn| {
        let person = people::insert(conn, &new)?;
        if linked.settles_a_creation() {
            person_creations::forget(conn, user.id, &key)?;
        }
        departed::forget(conn, user.id)?;
        Ok(person)
    })?;
    engine.store.touch();
    Ok(PersonDetail {
        person: summary(&person, GistCounts::default()),
        since: None,
        gists: Vec::new(),
        links: None,
    })
}

/// How adds and deletes ask for an account's claim: held as long as a sync lease, and
/// waited for a little, since the holder is usually a moment from done.
fn claim_terms(settings: &SyncSettings) -> claim::Terms {
    claim::Terms {
        ttl: settings.lease_ttl,
        patience: std::time::Duration::from_secs(2),
    }
}

/// Tracked people with their delivery counts, all or one page.
pub fn list_people(store: &Store, page: Option<Page>) -> Result<Vec<PersonSummary>> {
    let mut conn = store.conn()?;
    match page {
        Some(page) => Ok(people::page_with_counts(&mut conn, page)?
            .iter()
            .map(|(person, counts)| summary(person, *counts))
            .collect()),
        None => {
            let people = people::list(&mut conn)?;
            let counts = gists::counts(&mut conn)?;
            Ok(people
                .iter()
                .map(|p| summary(p, counts.get(&p.id).copied().unwrap_or_default()))
                .collect())
        }
    }
}

pub fn count_people(store: &Store) -> Result<i64> {
    people::count(&mut *store.conn()?)
}

/// A person and their gists: new since the previous visit (recording this one), peeked, or all.
///
/// A peek is one statement ([`gists::person_view`]): one round trip on MySQL. A visit reads
/// the same way, then records itself in one conditional statement that holds only while the
/// last visit is still the one the read saw, so the gists shown are exactly the new visit's
/// window; when another visit came in between, both are done again (two round trips, no
/// transaction).
pub fn view_person(store: &Store, input: &str, mode: ViewMode) -> Result<PersonDetail> {
    let login = Login::parse(input)?;
    let key = login.key();
    let not_tracked = || Error::NotTracked(login.to_string());
    let view = match mode {
        ViewMode::Peek => return peek_person(&mut *store.conn()?, input),
        ViewMode::All => {
            return store.read(|conn| {
                let view = gists::person_view(conn, &key, Which::All)?.ok_or_else(not_tracked)?;
                let links = match view.person.github_id {
                    Some(github_id) => link_history::for_account(conn, github_id)?
                        .into_iter()
                        .map(LinkView::from)
                        .collect(),
                    None => Vec::new(),
                };
                Ok(detail(view, None, Some(links)))
            })
        }
        ViewMode::NewSinceLastVisit => {
            let mut tries = 0;
            loop {
                tries += 1;
                let mut view = gists::person_view(&mut *store.conn()?, &key, Which::NewSinceVisit)?
                    .ok_or_else(not_tracked)?;
                let now = store.now_ms();
                let seen = view.person.last_visited_at;
                let new_seen = view.person.new_count;
                if store.write(|conn| {
                    people::record_visit_after(conn, view.person.id, seen, new_seen, now)
                })? {
                    store.touch();
                    let person = &mut view.person;
                    person.previous_visited_at = seen;
                    person.last_visited_at = Some(now);
                    break view;
                }
                if tries == 8 {
                    return Err(Error::DatabaseBusy(format!(
                        "{login} was visited {tries} times while this visit was recorded"
                    )));
                }
            }
        }
    };
    // The visit's window starts at the one before it (now the previous one).
    let since = view.person.previous_visited_at;
    Ok(detail(view, since, None))
}

/// A peek ([`ViewMode::Peek`]): one statement.
fn peek_person(conn: &mut DbConnection, input: &str) -> Result<PersonDetail> {
    let login = Login::parse(input)?;
    let view = gists::person_view(conn, &login.key(), Which::NewSinceVisit)?
        .ok_or_else(|| Error::NotTracked(login.to_string()))?;
    let since = view.person.last_visited_at;
    Ok(detail(view, since, None))
}

/// A person's view as the API answers it.
fn detail(
    view: gists::PersonView,
    since: Option<i64>,
    links: Option<Vec<LinkView>>,
) -> PersonDetail {
    PersonDetail {
        person: summary(&view.person, view.counts),
        since: since.map(format_ms),
        gists: view
            .gists
            .into_iter()
            .map(|(g, f)| gist_view(g, f))
            .collect(),
        links,
    }
}

/// The delivery gauges `/metrics` shows: read from the ledger, so every process sharing the
/// database reports the same.
pub fn delivery_gauges(store: &Store) -> Result<Vec<Gauge>> {
    let totals = gists::totals(&mut *store.conn()?)?;
    Ok(vec![
        Gauge {
            name: "gisttrack_deliveries_pending",
            help: "Gists waiting for their activity (including attempts that may still land).",
            value: totals.pending,
        },
        Gauge {
            name: "gisttrack_deliveries_failed",
            help: "Gists whose last delivery attempt failed; retried with backoff.",
            value: totals.failed,
        },
    ])
}

/// The most recent sync passes, newest first.
pub fn recent_runs(store: &Store, limit: i64) -> Result<Vec<SyncRunView>> {
    let runs = sync_runs::recent(&mut *store.conn()?, limit)?;
    Ok(runs.into_iter().map(SyncRunView::from).collect())
}

/// Stops tracking a user and removes their rows; returns the login as GitHub spells it.
/// Pipedrive keeps its person and activities: they are the sales team's records now, and the
/// person is remembered for the account (with when its last delivery settles), so adding the
/// user again reuses it. The delete holds the account's claim, as an add does, so the two
/// never interleave; of two deletes at once, one wins and the other finds it not tracked.
pub fn delete_person(store: &Store, settings: &SyncSettings, input: &str) -> Result<String> {
    let login = Login::parse(input)?;
    let person = people::get_by_login(&mut *store.conn()?, &login)?;
    // Every attempt records when it settles; the bound only covers rows from before it did.
    let bound = settings.in_flight_bound.as_millis() as i64;
    let remove = |conn: &mut DbConnection| {
        // Read again under the claim: the account may have been deleted and added back (a
        // new row) since it was looked up.
        let current = match person.github_id {
            Some(github_id) => people::find_by_github_id(conn, github_id)?,
            None => people::find_by_login(conn, &login)?,
        };
        let Some(current) = current else {
            return Err(Error::NotTracked(login.to_string()));
        };
        // The person, then their gists, locked before anything is read: a worker's mark of
        // an attempt then either committed already, and is counted below, or waits for this
        // delete and finds nothing to mark.
        if !people::lock(conn, current.id)? {
            return Err(Error::NotTracked(login.to_string()));
        }
        let person = people::get(conn, current.id)?;
        gists::lock_for_person(conn, person.id)?;
        let settles_at = gists::settles_at(conn, person.id, bound)?;
        people::delete(conn, person.id)?;
        if let Some(github_id) = person.github_id {
            let departed = Departed {
                github_id,
                // Remembered even when it was found gone: added again, the user is linked
                // to it, and the next pass's look follows its merge or shows them unlinked
                // as before. Linking them as someone new would create a second person for
                // the account behind the sales team's back (a merge with nothing to prove
                // it leaves the survivor in the CRM); `relink --create` does that on request.
                pipedrive_person_id: person.pipedrive_person_id,
                settles_at,
                departed_at: store.now_ms(),
            };
            departed::record(conn, &departed)?;
        }
        Ok(person.github_login)
    };
    let deleted = match person.github_id {
        Some(github_id) => {
            let terms = claim::Terms {
                patience: std::time::Duration::from_secs(5),
                ..claim_terms(settings)
            };
            Claim::take(
                store,
                terms,
                github_id,
                ClaimPurpose::Delete,
                &person.github_login,
            )?
            .finish(remove)?
        }
        // A row written without its account (by hand, another tool): no add can claim it.
        None => store.transaction(remove)?,
    };
    store.touch();
    Ok(deleted)
}
