//! Stateful fakes of the GitHub REST API and the Pipedrive API v2, served on 127.0.0.1 by
//! warp, faithful to `shared/reference`: Link pagination and `per_page`, ETags and 304s with
//! budget accounting, unknown users, rate limits, the v2 envelopes, a 400 for `person_id` in
//! an activity, and injected faults (5xx, 429, 403 pages, slow answers, answers lost after the
//! write). Used by the integration tests, the benchmarks and `cargo run --example fake_apis`.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use warp::http::{HeaderMap, Method, Response, StatusCode};
use warp::Filter;

/// A fault for the next GitHub request.
#[derive(Debug, Clone)]
pub enum GithubFault {
    /// 502 without an answer body worth reading.
    ServerError,
    /// 403 with `x-ratelimit-remaining: 0` and a reset `seconds` away.
    PrimaryLimit { reset_in: i64 },
    /// 403 secondary limit, with or without `retry-after`.
    Secondary { retry_after: Option<u64> },
    /// 429 with `x-ratelimit-remaining: 0`, and a reset `seconds` away when given (GitHub may
    /// answer a spent budget with 429 as well as 403).
    PrimaryLimit429 { reset_in: Option<i64> },
    /// Answer after a pause.
    Slow(Duration),
    /// 422 whose message is this (see the hostile-text block).
    Refuse(String),
}

/// Which Pipedrive requests a fault waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipedriveRoute {
    Any,
    CreateActivity,
    ListActivities,
    CreatePerson,
    SearchPersons,
    ListPersons,
    GetPerson,
    CreateOrganization,
    SearchOrganizations,
}

/// A fault for the next matching Pipedrive request.
#[derive(Debug, Clone)]
pub enum PipedriveFault {
    /// 500 and nothing written.
    ServerError,
    /// The write happens, then a 502: the answer is lost.
    LostAfterWrite,
    /// The write happens, then Pipedrive's own 500.
    ServerErrorAfterWrite,
    /// The write happens, then a CDN's HTML error page with this status (Cloudflare's 524:
    /// the origin took too long to answer, and may still be working).
    GatewayPageAfterWrite(u16),
    /// The write happens, then the answer is held back (the client times out or is killed).
    SlowAfterWrite(Duration),
    /// The request is held, then written (even if the client gave up meanwhile), then answered:
    /// a write that lands after its client's timeout.
    CommitLate(Duration),
    /// 429 with `Retry-After` (when given) and the burst headers.
    TooManyRequests { retry_after: Option<u64> },
    /// 403 with a Cloudflare-style HTML page.
    BlockedHtml,
    /// 400 whose error text is this (see the hostile-text block).
    Refuse(String),
}

#[derive(Debug, Clone)]
pub struct FakeFile {
    pub name: String,
    pub language: Option<String>,
    pub size: i64,
}

#[derive(Debug, Clone)]
pub struct FakeGist {
    pub id: String,
    pub description: Option<String>,
    pub files: Vec<FakeFile>,
    /// Unix seconds.
    pub created_at: i64,
    pub updated_at: i64,
    /// Revision used in raw URLs; changes on edit.
    pub revision: u64,
}

#[derive(Debug, Clone)]
pub struct FakeUser {
    pub login: String,
    pub id: i64,
    pub name: Option<String>,
    pub email: Option<String>,
    pub gists: Vec<FakeGist>,
}

/// A GitHub organization: its public members (login, id, `type`), in the order GitHub lists
/// them.
#[derive(Debug, Clone)]
pub struct FakeOrg {
    pub login: String,
    pub id: i64,
    pub name: Option<String>,
    pub members: Vec<(String, i64, &'static str)>,
}

/// A Pipedrive organization.
#[derive(Debug, Clone)]
pub struct FakeOrganization {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GistOrder {
    NewestCreated,
    NewestUpdated,
    /// Neither by creation nor by update: a stable arbitrary order.
    Shuffled,
}

#[derive(Debug)]
pub struct GithubState {
    pub users: Vec<FakeUser>,
    /// Lower-case login and numeric id to position in `users`, so a fake with 100,000 users
    /// answers as fast as one with three. A renamed user falls back to a scan.
    by_login: HashMap<String, usize>,
    by_id: HashMap<i64, usize>,
    /// Tokens that authenticate; any other `Authorization` is a 401.
    pub tokens: HashSet<String>,
    pub hourly_limit: i64,
    /// Budget used per identity (token, or "anonymous").
    pub used: HashMap<String, i64>,
    /// Unix seconds of the next budget reset.
    pub reset_at: i64,
    /// Requests that cost budget (what GitHub's rate limit counts).
    pub counted_requests: u64,
    pub total_requests: u64,
    /// First-page listings per login (lower case): how often each user was asked.
    pub list_requests: HashMap<String, u64>,
    pub faults: VecDeque<GithubFault>,
    pub latency: Duration,
    pub order: GistOrder,
    pub requests_without_user_agent: u64,
    /// Fields of a gist's JSON served instead of the faithful ones, by gist id (see the
    /// hostile-text block).
    pub gist_json_overrides: HashMap<String, Value>,
    pub orgs: Vec<FakeOrg>,
    /// First-page member listings per organization (lower case), 304s included.
    pub member_list_requests: HashMap<String, u64>,
}

#[derive(Debug, Clone)]
pub struct FakePerson {
    pub id: i64,
    pub name: String,
    pub emails: Vec<String>,
    pub deleted: bool,
    /// Unix seconds of the last change (creation).
    pub update_time: i64,
    /// The Pipedrive user who owns the person (the token's user, 7, unless told).
    pub owner_id: i64,
    pub org_id: Option<i64>,
}

impl FakePerson {
    /// A person as a salesperson would have entered it, owned by the token's user.
    pub fn new(id: i64, name: &str, emails: &[&str]) -> FakePerson {
        FakePerson {
            id,
            name: name.to_string(),
            emails: emails.iter().map(|e| e.to_string()).collect(),
            deleted: false,
            update_time: now_secs(),
            owner_id: TOKEN_USER,
            org_id: None,
        }
    }
}

/// The Pipedrive user the fake token belongs to (`/api/v1/users/me`).
pub const TOKEN_USER: i64 = 7;

#[derive(Debug, Clone)]
pub struct FakeActivity {
    pub id: i64,
    pub subject: String,
    pub activity_type: String,
    pub done: bool,
    pub due_date: Option<String>,
    pub note: String,
    pub person_id: Option<i64>,
    pub owner_id: i64,
    pub org_id: Option<i64>,
    pub deal_id: Option<i64>,
    /// Unix seconds of the last change (creation, or a merge that moved it).
    pub update_time: i64,
}

#[derive(Debug, Clone)]
pub struct FakeDeal {
    pub id: i64,
    pub person_id: i64,
    /// `open`, `won` or `lost`.
    pub status: String,
}

/// What `GET /api/v2/persons/{id}` answers for a deleted or merged-away person (Pipedrive's
/// behaviour is not documented: gisttrack must take either).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneAnswer {
    NotFound,
    /// 200 with the record, `is_deleted: true`.
    Flagged,
}

#[derive(Debug)]
pub struct PipedriveState {
    pub token: String,
    pub persons: Vec<FakePerson>,
    pub activities: Vec<FakeActivity>,
    next_id: i64,
    /// Requests allowed per rolling 2-second window (the smallest plan: 20).
    pub burst_limit: usize,
    window: VecDeque<Instant>,
    pub total_requests: u64,
    /// Activities written.
    pub activity_posts: u64,
    /// `POST /api/v2/activities` requests received (written or not yet).
    pub activity_posts_received: u64,
    /// Person searches over the search API's own limit (10 per 2 s).
    pub searches_over_limit: u64,
    search_window: VecDeque<Instant>,
    /// The company's daily budget (requests left today), when limited.
    pub daily_left: Option<i64>,
    /// Requests received after the daily budget was spent (each one risks a block).
    pub sent_after_daily_spent: u64,
    /// `GET /api/v2/persons` listings.
    pub person_listings: u64,
    /// `GET /api/v2/activities` pages served (reconciliation and history reads).
    pub activity_listings: u64,
    /// Requests that arrived while the client had been told to wait (a 429 not honoured).
    pub sent_during_penalty: u64,
    penalty_until: Option<Instant>,
    pub bodies_with_person_id: u64,
    pub tokens_in_query: u64,
    pub faults: VecDeque<(PipedriveRoute, PipedriveFault)>,
    pub latency: Duration,
    /// Page size for activity listings, to exercise cursors.
    pub activity_page_cap: usize,
    /// The company's users: id and name.
    pub users: Vec<(i64, String)>,
    /// `GET /api/v1/users` answers 403 (a token without the permission).
    pub users_forbidden: bool,
    pub deals: Vec<FakeDeal>,
    pub gone_answer: GoneAnswer,
    /// `GET /api/v2/persons/{id}` requests.
    pub person_reads: u64,
    /// `GET /api/v2/deals` requests.
    pub deal_listings: u64,
    /// `GET /api/v1/users` requests.
    pub user_listings: u64,
    /// `updated_since` of each activity listing (`None`: everything asked for).
    pub activity_listing_since: Vec<Option<i64>>,
    pub organizations: Vec<FakeOrganization>,
    /// `POST /api/v2/organizations` requests (written or not).
    pub organization_posts: u64,
}

#[derive(Debug)]
pub struct FakeState {
    pub github: GithubState,
    pub pipedrive: PipedriveState,
    github_base: String,
}

/// The running fakes. Dropping it stops them.
pub struct FakeApis {
    pub state: Arc<Mutex<FakeState>>,
    pub github_url: String,
    pub pipedrive_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub const GITHUB_TOKEN: &str = "ghp_faketoken";
pub const PIPEDRIVE_TOKEN: &str = "pd_faketoken";

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn rfc3339(secs: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs as u64)).to_string()
}

impl FakeApis {
    /// Starts both fakes on ephemeral loopback ports.
    pub fn start() -> FakeApis {
        FakeApis::start_on("127.0.0.1:0", "127.0.0.1:0")
    }

    pub fn start_on(github_addr: &str, pipedrive_addr: &str) -> FakeApis {
        FakeApis::try_start_on(github_addr, pipedrive_addr).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts both fakes; a port that is taken is an error, not a panic.
    pub fn try_start_on(github_addr: &str, pipedrive_addr: &str) -> Result<FakeApis, String> {
        let bind = |addr: &str, what: &str| {
            std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|e| format!("cannot serve the fake {what} on {addr}: {e}"))
        };
        let (gh_std, pd_std) = (
            bind(github_addr, "GitHub")?,
            bind(pipedrive_addr, "Pipedrive")?,
        );
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let gh_listener = tokio::net::TcpListener::from_std(gh_std).unwrap();
                let pd_listener = tokio::net::TcpListener::from_std(pd_std).unwrap();
                let github_url = format!("http://{}", gh_listener.local_addr().unwrap());
                let pipedrive_url = format!("http://{}", pd_listener.local_addr().unwrap());
                let state = Arc::new(Mutex::new(FakeState::new(&github_url)));
                ready_tx
                    .send((state.clone(), github_url, pipedrive_url))
                    .unwrap();
                let (stop_gh_tx, stop_gh_rx) = tokio::sync::oneshot::channel::<()>();
                let gh = warp::serve(routes(state.clone(), Service::Github))
                    .incoming(gh_listener)
                    .graceful(async move {
                        let _ = stop_gh_rx.await;
                    })
                    .run();
                let pd = warp::serve(routes(state, Service::Pipedrive))
                    .incoming(pd_listener)
                    .graceful(async move {
                        let _ = stop_rx.await;
                        let _ = stop_gh_tx.send(());
                    })
                    .run();
                tokio::join!(gh, pd);
            });
        });
        let (state, github_url, pipedrive_url) = ready_rx.recv().map_err(|e| e.to_string())?;
        Ok(FakeApis {
            state,
            github_url,
            pipedrive_url,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a GitHub user with `gists` gists (ids derived from the login) and returns its id.
    pub fn add_user(&self, login: &str, gists: usize) -> i64 {
        let mut state = self.lock();
        let id = 1000 + state.github.users.len() as i64;
        let base = now_secs() - 86_400 * 30;
        let user = FakeUser {
            login: login.to_string(),
            id,
            name: Some(format!("{login} Example")),
            email: Some(format!("{}@example.com", login.to_lowercase())),
            gists: (0..gists)
                .map(|n| fake_gist(&format!("{}{n:04}", hex_of(login)), base + n as i64 * 60))
                .collect(),
        };
        state.github.insert(user);
        id
    }

    /// `count` users `{prefix}0`, `{prefix}1`, … with `gists` gists each; their logins.
    pub fn add_users(&self, prefix: &str, count: usize, gists: usize) -> Vec<String> {
        (0..count)
            .map(|n| {
                let login = format!("{prefix}{n}");
                self.add_user(&login, gists);
                login
            })
            .collect()
    }

    /// Adds a gist created now and returns its id.
    pub fn add_gist(&self, login: &str) -> String {
        let mut state = self.lock();
        let user = state.github.user_mut(login).expect("fake user");
        let id = format!("{}n{:04}", hex_of(login), user.gists.len());
        user.gists.push(fake_gist(&id, now_secs()));
        id
    }

    /// Edits a gist's description and content revision (GitHub bumps `updated_at`).
    pub fn edit_gist(&self, login: &str, gist_id: &str) {
        let mut state = self.lock();
        let user = state.github.user_mut(login).expect("fake user");
        let gist = user
            .gists
            .iter_mut()
            .find(|g| g.id == gist_id)
            .expect("fake gist");
        gist.description = Some(format!(
            "{} (edited)",
            gist.description.clone().unwrap_or_default()
        ));
        gist.updated_at = now_secs() + 1;
        gist.revision += 1;
    }

    /// Makes a gist as sparse as GitHub allows: no description, no file languages.
    pub fn strip_gist(&self, login: &str, gist_id: &str) {
        let mut state = self.lock();
        let user = state.github.user_mut(login).expect("fake user");
        let gist = user
            .gists
            .iter_mut()
            .find(|g| g.id == gist_id)
            .expect("fake gist");
        gist.description = None;
        for file in &mut gist.files {
            file.language = None;
        }
    }

    /// A user GitHub shows without a public e-mail.
    pub fn hide_email(&self, login: &str) {
        self.lock().github.user_mut(login).expect("fake user").email = None;
    }

    /// Pipedrive persons not deleted.
    pub fn live_persons(&self) -> Vec<FakePerson> {
        self.lock()
            .pipedrive
            .persons
            .iter()
            .filter(|p| !p.deleted)
            .cloned()
            .collect()
    }

    /// Activities in Pipedrive whose note carries this gist's marker.
    pub fn activities_for_gist(&self, gist_id: &str) -> usize {
        let marker = format!("gisttrack:gist:{gist_id}<");
        self.lock()
            .pipedrive
            .activities
            .iter()
            .filter(|a| a.note.contains(&marker))
            .count()
    }

    pub fn activity_count(&self) -> usize {
        self.lock().pipedrive.activities.len()
    }

    /// The activities in Pipedrive whose note carries this gist's marker.
    pub fn activities_of_gist(&self, gist_id: &str) -> Vec<FakeActivity> {
        let marker = format!("gisttrack:gist:{gist_id}<");
        self.lock()
            .pipedrive
            .activities
            .iter()
            .filter(|a| a.note.contains(&marker))
            .cloned()
            .collect()
    }

    /// A person a salesperson entered by hand; its id.
    pub fn add_person(&self, name: &str, emails: &[&str], owner_id: i64) -> i64 {
        let mut state = self.lock();
        let pd = &mut state.pipedrive;
        let id = pd.next_id;
        pd.next_id += 1;
        pd.persons.push(FakePerson {
            owner_id,
            ..FakePerson::new(id, name, emails)
        });
        id
    }

    /// The live person with this name (panics when there is not exactly one).
    pub fn person_named(&self, name: &str) -> FakePerson {
        let persons: Vec<FakePerson> = self
            .live_persons()
            .into_iter()
            .filter(|p| p.name == name)
            .collect();
        assert_eq!(
            persons.len(),
            1,
            "one live person named {name}: {persons:?}"
        );
        persons[0].clone()
    }

    /// What a salesperson's edit in Pipedrive does (`PATCH /api/v2/persons/{id}`).
    pub fn reassign(&self, person_id: i64, owner_id: i64, org_id: Option<i64>) {
        let mut state = self.lock();
        let person = state
            .pipedrive
            .persons
            .iter_mut()
            .find(|p| p.id == person_id)
            .expect("fake person");
        person.owner_id = owner_id;
        person.org_id = org_id;
        person.update_time = now_secs();
    }

    /// Pipedrive's "merge duplicates": `from` is gone, its activities and e-mails move to
    /// `into`.
    pub fn merge_persons(&self, from: i64, into: i64) {
        let mut state = self.lock();
        let pd = &mut state.pipedrive;
        let now = now_secs();
        let moved: Vec<String> = {
            let gone = pd
                .persons
                .iter_mut()
                .find(|p| p.id == from)
                .expect("fake person");
            gone.deleted = true;
            gone.update_time = now;
            gone.emails.clone()
        };
        let survivor = pd
            .persons
            .iter_mut()
            .find(|p| p.id == into)
            .expect("fake person");
        for email in moved {
            if !survivor.emails.contains(&email) {
                survivor.emails.push(email);
            }
        }
        survivor.update_time = now;
        for activity in pd
            .activities
            .iter_mut()
            .filter(|a| a.person_id == Some(from))
        {
            activity.person_id = Some(into);
            activity.update_time = now;
        }
    }

    /// A person deleted in Pipedrive (its activities go with it).
    pub fn delete_person(&self, id: i64) {
        let mut state = self.lock();
        let pd = &mut state.pipedrive;
        let person = pd
            .persons
            .iter_mut()
            .find(|p| p.id == id)
            .expect("fake person");
        person.deleted = true;
        person.update_time = now_secs();
        pd.activities.retain(|a| a.person_id != Some(id));
    }

    /// A deal of the person; its id.
    pub fn add_deal(&self, person_id: i64, status: &str) -> i64 {
        let mut state = self.lock();
        let pd = &mut state.pipedrive;
        let id = pd.next_id;
        pd.next_id += 1;
        pd.deals.push(FakeDeal {
            id,
            person_id,
            status: status.to_string(),
        });
        id
    }

    /// A GitHub organization with no public members yet; its id.
    pub fn add_org(&self, login: &str, name: Option<&str>) -> i64 {
        let mut state = self.lock();
        let id = 700_000 + state.github.orgs.len() as i64;
        state.github.orgs.push(FakeOrg {
            login: login.to_string(),
            id,
            name: name.map(str::to_string),
            members: Vec::new(),
        });
        id
    }

    /// Makes a user (added with [`FakeApis::add_user`]) a public member of the organization.
    pub fn add_member(&self, org: &str, login: &str) {
        let mut state = self.lock();
        let id = state.github.user(login).expect("a fake user").id;
        let org = fake_org(&mut state.github, org);
        org.members.push((login.to_string(), id, "User"));
    }

    /// A bot account (type `Bot`) as a public member; it has no user record.
    pub fn add_bot_member(&self, org: &str, login: &str) {
        let mut state = self.lock();
        let id = 800_000
            + state
                .github
                .orgs
                .iter()
                .map(|o| o.members.len())
                .sum::<usize>() as i64;
        let org = fake_org(&mut state.github, org);
        org.members.push((login.to_string(), id, "Bot"));
    }

    /// The account leaves the organization's public list.
    pub fn remove_member(&self, org: &str, login: &str) {
        let mut state = self.lock();
        let org = fake_org(&mut state.github, org);
        org.members
            .retain(|(l, _, _)| !l.eq_ignore_ascii_case(login));
    }

    /// Pipedrive's organizations.
    pub fn organizations(&self) -> Vec<FakeOrganization> {
        self.lock().pipedrive.organizations.clone()
    }

    /// Every Pipedrive request received so far.
    pub fn pipedrive_requests(&self) -> u64 {
        self.lock().pipedrive.total_requests
    }

    pub fn github_counted(&self) -> u64 {
        self.lock().github.counted_requests
    }

    pub fn gist_ids(&self, login: &str) -> Vec<String> {
        self.lock()
            .github
            .user(login)
            .map(|u| u.gists.iter().map(|g| g.id.clone()).collect())
            .unwrap_or_default()
    }
}

impl Drop for FakeApis {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn fake_org<'a>(github: &'a mut GithubState, login: &str) -> &'a mut FakeOrg {
    github
        .orgs
        .iter_mut()
        .find(|o| o.login.eq_ignore_ascii_case(login))
        .expect("a fake organization")
}

fn hex_of(login: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    login.to_lowercase().hash(&mut hasher);
    format!("{:012x}", hasher.finish() & 0xffff_ffff_ffff)
}

fn fake_gist(id: &str, created_at: i64) -> FakeGist {
    FakeGist {
        id: id.to_string(),
        description: Some(format!("Gist {id}")),
        files: vec![
            FakeFile {
                name: "main.rs".into(),
                language: Some("Rust".into()),
                size: 120,
            },
            FakeFile {
                name: "README.md".into(),
                language: Some("Markdown".into()),
                size: 40,
            },
        ],
        created_at,
        updated_at: created_at,
        revision: 1,
    }
}

impl FakeState {
    fn new(github_base: &str) -> FakeState {
        FakeState {
            github: GithubState {
                users: Vec::new(),
                by_login: HashMap::new(),
                by_id: HashMap::new(),
                tokens: HashSet::from([GITHUB_TOKEN.to_string()]),
                hourly_limit: 5000,
                used: HashMap::new(),
                reset_at: now_secs() + 3600,
                counted_requests: 0,
                total_requests: 0,
                list_requests: HashMap::new(),
                faults: VecDeque::new(),
                latency: Duration::ZERO,
                order: GistOrder::NewestCreated,
                requests_without_user_agent: 0,
                gist_json_overrides: HashMap::new(),
                orgs: Vec::new(),
                member_list_requests: HashMap::new(),
            },
            pipedrive: PipedriveState {
                token: PIPEDRIVE_TOKEN.to_string(),
                persons: Vec::new(),
                activities: Vec::new(),
                next_id: 1,
                burst_limit: 20,
                window: VecDeque::new(),
                total_requests: 0,
                activity_posts: 0,
                activity_posts_received: 0,
                searches_over_limit: 0,
                search_window: VecDeque::new(),
                daily_left: None,
                sent_after_daily_spent: 0,
                person_listings: 0,
                activity_listings: 0,
                sent_during_penalty: 0,
                penalty_until: None,
                bodies_with_person_id: 0,
                tokens_in_query: 0,
                faults: VecDeque::new(),
                latency: Duration::ZERO,
                activity_page_cap: 500,
                users: vec![
                    (TOKEN_USER, "Sam Seller".into()),
                    (8, "Alex Owner".into()),
                    (9, "Kim Closer".into()),
                ],
                users_forbidden: false,
                deals: Vec::new(),
                gone_answer: GoneAnswer::NotFound,
                person_reads: 0,
                deal_listings: 0,
                user_listings: 0,
                activity_listing_since: Vec::new(),
                organizations: Vec::new(),
                organization_posts: 0,
            },
            github_base: github_base.to_string(),
        }
    }
}

impl GithubState {
    fn insert(&mut self, user: FakeUser) {
        let index = self.users.len();
        self.by_login.insert(user.login.to_lowercase(), index);
        self.by_id.insert(user.id, index);
        self.users.push(user);
    }

    /// The position of the user with this login (any case).
    pub fn position(&self, login: &str) -> Option<usize> {
        let indexed = self
            .by_login
            .get(&login.to_lowercase())
            .copied()
            .filter(|&i| self.users[i].login.eq_ignore_ascii_case(login));
        indexed.or_else(|| {
            self.users
                .iter()
                .position(|u| u.login.eq_ignore_ascii_case(login))
        })
    }

    pub fn user(&self, login: &str) -> Option<&FakeUser> {
        self.position(login).map(|i| &self.users[i])
    }

    pub fn user_mut(&mut self, login: &str) -> Option<&mut FakeUser> {
        self.position(login).map(|i| &mut self.users[i])
    }
}

#[derive(Clone, Copy)]
enum Service {
    Github,
    Pipedrive,
}

struct Request {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

type Reply = Response<String>;

fn routes(
    state: Arc<Mutex<FakeState>>,
    service: Service,
) -> impl Filter<Extract = (Reply,), Error = std::convert::Infallible> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .then(
            move |method,
                  path: warp::path::FullPath,
                  query: String,
                  headers,
                  body: bytes::Bytes| {
                let state = state.clone();
                async move {
                    let query = serde_urlencoded::from_str::<Vec<(String, String)>>(&query)
                        .unwrap_or_default()
                        .into_iter()
                        .collect();
                    let request = Request {
                        method,
                        path: path.as_str().to_string(),
                        query,
                        headers,
                        body: body.to_vec(),
                    };
                    match service {
                        Service::Github => github(state, request).await,
                        Service::Pipedrive => pipedrive(state, request).await,
                    }
                }
            },
        )
        .recover(|_| async {
            Ok::<Reply, std::convert::Infallible>(text(StatusCode::BAD_REQUEST, "bad request"))
        })
        .unify()
}

fn text(status: StatusCode, body: &str) -> Reply {
    Response::builder()
        .status(status)
        .body(body.to_string())
        .unwrap()
}

fn json_reply(status: StatusCode, body: &Value, headers: &[(&str, String)]) -> Reply {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8");
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(body.to_string()).unwrap()
}

// ---------------------------------------------------------------- GitHub

fn gist_json(base: &str, login: &str, owner_id: i64, gist: &FakeGist) -> Value {
    let files: serde_json::Map<String, Value> = gist
        .files
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                json!({
                    "filename": f.name,
                    "type": "text/plain",
                    "language": f.language,
                    "raw_url": format!("https://gist.githubusercontent.com/{login}/{}/raw/{:040x}/{}", gist.id, gist.revision, f.name),
                    "size": f.size,
                }),
            )
        })
        .collect();
    json!({
        "url": format!("{base}/gists/{}", gist.id),
        "forks_url": format!("{base}/gists/{}/forks", gist.id),
        "commits_url": format!("{base}/gists/{}/commits", gist.id),
        "id": gist.id,
        "node_id": format!("G_{}", gist.id),
        "git_pull_url": format!("https://gist.github.com/{}.git", gist.id),
        "git_push_url": format!("https://gist.github.com/{}.git", gist.id),
        "html_url": format!("https://gist.github.com/{login}/{}", gist.id),
        "files": files,
        "public": true,
        "created_at": rfc3339(gist.created_at),
        "updated_at": rfc3339(gist.updated_at),
        "description": gist.description,
        "comments": 0,
        "user": null,
        "comments_url": format!("{base}/gists/{}/comments/", gist.id),
        "owner": {"login": login, "id": owner_id, "type": "User", "site_admin": false,
                  "html_url": format!("https://github.com/{login}"), "url": format!("{base}/users/{login}")},
        "truncated": false,
    })
}

fn user_json(base: &str, user: &FakeUser) -> Value {
    json!({
        "login": user.login, "id": user.id, "node_id": format!("U_{}", user.id),
        "url": format!("{base}/users/{}", user.login), "html_url": format!("https://github.com/{}", user.login),
        "gists_url": format!("{base}/users/{}/gists{{/gist_id}}", user.login),
        "type": "User", "user_view_type": "public", "site_admin": false,
        "name": user.name, "company": null, "blog": "", "location": null, "email": user.email,
        "hireable": null, "bio": null, "twitter_username": null, "public_repos": 0,
        "public_gists": user.gists.len(), "followers": 0, "following": 0,
        "created_at": "2008-01-14T04:33:35Z", "updated_at": "2008-01-14T04:33:35Z",
    })
}

async fn github(state: Arc<Mutex<FakeState>>, request: Request) -> Reply {
    let (latency, fault) = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        (s.github.latency, s.github.faults.pop_front())
    };
    if let Some(GithubFault::Slow(pause)) = &fault {
        tokio::time::sleep(*pause).await;
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let base = s.github_base.clone();
    let gh = &mut s.github;
    gh.total_requests += 1;
    if !request.headers.contains_key("user-agent") {
        gh.requests_without_user_agent += 1;
        return Response::builder()
            .status(403)
            .header("content-type", "text/html")
            .body("Request forbidden by administrative rules. Please make sure your request has a User-Agent header".into())
            .unwrap();
    }
    let token = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim_start_matches("Bearer ")
                .trim_start_matches("token ")
                .to_string()
        });
    if let Some(token) = &token {
        if !gh.tokens.contains(token) {
            return json_reply(
                StatusCode::UNAUTHORIZED,
                &json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
                &[],
            );
        }
    }
    let identity = token.clone().unwrap_or_else(|| "anonymous".into());
    let limit = if token.is_some() { gh.hourly_limit } else { 60 };
    let reset = gh.reset_at;
    let used = *gh.used.get(&identity).unwrap_or(&0);
    let rate_headers = |used: i64| {
        vec![
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", (limit - used).max(0).to_string()),
            ("x-ratelimit-used", used.to_string()),
            ("x-ratelimit-reset", reset.to_string()),
            ("x-ratelimit-resource", "core".to_string()),
        ]
    };
    match fault {
        Some(GithubFault::ServerError) => {
            return json_reply(
                StatusCode::BAD_GATEWAY,
                &json!({"message": "Server Error"}),
                &rate_headers(used),
            )
        }
        Some(GithubFault::PrimaryLimit { reset_in }) => {
            let mut headers = rate_headers(limit);
            headers[1].1 = "0".into();
            headers[3].1 = (now_secs() + reset_in).to_string();
            return json_reply(
                StatusCode::FORBIDDEN,
                &json!({"message": "API rate limit exceeded for user ID 1234567.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}),
                &headers,
            );
        }
        Some(GithubFault::PrimaryLimit429 { reset_in }) => {
            let mut headers = rate_headers(limit);
            headers[1].1 = "0".into();
            match reset_in {
                Some(seconds) => headers[3].1 = (now_secs() + seconds).to_string(),
                None => {
                    headers.remove(3);
                }
            }
            return json_reply(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"message": "API rate limit exceeded for user ID 1234567.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}),
                &headers,
            );
        }
        Some(GithubFault::Refuse(message)) => {
            return json_reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({"message": message, "documentation_url": "https://docs.github.com/rest"}),
                &rate_headers(used),
            )
        }
        Some(GithubFault::Secondary { retry_after }) => {
            let mut headers = rate_headers(used);
            if let Some(seconds) = retry_after {
                headers.push(("retry-after", seconds.to_string()));
            }
            return json_reply(
                StatusCode::FORBIDDEN,
                &json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}),
                &headers,
            );
        }
        _ => {}
    }
    if request.path.trim_start_matches("/api/v3") == "/rate_limit" {
        // Costs no budget, with or without a token.
        let remaining = (limit - used).max(0);
        let core = json!({"limit": limit, "remaining": remaining, "reset": reset, "used": used, "resource": "core"});
        return json_reply(
            StatusCode::OK,
            &json!({"resources": {"core": core, "search": {"limit": 30, "remaining": 30, "reset": reset, "used": 0}}, "rate": core}),
            &rate_headers(used),
        );
    }
    if used >= limit {
        return json_reply(
            StatusCode::FORBIDDEN,
            &json!({"message": "API rate limit exceeded", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}),
            &rate_headers(used),
        );
    }
    // GitHub Enterprise Server serves the same API under /api/v3.
    let (prefix, path) = match request.path.strip_prefix("/api/v3") {
        Some(rest) => ("/api/v3", rest),
        None => ("", request.path.as_str()),
    };
    let base = format!("{base}{prefix}");
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let per_page = request
        .query
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = request
        .query
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    enum Target {
        User(Option<usize>),
        Gists(Option<usize>),
        Org(Option<usize>),
        OrgMembers(Option<usize>),
        Unknown,
    }
    let find_org = |login: &str| {
        gh.orgs
            .iter()
            .position(|o| o.login.eq_ignore_ascii_case(login))
    };
    let find_login = |login: &str| gh.position(login);
    let find_id = |id: &str| {
        id.parse::<i64>()
            .ok()
            .and_then(|id| gh.by_id.get(&id).copied())
    };
    let target = match parts.as_slice() {
        ["users", login] => Target::User(find_login(login)),
        ["user", id] => Target::User(find_id(id)),
        ["users", login, "gists"] => Target::Gists(find_login(login)),
        ["user", id, "gists"] => Target::Gists(find_id(id)),
        ["orgs", login] => Target::Org(find_org(login)),
        ["orgs", login, "public_members"] => Target::OrgMembers(find_org(login)),
        _ => Target::Unknown,
    };
    // Every answer but an authenticated 304 costs one unit.
    let charge = |gh: &mut GithubState| {
        gh.counted_requests += 1;
        *gh.used.entry(identity.clone()).or_default() += 1;
        *gh.used.get(&identity).unwrap()
    };
    match target {
        Target::Org(Some(index)) => {
            let org = &gh.orgs[index];
            let body = json!({"login": org.login, "id": org.id, "node_id": format!("O_{}", org.id),
                "name": org.name, "company": null, "blog": "", "html_url": format!("https://github.com/{}", org.login),
                "type": "Organization", "public_repos": 3, "followers": 0});
            let used = charge(gh);
            json_reply(StatusCode::OK, &body, &rate_headers(used))
        }
        Target::OrgMembers(Some(index)) => {
            let org = gh.orgs[index].clone();
            if page == 1 {
                *gh.member_list_requests
                    .entry(org.login.to_lowercase())
                    .or_default() += 1;
            }
            let pages = org.members.len().div_ceil(per_page).max(1);
            let items: Vec<Value> = org
                .members
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|(login, id, kind)| json!({"login": login, "id": id, "node_id": format!("U_{id}"),
                    "type": kind, "site_admin": false, "html_url": format!("https://github.com/{login}"),
                    "url": format!("{base}/users/{login}")}))
                .collect();
            let body = Value::Array(items);
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            identity.hash(&mut hasher);
            page.hash(&mut hasher);
            body.to_string().hash(&mut hasher);
            let etag = format!("W/\"{:016x}\"", hasher.finish());
            let if_none_match = request
                .headers
                .get("if-none-match")
                .and_then(|v| v.to_str().ok());
            if if_none_match == Some(etag.as_str()) {
                // An authorised 304 is free; an anonymous one is not.
                let used = if token.is_some() {
                    *gh.used.get(&identity).unwrap_or(&0)
                } else {
                    charge(gh)
                };
                let mut reply = Response::builder()
                    .status(304)
                    .header("etag", etag.as_str());
                for (name, value) in rate_headers(used) {
                    reply = reply.header(name, value);
                }
                return reply.body(String::new()).unwrap();
            }
            let used = charge(gh);
            let mut headers = rate_headers(used);
            headers.push(("etag", etag));
            let link = |n: usize| {
                format!(
                    "{base}/orgs/{}/public_members?per_page={per_page}&page={n}",
                    org.login
                )
            };
            let mut links = Vec::new();
            if page < pages {
                links.push(format!("<{}>; rel=\"next\"", link(page + 1)));
                links.push(format!("<{}>; rel=\"last\"", link(pages)));
            }
            if page > 1 {
                links.push(format!("<{}>; rel=\"prev\"", link(page - 1)));
                links.push(format!("<{}>; rel=\"first\"", link(1)));
            }
            if !links.is_empty() {
                headers.push(("link", links.join(", ")));
            }
            json_reply(StatusCode::OK, &body, &headers)
        }
        Target::Unknown
        | Target::User(None)
        | Target::Gists(None)
        | Target::Org(None)
        | Target::OrgMembers(None) => {
            let used = charge(gh);
            let doc = if matches!(target, Target::Gists(_)) {
                "https://docs.github.com/rest/gists/gists#list-gists-for-a-user"
            } else {
                "https://docs.github.com/rest/users/users#get-a-user"
            };
            json_reply(
                StatusCode::NOT_FOUND,
                &json!({"message": "Not Found", "documentation_url": doc, "status": "404"}),
                &rate_headers(used),
            )
        }
        Target::User(Some(index)) => {
            let body = user_json(&base, &gh.users[index]);
            let used = charge(gh);
            json_reply(StatusCode::OK, &body, &rate_headers(used))
        }
        Target::Gists(Some(index)) => {
            let user = gh.users[index].clone();
            if page == 1 {
                *gh.list_requests
                    .entry(user.login.to_lowercase())
                    .or_default() += 1;
            }
            let mut gists = user.gists.clone();
            match gh.order {
                GistOrder::NewestCreated => {
                    gists.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)))
                }
                GistOrder::NewestUpdated => {
                    gists.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)))
                }
                // A fixed but arbitrary order, the same on every page request.
                GistOrder::Shuffled => gists.sort_by_key(|g| hex_of(&g.id)),
            }
            let pages = gists.len().div_ceil(per_page).max(1);
            let items: Vec<Value> = gists
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|g| {
                    let mut json = gist_json(&base, &user.login, user.id, g);
                    if let Some(patch) = gh.gist_json_overrides.get(&g.id) {
                        merge_patch(&mut json, patch);
                    }
                    json
                })
                .collect();
            let body = Value::Array(items);
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            identity.hash(&mut hasher);
            body.to_string().hash(&mut hasher);
            let etag = format!("W/\"{:016x}\"", hasher.finish());
            let if_none_match = request
                .headers
                .get("if-none-match")
                .and_then(|v| v.to_str().ok());
            if if_none_match == Some(etag.as_str()) {
                let used = if token.is_some() {
                    *gh.used.get(&identity).unwrap_or(&0)
                } else {
                    charge(gh)
                };
                let mut reply = Response::builder()
                    .status(304)
                    .header("etag", etag.as_str());
                for (name, value) in rate_headers(used) {
                    reply = reply.header(name, value);
                }
                return reply.body(String::new()).unwrap();
            }
            let used = charge(gh);
            let mut headers = rate_headers(used);
            headers.push(("etag", etag));
            let link =
                |n: usize| format!("{base}/user/{}/gists?per_page={per_page}&page={n}", user.id);
            let mut links = Vec::new();
            if page > 1 {
                links.push(format!("<{}>; rel=\"prev\"", link(page - 1)));
            }
            if page < pages {
                links.push(format!("<{}>; rel=\"next\"", link(page + 1)));
                links.push(format!("<{}>; rel=\"last\"", link(pages)));
            }
            if page > 1 {
                links.push(format!("<{}>; rel=\"first\"", link(1)));
            }
            if !links.is_empty() {
                headers.push(("link", links.join(", ")));
            }
            json_reply(StatusCode::OK, &body, &headers)
        }
    }
}

// ---------------------------------------------------------------- Pipedrive

fn envelope_error(status: StatusCode, error: &str, code: &str) -> Reply {
    json_reply(
        status,
        &json!({"success": false, "error": error, "code": code, "error_info": "Please check developers.pipedrive.com", "data": null, "additional_data": null}),
        &[],
    )
}

fn activity_json(a: &FakeActivity) -> Value {
    json!({
        "id": a.id, "subject": a.subject, "type": a.activity_type, "owner_id": a.owner_id, "creator_user_id": TOKEN_USER,
        "is_deleted": false, "done": a.done, "due_date": a.due_date, "due_time": null, "duration": null,
        "busy": false, "add_time": rfc3339(a.update_time), "update_time": rfc3339(a.update_time),
        "person_id": a.person_id, "org_id": a.org_id, "deal_id": a.deal_id, "lead_id": null, "project_id": null,
        "participants": a.person_id.map(|p| json!([{"person_id": p, "primary": true}])).unwrap_or(json!([])),
        "note": a.note, "public_description": null, "priority": null, "location": null,
    })
}

fn route_of(request: &Request) -> PipedriveRoute {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/api/v2/activities") => PipedriveRoute::CreateActivity,
        ("GET", "/api/v2/activities") => PipedriveRoute::ListActivities,
        ("POST", "/api/v2/persons") => PipedriveRoute::CreatePerson,
        ("GET", "/api/v2/persons/search") => PipedriveRoute::SearchPersons,
        ("GET", "/api/v2/persons") => PipedriveRoute::ListPersons,
        ("POST", "/api/v2/organizations") => PipedriveRoute::CreateOrganization,
        ("GET", "/api/v2/organizations/search") => PipedriveRoute::SearchOrganizations,
        ("GET", path)
            if path.starts_with("/api/v2/persons/")
                && path["/api/v2/persons/".len()..].parse::<i64>().is_ok() =>
        {
            PipedriveRoute::GetPerson
        }
        _ => PipedriveRoute::Any,
    }
}

async fn pipedrive(state: Arc<Mutex<FakeState>>, request: Request) -> Reply {
    let route = route_of(&request);
    let (latency, fault) = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        let pd = &mut s.pipedrive;
        if route == PipedriveRoute::CreateActivity {
            pd.activity_posts_received += 1;
        }
        let position = pd
            .faults
            .iter()
            .position(|(target, _)| *target == PipedriveRoute::Any || *target == route);
        (
            pd.latency,
            position.and_then(|i| pd.faults.remove(i)).map(|(_, f)| f),
        )
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(PipedriveFault::CommitLate(pause)) = fault {
        // Detached from the connection: the write lands even after the client has gone.
        let task = tokio::spawn(async move {
            tokio::time::sleep(pause).await;
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            pipedrive_locked(&mut s.pipedrive, &request, route, None).0
        });
        return task
            .await
            .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "fake panicked"));
    }
    let (reply, hold) = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        pipedrive_locked(&mut s.pipedrive, &request, route, fault)
    };
    if let Some(pause) = hold {
        tokio::time::sleep(pause).await;
    }
    reply
}

fn blocked_page() -> Reply {
    Response::builder()
        .status(403)
        .header("content-type", "text/html; charset=UTF-8")
        .body("<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body>Sorry, you have been blocked</body></html>".into())
        .unwrap()
}

/// The persons list item (v2 `PersonItem`).
fn person_json(p: &FakePerson) -> Value {
    json!({"id": p.id, "name": p.name, "emails": p.emails.iter().map(|e| json!({"value": e, "primary": true, "label": "work"})).collect::<Vec<_>>(),
           "phones": [], "is_deleted": p.deleted, "visible_to": 3, "owner_id": p.owner_id, "org_id": p.org_id,
           "add_time": rfc3339(p.update_time), "update_time": rfc3339(p.update_time)})
}

fn pipedrive_locked(
    pd: &mut PipedriveState,
    request: &Request,
    route: PipedriveRoute,
    fault: Option<PipedriveFault>,
) -> (Reply, Option<Duration>) {
    pd.total_requests += 1;
    if request.query.contains_key("api_token") {
        pd.tokens_in_query += 1;
    }
    let token = request
        .headers
        .get("x-api-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(pd.token.as_str()) {
        return (
            json_reply(
                StatusCode::UNAUTHORIZED,
                &json!({"success": false, "error": "unauthorized access", "errorCode": 401, "error_info": "Please check developers.pipedrive.com"}),
                &[],
            ),
            None,
        );
    }
    if let Some(left) = pd.daily_left {
        if left <= 0 {
            pd.sent_after_daily_spent += 1;
            // Pressing on after the daily 429 gets the token blocked.
            if pd.sent_after_daily_spent > 2 {
                return (blocked_page(), None);
            }
            return (
                json_reply(
                    StatusCode::TOO_MANY_REQUESTS,
                    &json!({"success": false, "error": "Daily rate limit exceeded", "errorCode": 429}),
                    &[("x-daily-ratelimit-token-remaining", "0".to_string())],
                ),
                None,
            );
        }
        pd.daily_left = Some(left - 1);
    }
    let now = Instant::now();
    if matches!(
        route,
        PipedriveRoute::SearchPersons | PipedriveRoute::SearchOrganizations
    ) {
        while pd
            .search_window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(2))
        {
            pd.search_window.pop_front();
        }
        if pd.search_window.len() >= 10 {
            pd.searches_over_limit += 1;
            return (
                json_reply(
                    StatusCode::TOO_MANY_REQUESTS,
                    &json!({"success": false, "error": "Search rate limit exceeded", "errorCode": 429}),
                    &[
                        ("x-ratelimit-limit", "10".to_string()),
                        ("x-ratelimit-remaining", "0".to_string()),
                        ("x-ratelimit-reset", "2".to_string()),
                    ],
                ),
                None,
            );
        }
        pd.search_window.push_back(now);
    }
    if pd.penalty_until.is_some_and(|until| now < until) {
        pd.sent_during_penalty += 1;
    }
    while pd
        .window
        .front()
        .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(2))
    {
        pd.window.pop_front();
    }
    let limit = pd.burst_limit;
    let burst_headers = |used: usize| {
        vec![
            ("x-ratelimit-limit", limit.to_string()),
            (
                "x-ratelimit-remaining",
                limit.saturating_sub(used).to_string(),
            ),
            ("x-ratelimit-reset", "2".to_string()),
        ]
    };
    let too_many = |pd: &mut PipedriveState, retry_after: Option<u64>| {
        let wait = retry_after.unwrap_or(2);
        pd.penalty_until = Some(Instant::now() + Duration::from_secs(wait));
        let mut headers = burst_headers(limit);
        if let Some(seconds) = retry_after {
            headers.push(("retry-after", seconds.to_string()));
        }
        json_reply(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"success": false, "error": "Rate limit exceeded", "errorCode": 429}),
            &headers,
        )
    };
    if pd.window.len() >= limit {
        let oldest = *pd.window.front().unwrap();
        let wait = 2u64
            .saturating_sub(now.duration_since(oldest).as_secs())
            .max(1);
        return (too_many(pd, Some(wait)), None);
    }
    pd.window.push_back(now);
    let mut headers = burst_headers(pd.window.len());
    if let (Some(left), "POST") = (pd.daily_left, request.method.as_str()) {
        headers.push(("x-daily-requests-left", left.to_string()));
    }
    match &fault {
        Some(PipedriveFault::ServerError) => {
            return (
                envelope_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error",
                    "ERR_INTERNAL",
                ),
                None,
            )
        }
        Some(PipedriveFault::TooManyRequests { retry_after }) => {
            return (too_many(pd, *retry_after), None)
        }
        Some(PipedriveFault::BlockedHtml) => return (blocked_page(), None),
        Some(PipedriveFault::Refuse(error)) => {
            return (
                envelope_error(StatusCode::BAD_REQUEST, error, "ERR_BAD_REQUEST"),
                None,
            )
        }
        _ => {}
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let ok = |data: Value, extra: Option<Value>| {
        let mut envelope = json!({"success": true, "data": data});
        if let Some(extra) = extra {
            envelope["additional_data"] = extra;
        }
        json_reply(StatusCode::OK, &envelope, &headers)
    };
    let reply = match route {
        PipedriveRoute::CreatePerson => {
            let name = body
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if name.is_empty() {
                return (
                    envelope_error(
                        StatusCode::BAD_REQUEST,
                        "Name is required",
                        "ERR_BAD_REQUEST",
                    ),
                    None,
                );
            }
            let emails = match body.get("emails") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => {
                    let mut emails = Vec::new();
                    for item in items {
                        match item.get("value").and_then(Value::as_str) {
                            Some(v) => emails.push(v.to_string()),
                            None => {
                                return (
                                    envelope_error(
                                        StatusCode::BAD_REQUEST,
                                        "emails must be objects with a value",
                                        "ERR_BAD_REQUEST",
                                    ),
                                    None,
                                )
                            }
                        }
                    }
                    emails
                }
                Some(_) => {
                    return (
                        envelope_error(
                            StatusCode::BAD_REQUEST,
                            "emails must be an array",
                            "ERR_BAD_REQUEST",
                        ),
                        None,
                    )
                }
            };
            let id = pd.next_id;
            pd.next_id += 1;
            let person = FakePerson {
                id,
                name,
                emails,
                deleted: false,
                update_time: now_secs(),
                owner_id: body
                    .get("owner_id")
                    .and_then(Value::as_i64)
                    .unwrap_or(TOKEN_USER),
                org_id: body.get("org_id").and_then(Value::as_i64),
            };
            let data = person_json(&person);
            pd.persons.push(person);
            match fault {
                Some(PipedriveFault::LostAfterWrite) => {
                    return (
                        envelope_error(StatusCode::BAD_GATEWAY, "Bad gateway", "ERR_GATEWAY"),
                        None,
                    )
                }
                Some(PipedriveFault::SlowAfterWrite(pause)) => {
                    return (ok(data, None), Some(pause))
                }
                _ => ok(data, None),
            }
        }
        PipedriveRoute::CreateOrganization => {
            pd.organization_posts += 1;
            let name = body
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_string();
            if name.is_empty() {
                return (
                    envelope_error(
                        StatusCode::BAD_REQUEST,
                        "Name is required",
                        "ERR_BAD_REQUEST",
                    ),
                    None,
                );
            }
            let id = pd.next_id;
            pd.next_id += 1;
            let data = json!({"id": id, "name": name, "owner_id": TOKEN_USER, "is_deleted": false,
                "add_time": rfc3339(now_secs()), "update_time": rfc3339(now_secs()), "visible_to": 3});
            pd.organizations.push(FakeOrganization { id, name });
            match fault {
                Some(PipedriveFault::LostAfterWrite) => {
                    return (
                        envelope_error(StatusCode::BAD_GATEWAY, "Bad gateway", "ERR_GATEWAY"),
                        None,
                    )
                }
                Some(PipedriveFault::SlowAfterWrite(pause)) => {
                    return (ok(data, None), Some(pause))
                }
                _ => ok(data, None),
            }
        }
        PipedriveRoute::SearchOrganizations => {
            let term = request.query.get("term").cloned().unwrap_or_default();
            let exact = request.query.get("exact_match").map(String::as_str) == Some("true");
            let items: Vec<Value> = pd
                .organizations
                .iter()
                .filter(|o| {
                    if exact {
                        o.name.eq_ignore_ascii_case(&term)
                    } else {
                        o.name.to_lowercase().contains(&term.to_lowercase())
                    }
                })
                .map(|o| json!({"result_score": 1.0, "item": {"id": o.id, "type": "organization", "name": o.name, "address": null, "visible_to": 3, "owner": {"id": TOKEN_USER}, "custom_fields": [], "notes": []}}))
                .collect();
            ok(json!({"items": items}), Some(json!({"next_cursor": null})))
        }
        PipedriveRoute::SearchPersons => {
            let term = request.query.get("term").cloned().unwrap_or_default();
            let exact = request.query.get("exact_match").map(String::as_str) == Some("true");
            let fields = request
                .query
                .get("fields")
                .cloned()
                .unwrap_or_else(|| "email,name".into());
            let matches = |value: &str| {
                if exact {
                    value.eq_ignore_ascii_case(&term)
                } else {
                    value.to_lowercase().contains(&term.to_lowercase())
                }
            };
            let items: Vec<Value> = pd
                .persons
                .iter()
                .filter(|p| !p.deleted)
                .filter(|p| {
                    (fields.contains("email") && p.emails.iter().any(|e| matches(e)))
                        || (fields.contains("name") && matches(&p.name))
                })
                .map(|p| json!({"result_score": 1.0, "item": {"id": p.id, "type": "person", "name": p.name, "phones": [], "emails": p.emails, "visible_to": 3, "owner": {"id": p.owner_id}, "organization": p.org_id.map(|id| json!({"id": id})), "custom_fields": [], "notes": []}}))
                .collect();
            ok(json!({"items": items}), Some(json!({"next_cursor": null})))
        }
        PipedriveRoute::ListPersons => {
            pd.person_listings += 1;
            let since = request
                .query
                .get("updated_since")
                .and_then(|t| humantime::parse_rfc3339(t).ok())
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let limit = request
                .query
                .get("limit")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(100)
                .clamp(1, 500);
            let after: i64 = request
                .query
                .get("cursor")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let matching: Vec<&FakePerson> = pd
                .persons
                .iter()
                .filter(|p| !p.deleted && p.update_time >= since && p.id > after)
                .collect();
            let page: Vec<Value> = matching
                .iter()
                .take(limit)
                .map(|p| person_json(p))
                .collect();
            let next = (matching.len() > limit).then(|| matching[limit - 1].id.to_string());
            ok(Value::Array(page), Some(json!({"next_cursor": next})))
        }
        PipedriveRoute::CreateActivity => {
            if body.get("person_id").is_some() {
                pd.bodies_with_person_id += 1;
                return (
                    envelope_error(
                        StatusCode::BAD_REQUEST,
                        "'person_id' is a read-only field. Add a primary participant to set 'person_id' instead.",
                        "ERR_BAD_REQUEST",
                    ),
                    None,
                );
            }
            if body.get("done").is_some_and(|d| !d.is_boolean()) {
                return (
                    envelope_error(
                        StatusCode::BAD_REQUEST,
                        "done must be a boolean",
                        "ERR_BAD_REQUEST",
                    ),
                    None,
                );
            }
            let person_id = body
                .get("participants")
                .and_then(Value::as_array)
                .and_then(|ps| {
                    ps.iter()
                        .find(|p| p.get("primary").and_then(Value::as_bool) == Some(true))
                        .and_then(|p| p.get("person_id").and_then(Value::as_i64))
                });
            if let Some(person) = person_id {
                if !pd.persons.iter().any(|p| p.id == person && !p.deleted) {
                    return (
                        envelope_error(
                            StatusCode::BAD_REQUEST,
                            "Person not found",
                            "ERR_BAD_REQUEST",
                        ),
                        None,
                    );
                }
            }
            pd.activity_posts += 1;
            let id = pd.next_id;
            pd.next_id += 1;
            let activity = FakeActivity {
                id,
                subject: body
                    .get("subject")
                    .and_then(Value::as_str)
                    .unwrap_or("Call")
                    .to_string(),
                activity_type: body
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("call")
                    .to_string(),
                done: body.get("done").and_then(Value::as_bool).unwrap_or(false),
                due_date: body
                    .get("due_date")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                note: body
                    .get("note")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                person_id,
                owner_id: body
                    .get("owner_id")
                    .and_then(Value::as_i64)
                    .unwrap_or(TOKEN_USER),
                org_id: body.get("org_id").and_then(Value::as_i64),
                deal_id: body.get("deal_id").and_then(Value::as_i64),
                update_time: now_secs(),
            };
            let data = activity_json(&activity);
            pd.activities.push(activity);
            match fault {
                Some(PipedriveFault::GatewayPageAfterWrite(status)) => {
                    return (
                        Response::builder()
                            .status(status)
                            .header("content-type", "text/html; charset=UTF-8")
                            .body(format!("<!DOCTYPE html><html><body>Error {status}: A timeout occurred</body></html>"))
                            .unwrap(),
                        None,
                    )
                }
                Some(PipedriveFault::ServerErrorAfterWrite) => {
                    return (
                        envelope_error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "Internal server error",
                            "ERR_INTERNAL",
                        ),
                        None,
                    )
                }
                Some(PipedriveFault::LostAfterWrite) => {
                    return (
                        envelope_error(StatusCode::BAD_GATEWAY, "Bad gateway", "ERR_GATEWAY"),
                        None,
                    )
                }
                Some(PipedriveFault::SlowAfterWrite(pause)) => {
                    return (ok(data, None), Some(pause))
                }
                _ => ok(data, None),
            }
        }
        PipedriveRoute::ListActivities => {
            pd.activity_listings += 1;
            let person = request
                .query
                .get("person_id")
                .and_then(|v| v.parse::<i64>().ok());
            let since = request
                .query
                .get("updated_since")
                .and_then(|t| humantime::parse_rfc3339(t).ok())
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64);
            if !request.query.contains_key("cursor") {
                pd.activity_listing_since.push(since);
            }
            let limit = request
                .query
                .get("limit")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(100)
                .clamp(1, 500)
                .min(pd.activity_page_cap);
            let after: i64 = request
                .query
                .get("cursor")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let matching: Vec<&FakeActivity> = pd
                .activities
                .iter()
                .filter(|a| person.is_none() || a.person_id == person)
                .filter(|a| since.is_none_or(|since| a.update_time >= since))
                .filter(|a| a.id > after)
                .collect();
            let page: Vec<Value> = matching
                .iter()
                .take(limit)
                .map(|a| activity_json(a))
                .collect();
            let next = (matching.len() > limit).then(|| matching[limit - 1].id.to_string());
            ok(Value::Array(page), Some(json!({"next_cursor": next})))
        }
        PipedriveRoute::GetPerson => {
            pd.person_reads += 1;
            let id: i64 = request.path["/api/v2/persons/".len()..]
                .parse()
                .unwrap_or(-1);
            match pd.persons.iter().find(|p| p.id == id) {
                Some(person) if !person.deleted || pd.gone_answer == GoneAnswer::Flagged => {
                    ok(person_json(person), None)
                }
                _ => envelope_error(StatusCode::NOT_FOUND, "Person not found", "ERR_NOT_FOUND"),
            }
        }
        PipedriveRoute::Any => {
            let parts: Vec<&str> = request.path.trim_matches('/').split('/').collect();
            match (request.method.as_str(), parts.as_slice()) {
                ("GET", ["api", "v1", "users", "me"]) => ok(
                    json!({"id": 7, "name": "Sam Seller", "email": "sam@acme.example", "company_id": 99,
                           "company_name": "Acme", "company_domain": "acme", "active_flag": true}),
                    None,
                ),
                ("PATCH", ["api", "v2", "persons", id]) => {
                    let id: i64 = id.parse().unwrap_or(-1);
                    match pd.persons.iter_mut().find(|p| p.id == id && !p.deleted) {
                        Some(person) => {
                            if let Some(owner) = body.get("owner_id").and_then(Value::as_i64) {
                                person.owner_id = owner;
                            }
                            if let Some(org) = body.get("org_id") {
                                person.org_id = org.as_i64();
                            }
                            person.update_time = now_secs();
                            ok(person_json(person), None)
                        }
                        None => envelope_error(
                            StatusCode::NOT_FOUND,
                            "Person not found",
                            "ERR_NOT_FOUND",
                        ),
                    }
                }
                ("GET", ["api", "v2", "deals"]) => {
                    pd.deal_listings += 1;
                    let person = request
                        .query
                        .get("person_id")
                        .and_then(|v| v.parse::<i64>().ok());
                    let status = request.query.get("status").cloned();
                    let limit = request
                        .query
                        .get("limit")
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(100);
                    let deals: Vec<Value> = pd
                        .deals
                        .iter()
                        .filter(|d| person.is_none_or(|p| d.person_id == p))
                        .filter(|d| status.as_ref().is_none_or(|s| &d.status == s))
                        .take(limit)
                        .map(|d| json!({"id": d.id, "person_id": d.person_id, "status": d.status, "title": format!("Deal {}", d.id)}))
                        .collect();
                    ok(Value::Array(deals), Some(json!({"next_cursor": null})))
                }
                ("GET", ["api", "v1", "users"]) => {
                    pd.user_listings += 1;
                    if pd.users_forbidden {
                        envelope_error(
                            StatusCode::FORBIDDEN,
                            "You do not have permission to view users",
                            "ERR_FORBIDDEN",
                        )
                    } else {
                        let users: Vec<Value> = pd
                            .users
                            .iter()
                            .map(|(id, name)| json!({"id": id, "name": name, "active_flag": true}))
                            .collect();
                        ok(Value::Array(users), None)
                    }
                }
                ("DELETE", ["api", "v2", "persons", id]) => {
                    let id: i64 = id.parse().unwrap_or(-1);
                    match pd.persons.iter_mut().find(|p| p.id == id && !p.deleted) {
                        Some(person) => {
                            person.deleted = true;
                            ok(json!({"id": id}), None)
                        }
                        None => envelope_error(
                            StatusCode::NOT_FOUND,
                            "Person not found",
                            "ERR_NOT_FOUND",
                        ),
                    }
                }
                _ => envelope_error(StatusCode::NOT_FOUND, "Unknown method .", "ERR_NOT_FOUND"),
            }
        }
    };
    (reply, None)
}

/// A local webhook receiver: keeps every JSON body posted to it, and can be made slow.
pub struct Receiver {
    pub url: String,
    pub messages: Arc<Mutex<Vec<Value>>>,
    pub delay: Arc<Mutex<Duration>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let messages: Arc<Mutex<Vec<Value>>> = Arc::default();
        let delay: Arc<Mutex<Duration>> = Arc::default();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (kept, slow) = (messages.clone(), delay.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready_tx
                    .send(format!(
                        "http://{}/hooks/T00/B00/webhook-secret",
                        listener.local_addr().unwrap()
                    ))
                    .unwrap();
                let route = warp::post()
                    .and(warp::body::json())
                    .then(move |body: Value| {
                        let (kept, slow) = (kept.clone(), slow.clone());
                        async move {
                            // Kept as it arrives; a slow receiver only answers late.
                            kept.lock().unwrap().push(body);
                            let pause = *slow.lock().unwrap();
                            tokio::time::sleep(pause).await;
                            "ok"
                        }
                    });
                warp::serve(route)
                    .incoming(listener)
                    .graceful(async move {
                        let _ = stop_rx.await;
                    })
                    .run()
                    .await;
            });
        });
        Receiver {
            url: ready_rx.recv().unwrap(),
            messages,
            delay,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn taken(&self) -> Vec<Value> {
        std::mem::take(&mut *self.messages.lock().unwrap())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------- Hostile text
// What github.com never sends but a compromised or misconfigured GitHub Enterprise could:
// gist ids with markup, links with script schemes, text with terminal escapes; and
// Pipedrive error text with escapes. Used by tests/hostile.rs.

/// Characters that steer a terminal: an OSC title and clipboard write each ended by BEL, a
/// colour and a screen clear, a C1 CSI, DEL and a right-to-left override.
pub const STEERING: &str =
    "\u{1b}]0;owned\u{7}\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[31m\u{1b}[2J\u{9b}1m\u{7f}\u{202e}";

/// What [`FakeApis::add_hostile_gists`] planted.
#[derive(Debug, Clone)]
pub struct HostileGists {
    /// Every gist of the user whose id is of GitHub's form: each must become one activity.
    pub deliverable: Vec<String>,
    /// A gist whose id is markup and escapes: it must be left out.
    pub bad_id: String,
    /// A gist with `javascript:` and `data:` links for its page, clone URL and two files
    /// (`evil.sh` with escapes in its name, `data.txt`), and a good `fine.rs`.
    pub script_links: String,
    /// A gist whose page is plain HTTP on another host and whose clone URL has credentials.
    pub off_host: String,
    /// A gist whose page link is https but carries a quote and an event handler.
    pub quoted: String,
}

/// RFC 7396: objects are merged key by key, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

impl FakeApis {
    /// Gives `login` (already a fake user) a profile name with escapes and four hostile gists
    /// besides the ones it has.
    pub fn add_hostile_gists(&self, login: &str) -> HostileGists {
        let mut state = self.lock();
        let created = now_secs() - 3600;
        let user = state.github.user_mut(login).expect("fake user");
        user.name = Some(format!("Mallory{STEERING} Example"));
        let hex = hex_of(login);
        let id = |n: u32| format!("{hex}h{n:04}");
        let file = |name: &str| FakeFile {
            name: name.to_string(),
            language: Some("Text".into()),
            size: 1,
        };
        let evil_file = format!("evil{STEERING}<b>.sh");
        let planted = [
            (
                format!("<img src=x onerror=alert(1)>{STEERING}"),
                "an id of markup".to_string(),
                vec![file("main.rs")],
            ),
            (
                id(1),
                format!("{STEERING}<script>alert(1)</script> red\u{202e}txt.exe"),
                vec![file(&evil_file), file("data.txt"), file("fine.rs")],
            ),
            (id(2), "off host".to_string(), vec![file("main.rs")]),
            (id(3), "quoted".to_string(), vec![file("main.rs")]),
        ];
        for (gist_id, description, files) in planted {
            user.gists.push(FakeGist {
                id: gist_id,
                description: Some(description),
                files,
                created_at: created,
                updated_at: created,
                revision: 1,
            });
        }
        let deliverable = user
            .gists
            .iter()
            .map(|g| g.id.clone())
            .filter(|g| g.chars().all(|c| c.is_ascii_alphanumeric()))
            .collect();
        let overrides = &mut state.github.gist_json_overrides;
        overrides.insert(
            id(1),
            json!({
                "html_url": "javascript:alert(document.cookie)",
                "git_pull_url": "data:text/html,<script>alert(1)</script>",
                "files": {
                    evil_file: {"raw_url": "JavaScript:alert(2)"},
                    "data.txt": {"raw_url": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="},
                },
            }),
        );
        overrides.insert(
            id(2),
            json!({
                "html_url": "http://evil.example/gist",
                "git_pull_url": "https://user:secret@evil.example/gist.git",
            }),
        );
        overrides.insert(
            id(3),
            json!({"html_url": format!("https://gist.github.com/{login}/{}\"onmouseover=\"alert(1)", id(3))}),
        );
        HostileGists {
            deliverable,
            bad_id: format!("<img src=x onerror=alert(1)>{STEERING}"),
            script_links: id(1),
            off_host: id(2),
            quoted: id(3),
        }
    }

    /// The next GitHub request is refused with this message.
    pub fn refuse_next_github_request_with(&self, message: &str) {
        self.lock()
            .github
            .faults
            .push_back(GithubFault::Refuse(message.to_string()));
    }

    /// The next Pipedrive request on `route` is refused with this error text.
    pub fn refuse_next_pipedrive_request_with(&self, route: PipedriveRoute, error: &str) {
        self.lock()
            .pipedrive
            .faults
            .push_back((route, PipedriveFault::Refuse(error.to_string())));
    }
}
