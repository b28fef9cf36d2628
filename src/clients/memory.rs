//! GitHub and Pipedrive in memory, behind the same traits as the real clients, for tests that
//! drive the sync engine and the service layer in-process: state as the real services keep
//! it (persons with owners, activities with markers, merges, deletes, ETags), a clock shared
//! with the store, and faults injected at the request they hit (an answer lost after the
//! write, a write that lands late, Pipedrive's own 500, a refusal, a rate limit, a process
//! that dies mid-request). No network, no waiting.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{
    ActivitySummary, ApiError, Created, GistId, GistListing, GithubApi, GithubOrg, GithubUrl,
    GithubUser, MemberListing, NewActivity, NewPipedrivePerson, OrgMember, PersonField,
    PersonLookup, PersonRecord, PipedriveAccount, PipedriveApi, RateBudget, RemoteFile, RemoteGist,
};
use crate::ids::{
    ActivityId, DealId, GithubUserId, PipedriveOrgId, PipedrivePersonId, PipedriveUserId,
};
use crate::time::Clock;

/// A GitHub account in memory.
#[derive(Debug, Clone)]
pub struct MemoryUser {
    pub login: String,
    pub id: GithubUserId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub gists: Vec<RemoteGist>,
    /// Bumped by every change to the list: its ETag.
    pub version: u64,
}

/// A GitHub organization in memory: its public members (login, id, bot).
#[derive(Debug, Clone)]
pub struct MemoryOrg {
    pub login: String,
    pub id: GithubUserId,
    pub name: Option<String>,
    pub members: Vec<(String, GithubUserId, bool)>,
    /// Bumped by every change to the member list: its ETag.
    pub version: u64,
}

/// GitHub with its users and their gists.
#[derive(Debug, Default)]
pub struct MemoryGithub {
    users: Mutex<Vec<MemoryUser>>,
    orgs: Mutex<Vec<MemoryOrg>>,
    /// A transport failure for the next this many requests.
    failing: Mutex<u32>,
    /// Listings that were not 304s (what GitHub's budget counts).
    pub counted: std::sync::atomic::AtomicU64,
}

impl MemoryGithub {
    fn users(&self) -> MutexGuard<'_, Vec<MemoryUser>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an account with `gists` gists created at `created_at` (Unix ms); its id.
    pub fn add_user(
        &self,
        login: &str,
        email: Option<&str>,
        gists: usize,
        created_at: i64,
    ) -> GithubUserId {
        let mut users = self.users();
        let id = GithubUserId(1_000 + users.len() as i64);
        let gists = (0..gists)
            .map(|n| {
                gist(
                    &format!("{}g{n}", login.to_lowercase().replace('-', "")),
                    created_at,
                )
            })
            .collect();
        users.push(MemoryUser {
            login: login.to_string(),
            id,
            name: Some(format!("{login} Example")),
            email: email.map(str::to_string),
            gists,
            version: 1,
        });
        id
    }

    /// A new gist for the account; its id.
    pub fn add_gist(&self, login: &str, created_at: i64) -> GistId {
        let mut users = self.users();
        let user = users
            .iter_mut()
            .find(|u| u.login.eq_ignore_ascii_case(login))
            .expect("a memory user");
        let id = format!(
            "{}n{}",
            user.login.to_lowercase().replace('-', ""),
            user.gists.len()
        );
        let new = gist(&id, created_at);
        let gist_id = new.id.clone();
        user.gists.push(new);
        user.version += 1;
        gist_id
    }

    /// Every gist id of the account.
    pub fn gist_ids(&self, login: &str) -> Vec<GistId> {
        self.users()
            .iter()
            .find(|u| u.login.eq_ignore_ascii_case(login))
            .map(|u| u.gists.iter().map(|g| g.id.clone()).collect())
            .unwrap_or_default()
    }

    fn orgs(&self) -> MutexGuard<'_, Vec<MemoryOrg>> {
        self.orgs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An organization with no public members yet; its id.
    pub fn add_org(&self, login: &str, name: Option<&str>) -> GithubUserId {
        let mut orgs = self.orgs();
        let id = GithubUserId(900_000 + orgs.len() as i64);
        orgs.push(MemoryOrg {
            login: login.to_string(),
            id,
            name: name.map(str::to_string),
            members: Vec::new(),
            version: 1,
        });
        id
    }

    /// Makes an account (a user added with [`MemoryGithub::add_user`], or a bot that has no
    /// gists) a public member of the organization.
    pub fn add_member(&self, org: &str, login: &str, bot: bool) {
        let id = match self
            .users()
            .iter()
            .find(|u| u.login.eq_ignore_ascii_case(login))
        {
            Some(user) => user.id,
            None => GithubUserId(500_000 + fastrand::i64(0..400_000)),
        };
        let mut orgs = self.orgs();
        let org = orgs
            .iter_mut()
            .find(|o| o.login.eq_ignore_ascii_case(org))
            .expect("a memory organization");
        org.members.push((login.to_string(), id, bot));
        org.version += 1;
    }

    /// The account leaves the organization's public list.
    pub fn remove_member(&self, org: &str, login: &str) {
        let mut orgs = self.orgs();
        let org = orgs
            .iter_mut()
            .find(|o| o.login.eq_ignore_ascii_case(org))
            .expect("a memory organization");
        org.members
            .retain(|(l, _, _)| !l.eq_ignore_ascii_case(login));
        org.version += 1;
    }

    /// The next `requests` requests fail with no answer.
    pub fn fail_next(&self, requests: u32) {
        *self.failing.lock().unwrap_or_else(|e| e.into_inner()) = requests;
    }

    fn check(&self) -> Result<(), ApiError> {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        if *failing > 0 {
            *failing -= 1;
            return Err(ApiError::Transport("connection reset (injected)".into()));
        }
        Ok(())
    }
}

fn gist(id: &str, created_at: i64) -> RemoteGist {
    let url = |text: String| GithubUrl::parse(&text, None).expect("a valid link");
    RemoteGist {
        id: GistId::parse(id).expect("a valid gist id"),
        description: Some(format!("Gist {id}")),
        html_url: url(format!("https://gist.github.com/{id}")),
        pull_url: url(format!("https://gist.github.com/{id}.git")),
        created_at,
        updated_at: created_at,
        files: vec![RemoteFile {
            name: "main.rs".into(),
            raw_url: Some(url(format!(
                "https://gist.githubusercontent.com/u/{id}/raw/main.rs"
            ))),
            language: Some("Rust".into()),
            size: 10,
        }],
    }
}

impl GithubApi for MemoryGithub {
    fn rate_limit(&self) -> Result<RateBudget, ApiError> {
        Ok(RateBudget {
            limit: 5_000,
            remaining: 5_000,
            reset: 0,
            authenticated: true,
        })
    }

    fn user(&self, login: &str) -> Result<Option<GithubUser>, ApiError> {
        self.check()?;
        Ok(self
            .users()
            .iter()
            .find(|u| u.login.eq_ignore_ascii_case(login))
            .map(|u| GithubUser {
                login: u.login.clone(),
                id: u.id,
                name: u.name.clone(),
                email: u.email.clone(),
            }))
    }

    fn user_by_id(&self, id: GithubUserId) -> Result<Option<GithubUser>, ApiError> {
        self.check()?;
        let login = self
            .users()
            .iter()
            .find(|u| u.id == id)
            .map(|u| u.login.clone());
        match login {
            Some(login) => self.user(&login),
            None => Ok(None),
        }
    }

    fn list_gists(&self, login: &str, etag: Option<&str>) -> Result<GistListing, ApiError> {
        self.check()?;
        let users = self.users();
        let Some(user) = users.iter().find(|u| u.login.eq_ignore_ascii_case(login)) else {
            return Ok(GistListing::UserGone);
        };
        let current = format!("\"{}-{}\"", user.id, user.version);
        if etag == Some(current.as_str()) {
            return Ok(GistListing::NotModified);
        }
        self.counted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(GistListing::Changed {
            etag: Some(current),
            gists: user.gists.clone(),
        })
    }

    fn org(&self, login: &str) -> Result<Option<GithubOrg>, ApiError> {
        self.check()?;
        self.counted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self
            .orgs()
            .iter()
            .find(|o| o.login.eq_ignore_ascii_case(login))
            .map(|o| GithubOrg {
                login: o.login.clone(),
                id: o.id,
                name: o.name.clone(),
            }))
    }

    fn org_members(&self, login: &str, etag: Option<&str>) -> Result<MemberListing, ApiError> {
        self.check()?;
        let orgs = self.orgs();
        let Some(org) = orgs.iter().find(|o| o.login.eq_ignore_ascii_case(login)) else {
            return Ok(MemberListing::OrgGone);
        };
        let current = format!("\"org-{}-{}\"", org.id, org.version);
        if etag == Some(current.as_str()) {
            return Ok(MemberListing::NotModified);
        }
        self.counted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(MemberListing::Changed {
            etag: Some(current),
            members: org
                .members
                .iter()
                .map(|(login, id, bot)| OrgMember {
                    login: login.clone(),
                    id: *id,
                    bot: *bot,
                })
                .collect(),
        })
    }
}

/// Which Pipedrive request a fault waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    CreateActivity,
    CreatePerson,
    ReadPerson,
    ListActivities,
    CreateOrganization,
}

/// What happens to the request a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Written, then no answer: a timeout (the request may still land, as far as the client
    /// knows).
    LostAfterWrite,
    /// Not written now, no answer; it lands this long after it was sent (within the in-flight
    /// bound, as a real late commit would).
    LandsLater(Duration),
    /// Pipedrive's own 500, nothing written.
    ServerError,
    /// Pipedrive's own 500 after the write.
    ServerErrorAfterWrite,
    /// A definite refusal with this status, nothing written.
    Refused(u16),
    /// A 429 for the burst window, nothing written.
    Throttled,
    /// The process dies during the request (a panic that unwinds the worker), after the
    /// write or before it.
    Crash { written: bool },
}

/// A Pipedrive person in memory.
#[derive(Debug, Clone)]
pub struct MemoryPerson {
    pub id: PipedrivePersonId,
    pub name: String,
    pub emails: Vec<String>,
    pub owner: PipedriveUserId,
    pub org: Option<PipedriveOrgId>,
    pub deleted: bool,
    /// Created through the API (by gisttrack), not by a salesperson.
    pub by_api: bool,
    pub added_at: i64,
    pub updated_at: i64,
}

/// A Pipedrive activity in memory.
#[derive(Debug, Clone)]
pub struct MemoryActivity {
    pub id: ActivityId,
    pub person: PipedrivePersonId,
    pub note: String,
    pub owner: PipedriveUserId,
    pub org: Option<PipedriveOrgId>,
    pub deal: Option<DealId>,
    pub updated_at: i64,
}

/// The token's user: what Pipedrive uses when no owner is given.
pub const TOKEN_USER: PipedriveUserId = PipedriveUserId(7);

#[derive(Debug, Default)]
struct PipedriveState {
    next_id: i64,
    persons: Vec<MemoryPerson>,
    /// Organizations (id, name).
    organizations: Vec<(PipedriveOrgId, String)>,
    activities: Vec<MemoryActivity>,
    faults: VecDeque<(Route, Fault)>,
    /// Writes sent that land later: when, and what.
    landing: Vec<(i64, MemoryActivity)>,
    /// Activity POSTs received, landed or not.
    posts: u64,
    /// The `changed_since` of every activity read (`None`: a full read).
    reads: Vec<Option<i64>>,
}

/// Pipedrive with persons and activities, on a clock shared with the store.
#[derive(Debug)]
pub struct MemoryPipedrive {
    clock: Arc<dyn Clock>,
    state: Mutex<PipedriveState>,
}

impl MemoryPipedrive {
    pub fn new(clock: Arc<dyn Clock>) -> MemoryPipedrive {
        MemoryPipedrive {
            clock,
            state: Mutex::new(PipedriveState {
                next_id: 1,
                ..PipedriveState::default()
            }),
        }
    }

    /// A creation (a person, an organization) as the injected fault has it end: refused or
    /// held back with nothing written, written and answered, written with the answer lost or
    /// replaced by Pipedrive's own 500, or the process dying before or after the write.
    fn create_under<Id>(
        &self,
        fault: Option<Fault>,
        write: impl Fn(&mut PipedriveState) -> Id,
    ) -> Result<Created<Id>, ApiError> {
        match fault {
            Some(Fault::Throttled) => Err(ApiError::Throttled {
                retry_after: Duration::from_secs(1),
            }),
            Some(Fault::Refused(status)) => Err(refused(status)),
            Some(Fault::ServerError) => Err(server_error()),
            Some(Fault::Crash { written }) => {
                if written {
                    write(&mut self.state());
                }
                panic!("the process died mid-request (injected)")
            }
            Some(Fault::ServerErrorAfterWrite) => {
                write(&mut self.state());
                Err(server_error())
            }
            Some(Fault::LostAfterWrite | Fault::LandsLater(_)) => {
                write(&mut self.state());
                Err(lost())
            }
            None => Ok(Created {
                id: write(&mut self.state()),
                daily_writes_left: None,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, PipedriveState> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Late writes land when their time has come, whoever asks next.
        let now = self.clock.now_ms();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut state.landing)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        state.landing = later;
        for (_, activity) in due {
            state.activities.push(activity);
        }
        state
    }

    /// Makes the next request of this route meet this fault.
    pub fn inject(&self, route: Route, fault: Fault) {
        self.state().faults.push_back((route, fault));
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    fn fault(&self, route: Route) -> Option<Fault> {
        let mut state = self.state();
        let at = state.faults.iter().position(|(r, _)| *r == route)?;
        state.faults.remove(at).map(|(_, fault)| fault)
    }

    /// A person a salesperson entered; its id.
    pub fn add_person(&self, name: &str, owner: PipedriveUserId) -> PipedrivePersonId {
        let now = self.clock.now_ms();
        let mut state = self.state();
        let id = PipedrivePersonId(state.next_id);
        state.next_id += 1;
        state.persons.push(MemoryPerson {
            id,
            name: name.to_string(),
            emails: Vec::new(),
            owner,
            org: None,
            deleted: false,
            by_api: false,
            added_at: now,
            updated_at: now,
        });
        id
    }

    /// Every person, deleted ones included.
    pub fn persons(&self) -> Vec<MemoryPerson> {
        self.state().persons.clone()
    }

    /// Every organization (id, name).
    pub fn organizations(&self) -> Vec<(PipedriveOrgId, String)> {
        self.state().organizations.clone()
    }

    /// Every activity that has landed.
    pub fn activities(&self) -> Vec<MemoryActivity> {
        self.state().activities.clone()
    }

    /// Activity POSTs received.
    pub fn posts(&self) -> u64 {
        self.state().posts
    }

    /// The `changed_since` of every activity read so far (`None`: a full read).
    pub fn activity_reads(&self) -> Vec<Option<i64>> {
        self.state().reads.clone()
    }

    /// Whether writes sent earlier are still to land.
    pub fn writes_in_flight(&self) -> bool {
        !self.state().landing.is_empty()
    }

    /// Pipedrive's merge: `from` is gone, its activities and e-mails move to `into`.
    pub fn merge(&self, from: PipedrivePersonId, into: PipedrivePersonId) {
        let now = self.clock.now_ms();
        let mut state = self.state();
        let Some(gone) = state.persons.iter_mut().find(|p| p.id == from) else {
            return;
        };
        gone.deleted = true;
        let emails = gone.emails.clone();
        if let Some(survivor) = state.persons.iter_mut().find(|p| p.id == into) {
            survivor.emails.extend(emails);
            survivor.updated_at = now;
        }
        for activity in state.activities.iter_mut().filter(|a| a.person == from) {
            activity.person = into;
            activity.updated_at = now;
        }
        // A write still under way for the merged person lands on it, and moves with it.
        for (_, activity) in state.landing.iter_mut().filter(|(_, a)| a.person == from) {
            activity.person = into;
        }
    }

    /// A person deleted in Pipedrive, with their activities.
    pub fn delete(&self, id: PipedrivePersonId) {
        let mut state = self.state();
        if let Some(person) = state.persons.iter_mut().find(|p| p.id == id) {
            person.deleted = true;
        }
        state.activities.retain(|a| a.person != id);
    }

    fn next_id(state: &mut PipedriveState) -> i64 {
        let id = state.next_id;
        state.next_id += 1;
        id
    }
}

fn lost() -> ApiError {
    ApiError::Transport("timed out (injected)".into())
}

fn server_error() -> ApiError {
    ApiError::Server {
        status: 500,
        message: "Internal server error (injected)".into(),
        by_service: true,
    }
}

fn refused(status: u16) -> ApiError {
    ApiError::Rejected {
        status,
        message: "refused (injected)".into(),
    }
}

/// A read that meets a fault: a write fault on a read is no fault at all.
fn read_fault(fault: Option<Fault>) -> Result<(), ApiError> {
    match fault {
        Some(Fault::ServerError | Fault::ServerErrorAfterWrite) => Err(server_error()),
        Some(Fault::Refused(status)) => Err(refused(status)),
        Some(Fault::LostAfterWrite | Fault::LandsLater(_)) => Err(lost()),
        Some(Fault::Throttled) => Err(ApiError::RateLimited("429 (injected)".into())),
        Some(Fault::Crash { .. }) => panic!("the process died mid-request (injected)"),
        None => Ok(()),
    }
}

impl PipedriveApi for MemoryPipedrive {
    fn me(&self) -> Result<PipedriveAccount, ApiError> {
        Ok(PipedriveAccount {
            user: "Sam Seller".into(),
            company: "Acme".into(),
            company_domain: Some("acme".into()),
            daily_budget_left: None,
        })
    }

    fn wait_turn(&self) {}

    fn person(&self, id: PipedrivePersonId) -> Result<PersonLookup, ApiError> {
        read_fault(self.fault(Route::ReadPerson))?;
        Ok(match self.state().persons.iter().find(|p| p.id == id) {
            Some(p) if !p.deleted => PersonLookup::Found(PersonRecord {
                id,
                owner_id: Some(p.owner),
                org_id: p.org,
                updated_at: Some(p.updated_at),
            }),
            _ => PersonLookup::Gone,
        })
    }

    fn find_persons(
        &self,
        field: PersonField,
        term: &str,
    ) -> Result<Vec<PipedrivePersonId>, ApiError> {
        Ok(self
            .state()
            .persons
            .iter()
            .filter(|p| !p.deleted)
            .filter(|p| match field {
                PersonField::Email => p.emails.iter().any(|e| e.eq_ignore_ascii_case(term)),
                PersonField::Name => p.name.eq_ignore_ascii_case(term),
            })
            .map(|p| p.id)
            .collect())
    }

    fn persons_added_between(
        &self,
        name: &str,
        email: Option<&str>,
        (from, to): (i64, i64),
    ) -> Result<Vec<PipedrivePersonId>, ApiError> {
        Ok(self
            .state()
            .persons
            .iter()
            .filter(|p| !p.deleted && p.name == name && (from..=to).contains(&p.added_at))
            .filter(|p| email.is_none_or(|e| p.emails.iter().any(|m| m.eq_ignore_ascii_case(e))))
            .map(|p| p.id)
            .collect())
    }

    fn create_person(
        &self,
        new: &NewPipedrivePerson<'_>,
    ) -> Result<Created<PipedrivePersonId>, ApiError> {
        let fault = self.fault(Route::CreatePerson);
        let write = |state: &mut PipedriveState| {
            let id = PipedrivePersonId(MemoryPipedrive::next_id(state));
            state.persons.push(MemoryPerson {
                id,
                name: new.name.to_string(),
                emails: new.email.map(str::to_string).into_iter().collect(),
                owner: new.owner_id.unwrap_or(TOKEN_USER),
                org: new.org_id,
                deleted: false,
                by_api: true,
                added_at: self.clock.now_ms(),
                updated_at: self.clock.now_ms(),
            });
            id
        };
        self.create_under(fault, write)
    }

    fn create_activity(&self, new: &NewActivity) -> Result<Created<ActivityId>, ApiError> {
        let fault = self.fault(Route::CreateActivity);
        let mut state = self.state();
        state.posts += 1;
        let person_there = state
            .persons
            .iter()
            .any(|p| p.id == new.person_id && !p.deleted);
        let activity = |state: &mut PipedriveState| MemoryActivity {
            id: ActivityId(MemoryPipedrive::next_id(state)),
            person: new.person_id,
            note: new.note.clone(),
            owner: new.owner_id.unwrap_or(TOKEN_USER),
            org: new.org_id,
            deal: new.deal_id,
            updated_at: self.clock.now_ms(),
        };
        if !person_there && !matches!(fault, Some(Fault::Throttled)) {
            return Err(ApiError::Rejected {
                status: 400,
                message: "Person not found (ERR_BAD_REQUEST)".into(),
            });
        }
        match fault {
            Some(Fault::Throttled) => Err(ApiError::Throttled {
                retry_after: Duration::from_secs(1),
            }),
            Some(Fault::Refused(status)) => Err(refused(status)),
            Some(Fault::ServerError) => Err(server_error()),
            Some(Fault::Crash { written }) => {
                if written {
                    let made = activity(&mut state);
                    state.activities.push(made);
                }
                drop(state);
                panic!("the process died mid-request (injected)")
            }
            Some(Fault::ServerErrorAfterWrite) => {
                let made = activity(&mut state);
                state.activities.push(made);
                Err(server_error())
            }
            Some(Fault::LostAfterWrite) => {
                let made = activity(&mut state);
                state.activities.push(made);
                Err(lost())
            }
            Some(Fault::LandsLater(after)) => {
                let made = activity(&mut state);
                let at = self.clock.now_ms() + after.as_millis() as i64;
                state.landing.push((at, made));
                Err(lost())
            }
            None => {
                let made = activity(&mut state);
                let id = made.id;
                state.activities.push(made);
                Ok(Created {
                    id,
                    daily_writes_left: None,
                })
            }
        }
    }

    fn person_activities(
        &self,
        person_id: PipedrivePersonId,
        changed_since: Option<i64>,
    ) -> Result<Vec<ActivitySummary>, ApiError> {
        read_fault(self.fault(Route::ListActivities))?;
        // Pipedrive's update times are to the second.
        let since = changed_since.map(|ms| ms - ms.rem_euclid(1_000));
        let mut state = self.state();
        state.reads.push(changed_since);
        Ok(state
            .activities
            .iter()
            .filter(|a| a.person == person_id)
            .filter(|a| since.is_none_or(|since| a.updated_at >= since))
            .map(|a| ActivitySummary {
                id: a.id,
                note: a.note.clone(),
            })
            .collect())
    }

    fn find_organizations(&self, name: &str) -> Result<Vec<PipedriveOrgId>, ApiError> {
        Ok(self
            .state()
            .organizations
            .iter()
            .filter(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(id, _)| *id)
            .collect())
    }

    fn create_organization(&self, name: &str) -> Result<Created<PipedriveOrgId>, ApiError> {
        let fault = self.fault(Route::CreateOrganization);
        let write = |state: &mut PipedriveState| {
            let id = PipedriveOrgId(MemoryPipedrive::next_id(state));
            state.organizations.push((id, name.to_string()));
            id
        };
        self.create_under(fault, write)
    }

    fn open_deals(&self, _person_id: PipedrivePersonId) -> Result<Vec<DealId>, ApiError> {
        Ok(Vec::new())
    }

    fn user_names(&self) -> Result<Option<Vec<(PipedriveUserId, String)>>, ApiError> {
        Ok(Some(vec![(TOKEN_USER, "Sam Seller".into())]))
    }
}

/// How many activities carry each gist's marker (the exactly-once invariant: never above 1).
pub fn activities_per_gist(activities: &[MemoryActivity]) -> HashMap<GistId, usize> {
    let mut per_gist = HashMap::new();
    for activity in activities {
        for gist in crate::sync::activity::markers(&activity.note) {
            *per_gist.entry(gist).or_insert(0) += 1;
        }
    }
    per_gist
}
