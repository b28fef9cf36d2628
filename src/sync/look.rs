//! Looking before writing: before anything is delivered to a person, their Pipedrive person is
//! read (its owner and organization, its one open deal, or that it is gone) and so are their
//! activities changed since the last look, so that a gist already there (sent by another
//! install, before a backup was restored, moved by a merge) is recorded, not sent again. A
//! person that is gone is followed to the survivor of a merge, proven by carrying this user's
//! markers. Reads only: the pass and the dry run act on the same look.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use super::activity::{self, ActivitySettings, Recipient};
use crate::clients::{
    ActivitySummary, ApiError, GistId, PersonField, PersonLookup, PersonRecord, PipedriveApi,
};
use crate::db::people::Person;
use crate::ids::{ActivityId, PipedrivePersonId, PipedriveUserId};

/// How far before the last look to ask for changes again: Pipedrive stamps `update_time`
/// with its own clock, which need not agree with ours.
pub use crate::time::CLOCK_SLACK_MS;

/// Candidates for a merge's survivor read at most: the e-mail and name searches put the
/// likely ones first, and each costs a full read of its activities (a common name can
/// match many persons).
const MAX_CANDIDATES: usize = 10;

/// What one look found for a person who is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    /// When the activity read began: the next look asks for changes since then.
    pub started_at: i64,
    pub to: Recipient,
    pub owner_name: Option<String>,
    /// gisttrack's markers among the activities read: GitHub gist id to activity.
    pub found: HashMap<GistId, ActivityId>,
}

/// What looking at a person's Pipedrive person found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Looked {
    /// The person is there.
    At(Look),
    /// The person is gone, and `look` is at the survivor of the merge that took it (its
    /// activities carry this user's markers), read in full.
    Merged { from: PipedrivePersonId, look: Look },
    /// The person is gone and no survivor carries this user's markers.
    Deleted { from: PipedrivePersonId },
}

/// What a look needs besides the person: the client, how activities are made, and the
/// owners' names.
pub struct Looking<'a> {
    pub pipedrive: &'a dyn PipedriveApi,
    /// When a look starts is taken from here.
    pub clock: &'a dyn crate::time::Clock,
    pub settings: &'a ActivitySettings,
    pub names: &'a OwnerNames,
}

/// The company's users' names, read once per pass and only when an owner needs a name; a
/// token that may not read users (or a failed read) leaves names unknown, never a delivery.
#[derive(Default)]
pub struct OwnerNames(OnceLock<HashMap<PipedriveUserId, String>>);

impl OwnerNames {
    pub fn name(&self, pipedrive: &dyn PipedriveApi, user: PipedriveUserId) -> Option<String> {
        let names = self.0.get_or_init(|| match pipedrive.user_names() {
            Ok(Some(users)) => users.into_iter().collect(),
            Ok(None) => {
                log::info!("sync: the Pipedrive token may not read users; owners are shown by id");
                HashMap::new()
            }
            Err(err) => {
                log::info!(
                    "sync: could not read Pipedrive's users ({err}); owners are shown by id"
                );
                HashMap::new()
            }
        });
        names.get(&user).cloned()
    }
}

impl Looking<'_> {
    /// Looks at `pipedrive_id`, the person `person` is linked to. `ledger` is every GitHub gist
    /// id of theirs gisttrack knows: the proof a survivor is theirs. `attempts_since` is when
    /// the earliest attempt still to be looked for began: the look reaches back at least that
    /// far (a look taken while it was under way moved the last look's time past it).
    pub fn look(
        &self,
        person: &Person,
        pipedrive_id: PipedrivePersonId,
        ledger: &HashSet<GistId>,
        attempts_since: Option<i64>,
    ) -> Result<Looked, ApiError> {
        let started_at = self.clock.now_ms();
        let since = person.activities_looked_at.map(|looked| {
            attempts_since.map_or(looked, |attempt| looked.min(attempt)) - CLOCK_SLACK_MS
        });
        // The person first: a person changed since the last look may have had another merged
        // into it, whose activities need not carry a new update time, so theirs are then read
        // in full. Either way one read of each.
        match self.pipedrive.person(pipedrive_id)? {
            PersonLookup::Found(record) => {
                let changed = match (since, record.updated_at) {
                    (Some(since), Some(updated)) => updated >= since,
                    _ => false,
                };
                let since = since.filter(|_| !changed);
                let activities = self.pipedrive.person_activities(pipedrive_id, since)?;
                Ok(Looked::At(self.finish(started_at, record, &activities)?))
            }
            PersonLookup::Gone => match self.survivor(person, pipedrive_id, ledger)? {
                Some((record, activities)) => Ok(Looked::Merged {
                    from: pipedrive_id,
                    look: self.finish(started_at, record, &activities)?,
                }),
                None => Ok(Looked::Deleted { from: pipedrive_id }),
            },
        }
    }

    /// The person a merge left, among those with the user's e-mail, then their exact name:
    /// one whose activities carry this user's markers (a merge moves them). When several do
    /// (the user's activities ended up on more than one person), the one with the most, and
    /// the markers of all of them count as found: each is an activity the sales team has.
    fn survivor(
        &self,
        person: &Person,
        gone: PipedrivePersonId,
        ledger: &HashSet<GistId>,
    ) -> Result<Option<(PersonRecord, Vec<ActivitySummary>)>, ApiError> {
        let mut candidates: Vec<PipedrivePersonId> = Vec::new();
        let name = person.name.as_deref().unwrap_or(&person.github_login);
        let searches = [
            person
                .email
                .as_deref()
                .map(|email| (PersonField::Email, email)),
            Some((PersonField::Name, name)),
        ];
        for (field, term) in searches.into_iter().flatten() {
            for id in self.pipedrive.find_persons(field, term)? {
                if id != gone && !candidates.contains(&id) {
                    candidates.push(id);
                }
            }
        }
        let mut best: Option<(PersonRecord, usize)> = None;
        let mut carried: Vec<ActivitySummary> = Vec::new();
        for candidate in candidates.into_iter().take(MAX_CANDIDATES) {
            let activities = self.pipedrive.person_activities(candidate, None)?;
            let theirs: Vec<ActivitySummary> = activities
                .into_iter()
                .filter(|a| activity::markers(&a.note).any(|gist| ledger.contains(&gist)))
                .collect();
            if theirs.is_empty() {
                continue;
            }
            if let PersonLookup::Found(record) = self.pipedrive.person(candidate)? {
                if best.as_ref().is_none_or(|(_, most)| theirs.len() > *most) {
                    best = Some((record, theirs.len()));
                }
                carried.extend(theirs);
            }
        }
        Ok(best.map(|(record, _)| {
            log::info!(
                "sync: Pipedrive person {gone} of {} is gone; its activities are on {} now",
                person.github_login,
                record.id
            );
            (record, carried)
        }))
    }

    fn finish(
        &self,
        started_at: i64,
        record: PersonRecord,
        activities: &[ActivitySummary],
    ) -> Result<Look, ApiError> {
        let deal = if self.settings.link_open_deal {
            match self.pipedrive.open_deals(record.id) {
                Ok(deals) if deals.len() == 1 => Some(deals[0]),
                Ok(_) => None,
                // A deal is a link worth having, not a reason to hold an activity back (deals
                // may be out of the token's reach, or Pipedrive slow to list them).
                Err(err) => {
                    log::info!(
                        "sync: the open deals of Pipedrive person {} could not be read ({err}); the activity goes without one",
                        record.id
                    );
                    None
                }
            }
        } else {
            None
        };
        Ok(Look {
            started_at,
            owner_name: record
                .owner_id
                .and_then(|owner| self.names.name(self.pipedrive, owner)),
            to: Recipient {
                person: record.id,
                owner: record.owner_id,
                org: record.org_id,
                deal,
            },
            found: found_markers(activities),
        })
    }
}

/// gisttrack's markers in these activities: GitHub gist id to the (first) activity that
/// carries it.
pub fn found_markers(activities: &[ActivitySummary]) -> HashMap<GistId, ActivityId> {
    let mut found = HashMap::new();
    for summary in activities {
        for gist in activity::markers(&summary.note) {
            found.entry(gist).or_insert(summary.id);
        }
    }
    found
}
