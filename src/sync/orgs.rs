//! A pass's look at the followed organizations, before anyone's gists: each member list asked
//! for conditionally (an unchanged one is a free 304), new members tracked as `add` would,
//! leavers marked; the new members' gists are then delivered by the same pass.

use super::{Pass, Service};
use crate::clients::MemberListing;
use crate::db::orgs;
use crate::error::{Error, Result};
use crate::service::orgs::{apply_members, settle_pipedrive_org};

/// Looks at every followed organization; returns how many members it started tracking.
/// A failure is reported for its organization (or member) and never stops the pass.
pub(super) fn follow(pass: &Pass<'_>) -> usize {
    let engine = pass.engine;
    let followed = match orgs::list(&mut *match engine.store.conn() {
        Ok(conn) => conn,
        Err(err) => {
            pass.stop_reading(err);
            return 0;
        }
    }) {
        Ok(followed) => followed,
        Err(err) => {
            pass.stop_reading(err);
            return 0;
        }
    };
    let mut added = 0;
    for org in followed {
        if engine.shutdown.load(std::sync::atomic::Ordering::SeqCst)
            || pass.stopped(Service::Github)
        {
            break;
        }
        match follow_one(pass, org.github_id) {
            Ok(n) => added += n,
            Err(err) => {
                if let Error::Github(api) = &err {
                    pass.note_failure(Service::Github, api);
                }
                if let Error::Pipedrive(api) = &err {
                    pass.note_failure(Service::Pipedrive, api);
                }
                pass.error(&format!("organization {}", org.login), err);
            }
        }
    }
    added
}

fn follow_one(pass: &Pass<'_>, github_id: crate::ids::GithubUserId) -> Result<usize> {
    let engine = pass.engine;
    // An organization whose Pipedrive organization is not settled yet (an add that failed
    // there) is settled first: its members' persons belong to it.
    let org = settle_pipedrive_org(engine, github_id)?;
    let listing = engine
        .github
        .org_members(&org.login, org.members_etag.as_deref())
        .map_err(Error::Github)?;
    match listing {
        MemberListing::NotModified => Ok(0),
        MemberListing::OrgGone => Err(Error::GithubOrgNotFound(org.login.clone())),
        MemberListing::Changed { etag, members } => {
            let changes = apply_members(engine, &org, &members)?;
            // A member that failed is tried again: the list is read in full next time.
            let keep = changes.failed.is_empty().then_some(etag).flatten();
            engine.store.write(|conn| {
                orgs::mark_listed(conn, org.github_id, keep.as_deref(), engine.store.now_ms())
            })?;
            for failed in &changes.failed {
                pass.error(
                    &format!("{} (member of {})", failed.login, org.login),
                    Error::PartlyFailed(failed.error.clone()),
                );
            }
            if !changes.added.is_empty() {
                log::info!(
                    "sync: organization {}: now tracking {}",
                    org.login,
                    crate::output::few(&changes.added, 10)
                );
            }
            Ok(changes.added.len())
        }
    }
}
