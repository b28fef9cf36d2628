//! Discovery: one conditional listing per person, folded into the ledger with its ETag.

use std::collections::HashSet;

use diesel::prelude::*;

use super::{activity, Pass, PlannedActivity};
use crate::clients::{ApiError, GistListing, RemoteGist};
use crate::db::gists;
use crate::db::people::{self, Person};
use crate::db::schema;
use crate::error::{Error, Result};
use crate::login::Login;
use crate::time::now_ms;

/// Lists the person's gists (a 304 when nothing changed) and records new ones as pending in
/// the same transaction that stores the new ETag. Follows a rename into `person`.
pub(super) fn discover(pass: &Pass<'_>, person: &mut Person) -> Result<()> {
    if Pass::stopped(&pass.github_stopped) {
        return Ok(());
    }
    pass.record(|r| r.counts.users_checked += 1);
    let listing = list(pass, person)?;
    let person = &*person;
    let engine = pass.engine;
    let outcome = match listing {
        GistListing::NotModified => engine.store.transaction(|conn| {
            people::mark_listed(conn, person.id, pass.owner, None, now_ms())?;
            Ok(None)
        }),
        GistListing::UserGone => Err(Error::Github(ApiError::Rejected {
            status: 404,
            message: format!("GitHub user {} no longer exists", person.github_login),
        })),
        GistListing::Changed { etag, gists } => engine.store.transaction(|conn| {
            let now = now_ms();
            if !people::mark_listed(conn, person.id, pass.owner, etag.as_deref(), now)? {
                return Err(Error::LeaseLost(person.github_login.clone()));
            }
            Ok(Some(gists::record_listing(conn, person, &gists, now)?))
        }),
    };
    match outcome? {
        None => pass.record(|r| r.counts.users_unchanged += 1),
        Some(changes) => {
            engine.metrics.gists_found.add(changes.inserted as u64);
            pass.record(|r| r.counts.new_gists += changes.inserted as i32);
        }
    }
    Ok(())
}

/// The conditional listing, following a rename through the account's numeric id.
fn list(pass: &Pass<'_>, person: &mut Person) -> Result<GistListing> {
    let github = &pass.engine.github;
    let fail = |err: ApiError| {
        if err.stops_service() {
            pass.stop(&pass.github_stopped, &err);
        }
        Error::Github(err)
    };
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

/// Dry run: asks GitHub (conditionally) and reports what would be created, writing nothing.
pub(super) fn preview(pass: &Pass<'_>, person: &Person) {
    pass.record(|r| r.counts.users_checked += 1);
    let listing = if Pass::stopped(&pass.github_stopped) {
        GistListing::NotModified
    } else {
        match list(pass, &mut person.clone()) {
            Ok(listing) => listing,
            Err(err) => return pass.error(&person.github_login, err),
        }
    };
    let result = pass.engine.store.conn().and_then(|mut conn| {
        let known: HashSet<String> = schema::gists::table
            .filter(schema::gists::person_id.eq(person.id))
            .select(schema::gists::github_gist_id)
            .load::<String>(&mut *conn)?
            .into_iter()
            .collect();
        let due =
            gists::due_for_delivery(&mut conn, person.id, now_ms(), pass.options.retry_failed)?;
        let due = gists::with_files(&mut conn, due)?;
        Ok((known, due))
    });
    let (known, due) = match result {
        Ok(found) => found,
        Err(err) => return pass.error(&person.github_login, err),
    };
    let mut planned: Vec<PlannedActivity> = due
        .iter()
        .map(|(gist, files)| PlannedActivity {
            github_username: person.github_login.clone(),
            gist_id: gist.github_gist_id.clone(),
            subject: activity::subject(&activity::GistText::of(gist, files)),
        })
        .collect();
    let fresh: Vec<&RemoteGist> = match &listing {
        GistListing::Changed { gists, .. } => {
            gists.iter().filter(|g| !known.contains(&g.id)).collect()
        }
        _ => Vec::new(),
    };
    for remote in &fresh {
        if person.backfill || remote.created_at >= person.added_at {
            planned.push(PlannedActivity {
                github_username: person.github_login.clone(),
                gist_id: remote.id.clone(),
                subject: activity::subject(&activity::GistText::of_remote(remote)),
            });
        }
    }
    pass.record(|r| {
        r.counts.new_gists += fresh.len() as i32;
        if listing == GistListing::NotModified {
            r.counts.users_unchanged += 1;
        }
        r.planned.extend(planned);
    });
}
