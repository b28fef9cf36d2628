//! Discovery: one conditional listing per person, folded into the ledger with its ETag, as
//! `sync::plan::listing` decides; the dry run reports the same plan and writes nothing.

use std::collections::HashSet;

use super::look::Looked;
use super::plan::{self, Step, Tracking};
use super::{activity, Pass, PlannedActivity, Service};
use crate::clients::{ApiError, GistId, GistListing, RemoteGist};
use crate::db::gists::{self, FileContent, Gist, GistContent, GistFile};
use crate::db::people::{self, Person};
use crate::db::DbConnection;
use crate::error::{Error, Result};
use crate::login::Login;

/// What discovery found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Discovered {
    /// Unchanged, with nothing to deliver: recorded, and the lease released with it.
    Done,
    /// Unchanged (a 304), or GitHub is left alone for the rest of the pass.
    Unchanged,
    /// A changed listing, with this many gists new to the ledger.
    New(usize),
}

/// Lists the person's gists (a 304 when nothing changed) and records what the listing
/// changes in the same transaction that stores the new ETag. Follows a rename into `person`.
/// An unchanged person without unfinished deliveries is finished in the same statement.
pub(super) fn discover(
    pass: &Pass<'_>,
    person: &mut Person,
    has_unfinished: bool,
) -> Result<Discovered> {
    if pass.stopped(Service::Github) {
        return Ok(Discovered::Unchanged);
    }
    pass.record(|r| r.counts.users_checked += 1);
    let listing = list(pass, person)?;
    let (etag, listed) = match listing {
        GistListing::NotModified => {
            pass.record(|r| r.counts.users_unchanged += 1);
            let store = &pass.engine.store;
            if !has_unfinished {
                let held = store.write(|conn| {
                    people::mark_listed_and_release(conn, person.id, pass.owner, pass.now())
                })?;
                return match held {
                    true => Ok(Discovered::Done),
                    false => Err(Error::LeaseLost(person.github_login.clone())),
                };
            }
            store
                .write(|conn| people::mark_listed(conn, person.id, pass.owner, None, pass.now()))?;
            return Ok(Discovered::Unchanged);
        }
        GistListing::UserGone => return Err(user_gone(person)),
        GistListing::Changed { etag, gists } => (etag, gists),
    };
    let recorded = pass.engine.store.transaction(|conn| {
        let now = pass.now();
        if !people::mark_listed(conn, person.id, pass.owner, etag.as_deref(), now)? {
            return Err(Error::LeaseLost(person.github_login.clone()));
        }
        record_listing(conn, person, &listed, now)
    })?;
    // The look that follows goes back as far as the listing just made it (see
    // `people::look_back_to`).
    if let (Some(oldest), Some(looked)) = (recorded.oldest_new, person.activities_looked_at) {
        person.activities_looked_at = Some(looked.min(oldest));
    }
    let inserted = recorded.new;
    pass.engine.metrics.gists_found.add(inserted as u64);
    pass.record(|r| r.counts.new_gists += inserted as i32);
    Ok(Discovered::New(inserted))
}

/// What a listing added to a person's ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// Gists new to the ledger.
    pub new: usize,
    /// When the oldest of them was created on GitHub (Unix ms).
    pub oldest_new: Option<i64>,
}

/// Folds one complete listing into the person's ledger as [`plan::listing`] decides. Call
/// inside the transaction that stores the listing's ETag.
pub fn record_listing(
    conn: &mut DbConnection,
    person: &Person,
    listed: &[RemoteGist],
    now: i64,
) -> Result<Recorded> {
    let known = gists::known(conn, person.id)?;
    let plan = plan::listing(listed, &known, tracking(person));
    let new: Vec<_> = plan
        .new
        .iter()
        .map(|(g, state)| (content(g), *state))
        .collect();
    gists::insert_new(conn, person.id, &new, now)?;
    people::add_new(conn, person.id, new.len() as i64, now)?;
    // An activity for a gist cannot be older than the gist: the next look goes back at least
    // that far, so a marker it saw before the gist was known here (another install's) is
    // seen again now that it can be recorded.
    let oldest_new = new.iter().map(|(g, _)| g.created_at).min();
    if let Some(oldest) = oldest_new {
        people::look_back_to(conn, person.id, oldest)?;
    }
    for (row, gist) in &plan.refreshed {
        gists::refresh(conn, *row, &content(gist))?;
    }
    Ok(Recorded {
        new: new.len(),
        oldest_new,
    })
}

fn tracking(person: &Person) -> Tracking {
    Tracking {
        backfill: person.backfill,
        added_at: person.added_at,
    }
}

fn user_gone(person: &Person) -> Error {
    Error::Github(ApiError::Rejected {
        status: 404,
        message: format!("GitHub user {} no longer exists", person.github_login),
    })
}

/// A listed gist as the ledger records it.
fn content(gist: &RemoteGist) -> GistContent<'_> {
    GistContent {
        github_gist_id: &gist.id,
        description: gist.description.as_deref(),
        html_url: &gist.html_url,
        pull_url: &gist.pull_url,
        created_at: gist.created_at,
        updated_at: gist.updated_at,
        files: gist
            .files
            .iter()
            .map(|f| FileContent {
                name: &f.name,
                raw_url: f.raw_url.as_ref(),
                language: f.language.as_deref(),
                size: f.size,
            })
            .collect(),
    }
}

/// The conditional listing, following a rename through the account's numeric id.
fn list(pass: &Pass<'_>, person: &mut Person) -> Result<GistListing> {
    let github = &pass.engine.github;
    let fail = |err: ApiError| pass.upstream_failed(Service::Github, err);
    let listing = github
        .list_gists(&person.github_login, person.gists_etag.as_deref())
        .map_err(fail)?;
    if listing != GistListing::UserGone || pass.options.dry_run {
        return Ok(listing);
    }
    let Some(github_id) = person.github_id else {
        return Ok(listing);
    };
    let renamed = match github.user_by_id(github_id).map_err(fail)? {
        Some(user) if !user.login.eq_ignore_ascii_case(&person.github_login) => user,
        _ => return Ok(listing),
    };
    let Ok(login) = Login::parse(&renamed.login) else {
        return Ok(listing);
    };
    log::info!(
        "sync: {} was renamed to {login} on GitHub; following",
        person.github_login
    );
    pass.engine
        .store
        .write(|conn| people::rename(conn, person.id, &login))?;
    person.github_login = login.to_string();
    person.github_login_key = login.key();
    person.gists_etag = None;
    github.list_gists(&person.github_login, None).map_err(fail)
}

/// Dry run: asks GitHub (conditionally), and Pipedrive with the same look a delivery makes
/// (GETs only), and reports what the pass would do, from the same plans and the same look,
/// writing nothing.
pub(super) fn preview(pass: &Pass<'_>, person: &Person) {
    pass.record(|r| r.counts.users_checked += 1);
    // As in the pass, a listing that fails leaves the deliveries already due to go on.
    let listing = match pass.stopped(Service::Github) {
        true => GistListing::NotModified,
        false => list(pass, &mut person.clone()).unwrap_or_else(|err| {
            pass.error(&person.github_login, err);
            GistListing::NotModified
        }),
    };
    let read = pass.engine.store.conn().and_then(|mut conn| {
        let known = gists::known(&mut conn, person.id)?;
        let due =
            gists::due_for_delivery(&mut conn, person.id, pass.now(), pass.options.retry_failed)?;
        Ok((known, gists::with_files(&mut conn, due)?))
    });
    let (known, due) = match read {
        Ok(read) => read,
        Err(err) => return pass.error(&person.github_login, err),
    };
    let (bound, now) = (pass.in_flight_bound_ms(), pass.now());
    let planned_for = |gist_id: &GistId, text: activity::GistText<'_>| PlannedActivity {
        github_username: person.github_login.clone(),
        gist_id: gist_id.to_string(),
        subject: activity::subject(&text),
    };
    // Rows already due: sent, or looked for first (either way at most one activity); rows
    // that may still land wait, unless the look finds them.
    let steps: Vec<(&Gist, &[GistFile], Step)> = due
        .iter()
        .filter_map(|(gist, files)| {
            let step = plan::step_for(gist.row_state(), now, bound)?;
            Some((gist, files.as_slice(), step))
        })
        .collect();
    let mut planned: Vec<PlannedActivity> = steps
        .iter()
        .filter(|(_, _, step)| matches!(step, Step::Send | Step::Reconcile))
        .map(|(gist, files, _)| {
            planned_for(&gist.github_gist_id, activity::GistText::of(gist, files))
        })
        .collect();
    let waiting: Vec<GistId> = steps
        .iter()
        .filter(|(_, _, step)| matches!(step, Step::Wait { .. }))
        .map(|(gist, _, _)| gist.github_gist_id.clone())
        .collect();
    let listed = match &listing {
        GistListing::Changed { gists, .. } => gists.as_slice(),
        _ => &[],
    };
    let plan = plan::listing(listed, &known, tracking(person));
    planned.extend(
        plan.deliverable()
            .map(|gist| planned_for(&gist.id, activity::GistText::of_remote(gist))),
    );
    let ledger = known
        .iter()
        .map(|k| k.github_gist_id.clone())
        .chain(plan.new.iter().map(|(g, _)| g.id.clone()))
        .collect();
    let due_since = super::delivery::attempts_since(steps.iter().map(|(g, _, s)| (*g, s)));
    let prediction = match predict(pass, person, planned, &waiting, &ledger, due_since) {
        Ok(prediction) => prediction,
        Err(err) => return pass.error(&person.github_login, err),
    };
    pass.record(|r| {
        r.counts.new_gists += plan.new.len() as i32;
        if listing == GistListing::NotModified {
            r.counts.users_unchanged += 1;
        }
        r.counts.deliveries_waiting += prediction.waiting;
        r.counts.activities_reconciled += prediction.reconciled;
        r.counts.users_relinked += prediction.relinked;
        r.counts.users_unlinked += prediction.unlinked;
        r.planned.extend(prediction.created);
    });
}

/// What a pass would do with the activities planned for a person.
#[derive(Default)]
struct Prediction {
    created: Vec<PlannedActivity>,
    reconciled: i32,
    waiting: i32,
    relinked: i32,
    unlinked: i32,
}

/// Looks at the person's Pipedrive person as the delivery would: what is already there
/// would be reconciled, not created; a merge followed; a deleted person would leave the user
/// unlinked, with nothing sent. Without a Pipedrive token, the plan as the ledger has it.
fn predict(
    pass: &Pass<'_>,
    person: &Person,
    planned: Vec<PlannedActivity>,
    waiting: &[GistId],
    ledger: &HashSet<GistId>,
    attempts_since: Option<i64>,
) -> Result<Prediction> {
    let Some(pipedrive) = pass.engine.pipedrive.as_deref() else {
        return Ok(Prediction {
            created: planned,
            waiting: waiting.len() as i32,
            ..Prediction::default()
        });
    };
    if person.unlinked_at.is_some() || pass.stopped(Service::Pipedrive) {
        return Ok(Prediction::default());
    }
    if planned.is_empty() {
        // Nothing to send: the pass looks at nothing either.
        return Ok(Prediction {
            waiting: waiting.len() as i32,
            ..Prediction::default()
        });
    }
    let linked = person
        .pipedrive_person_id
        .ok_or_else(|| Error::NotLinked(person.github_login.clone()))?;
    let looked = pass
        .looking(pipedrive)
        .look(person, linked, ledger, attempts_since)
        .map_err(|err| pass.upstream_failed(Service::Pipedrive, err))?;
    let (look, relinked) = match looked {
        Looked::At(look) => (look, 0),
        Looked::Merged { look, .. } => (look, 1),
        Looked::Deleted { .. } => {
            return Ok(Prediction {
                unlinked: 1,
                ..Prediction::default()
            })
        }
    };
    let (found, created): (Vec<_>, Vec<_>) = planned
        .into_iter()
        .partition(|p| GistId::parse(&p.gist_id).is_ok_and(|gist| look.found.contains_key(&gist)));
    let found_waiting = waiting
        .iter()
        .filter(|g| look.found.contains_key(g))
        .count();
    Ok(Prediction {
        created,
        reconciled: (found.len() + found_waiting) as i32,
        waiting: (waiting.len() - found_waiting) as i32,
        relinked,
        unlinked: 0,
    })
}
