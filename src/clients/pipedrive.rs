//! The Pipedrive API v2 client (ureq): persons and activities, paced under the burst limit.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{agent, backoff, drive, excerpt, header, header_num, HeaderMap, Next, Patience};
use super::{ActivitySummary, ApiError, Created, NewActivity, PipedriveAccount, PipedriveApi};
use super::{NewPipedrivePerson, PersonField, PersonLookup, PersonRecord};
use crate::config::Secret;
use crate::ids::{ActivityId, DealId, PipedriveOrgId, PipedrivePersonId, PipedriveUserId};
use crate::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct PipedriveSettings {
    /// The company URL, e.g. `https://acme.pipedrive.com`; requests go to `{base}/api/v2/...`.
    pub base_url: String,
    pub token: Secret,
    /// The longest 429 pause worth sitting through before giving up for the pass.
    pub max_wait: Duration,
    pub timeout: Duration,
    /// Retries for reads that meet a 5xx or a network error (writes are never blindly retried).
    pub retries: u32,
    pub retry_base: Duration,
}

impl PipedriveSettings {
    pub fn new(base_url: &str, token: Secret) -> PipedriveSettings {
        PipedriveSettings {
            base_url: base_url.trim_end_matches('/').to_string(),
            token,
            max_wait: crate::defaults::duration(crate::defaults::RATE_LIMIT_MAX_WAIT),
            timeout: crate::defaults::duration(crate::defaults::HTTP_TIMEOUT),
            retries: 3,
            retry_base: Duration::from_millis(250),
        }
    }
}

/// Pipedrive's search API allows 10 requests per 2 seconds on every plan, apart from the
/// token's burst window. The window is counted a little longer here: a request is stamped when
/// it leaves, and Pipedrive counts it when it arrives.
const SEARCH_LIMIT: usize = 10;
const SEARCH_WINDOW: Duration = Duration::from_millis(2_250);
/// Pages of recently changed persons looked through for a lost creation (500 each).
const RECENT_PAGES: usize = 40;

pub struct PipedriveClient {
    agent: ureq::Agent,
    settings: PipedriveSettings,
    /// No request leaves before this instant: set by 429s and by an emptied burst window,
    /// shared by every worker so one 429 pauses them all.
    not_before: Mutex<Instant>,
    /// When the last searches left, to stay within [`SEARCH_LIMIT`] per [`SEARCH_WINDOW`].
    searches: Mutex<VecDeque<Instant>>,
    metrics: Arc<Metrics>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    Get,
    Post,
}

/// One request to make.
#[derive(Debug, Clone, Copy)]
struct Call<'a> {
    method: Method,
    path: &'a str,
    query: &'a [(&'a str, String)],
    body: Option<&'a Value>,
}

impl<'a> Call<'a> {
    fn get(path: &'a str, query: &'a [(&'a str, String)]) -> Call<'a> {
        Call {
            method: Method::Get,
            path,
            query,
            body: None,
        }
    }

    fn post(path: &'a str, body: &'a Value) -> Call<'a> {
        Call {
            method: Method::Post,
            path,
            query: &[],
            body: Some(body),
        }
    }
}

/// A 2xx answer: its envelope, and the daily budgets it reported.
#[derive(Debug)]
struct Answer {
    envelope: Value,
    /// `x-daily-requests-left` (POST and PUT answers).
    daily_writes_left: Option<i64>,
    /// `x-daily-ratelimit-token-remaining`, where Pipedrive sends it.
    daily_tokens_left: Option<i64>,
}

impl PipedriveClient {
    pub fn new(settings: PipedriveSettings, metrics: Arc<Metrics>) -> PipedriveClient {
        PipedriveClient {
            agent: agent(settings.timeout),
            settings,
            not_before: Mutex::new(Instant::now()),
            searches: Mutex::new(VecDeque::new()),
            metrics,
        }
    }

    fn pause_until(&self, until: Instant) {
        let mut not_before = self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        if until > *not_before {
            *not_before = until;
        }
    }

    /// How long every worker must still hold off (a 429's pause, an emptied burst window).
    fn pause_left(&self) -> Option<Duration> {
        let until = *self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        until.checked_duration_since(Instant::now())
    }

    /// Waits until one more search fits in the search API's own window.
    fn wait_search_turn(&self) {
        loop {
            let wait = {
                let mut sent = self.searches.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                while sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= SEARCH_WINDOW)
                {
                    sent.pop_front();
                }
                if sent.len() < SEARCH_LIMIT {
                    sent.push_back(now);
                    return;
                }
                SEARCH_WINDOW - now.duration_since(sent[0])
            };
            sleep(wait);
        }
    }

    /// Reads the burst headers: when the window is (nearly) empty, everyone waits for its reset.
    fn observe(&self, headers: &HeaderMap) {
        if let (Some(remaining), Some(reset)) = (
            header_num(headers, "x-ratelimit-remaining"),
            header_num(headers, "x-ratelimit-reset"),
        ) {
            if remaining <= 1 {
                self.pause_until(Instant::now() + Duration::from_secs(reset.clamp(0, 60) as u64));
            }
        }
    }

    fn patience(&self) -> Patience {
        Patience {
            retries: self.settings.retries,
            retry_base: self.settings.retry_base,
            max_wait: self.settings.max_wait,
            max_waits: 5,
        }
    }

    /// One HTTP exchange, with the token in its header (never in the URL).
    fn request(
        &self,
        call: &Call<'_>,
        url: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let token = self.settings.token.expose();
        match call.method {
            Method::Get => {
                let mut request = self
                    .agent
                    .get(url)
                    .header("x-api-token", token)
                    .header("Accept", "application/json");
                for (k, v) in call.query {
                    request = request.query(k, v);
                }
                request.call()
            }
            Method::Post => self
                .agent
                .post(url)
                .header("x-api-token", token)
                .header("Accept", "application/json")
                .send_json(call.body.unwrap_or(&Value::Null)),
        }
    }

    /// Sends one request and returns a 2xx answer. Reads wait their turn and are retried
    /// through 5xx, network errors and 429s. A write is sent at most once and never waits
    /// here: its caller records the attempt just before, so a wait in between would start
    /// the in-flight clock early. A write that meets a pause, or a 429, is `Throttled`.
    fn send(&self, call: Call<'_>) -> Result<Answer, ApiError> {
        let (method, path) = (call.method, call.path);
        let url = format!("{}{path}", self.settings.base_url);
        let attempt = |waits: u32| {
            if method == Method::Post {
                if let Some(left) = self.pause_left() {
                    return Next::Fail(ApiError::Throttled { retry_after: left });
                }
            } else {
                PipedriveApi::wait_turn(self);
            }
            if path.ends_with("/search") {
                self.wait_search_turn();
            }
            self.metrics.pipedrive_requests.inc();
            let sent = Instant::now();
            let result = self.request(&call, &url);
            let mut response = match result {
                Ok(response) => response,
                Err(err) => {
                    log::debug!("Pipedrive {method:?} {path}: {err}");
                    let err = ApiError::Transport(err.to_string());
                    return match method {
                        Method::Post => Next::Fail(err),
                        _ => Next::Transient(err),
                    };
                }
            };
            self.observe(response.headers());
            let text = response
                .body_mut()
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_to_string()
                .unwrap_or_default();
            let status = response.status().as_u16();
            log::debug!(
                "Pipedrive {method:?} {path} -> {status} in {:?}",
                sent.elapsed()
            );
            match classify(method, status, response.headers(), &text, waits, path) {
                Next::Wait { after, give_up } if method == Method::Post => {
                    self.pause_everyone(after);
                    Next::Fail(if after > self.settings.max_wait {
                        give_up
                    } else {
                        ApiError::Throttled { retry_after: after }
                    })
                }
                next => next,
            }
        };
        drive(self.patience(), attempt, |wait| self.pause_everyone(wait))
    }

    fn pause_everyone(&self, wait: Duration) {
        self.metrics.pipedrive_rate_limit_waits.inc();
        log::warn!("Pipedrive rate limit: pausing every worker for {wait:?}");
        self.pause_until(Instant::now() + wait);
    }
}

/// What one Pipedrive answer means (`waits`: 429 pauses already taken for this request).
fn classify(
    method: Method,
    status: u16,
    headers: &HeaderMap,
    text: &str,
    waits: u32,
    path: &str,
) -> Next<Answer> {
    let is_json = header(headers, "content-type").is_some_and(|c| c.contains("json"));
    match status {
        200..=299 => success(status, headers, text, path),
        401 => Next::Fail(ApiError::Unauthorized(
            "Pipedrive rejected the token (401); check PIPEDRIVE_TOKEN".into(),
        )),
        429 => throttled(headers, text, waits),
        403 if !is_json => Next::Fail(ApiError::Blocked(
            "Pipedrive answered 403 with an HTML page (blocked after rate limiting); stopped Pipedrive work for this pass".into(),
        )),
        500..=599 => {
            let err = ApiError::Server {
                status,
                message: envelope_error(text),
                by_service: is_json && is_error_envelope(text),
            };
            match method {
                Method::Post => Next::Fail(err),
                _ => Next::Transient(err),
            }
        }
        _ => Next::Fail(ApiError::Rejected {
            status,
            message: envelope_error(text),
        }),
    }
}

/// A 2xx: its envelope, unless the envelope itself says the request failed.
fn success(status: u16, headers: &HeaderMap, text: &str, path: &str) -> Next<Answer> {
    let envelope: Value = match serde_json::from_str(text) {
        Ok(envelope) => envelope,
        Err(e) => return Next::Fail(ApiError::Decode(format!("{path}: {e}"))),
    };
    if envelope.get("success").and_then(Value::as_bool) == Some(false) {
        return Next::Fail(ApiError::Rejected {
            status,
            message: envelope_error(text),
        });
    }
    Next::Done(Answer {
        envelope,
        daily_writes_left: header_num(headers, "x-daily-requests-left"),
        daily_tokens_left: header_num(headers, "x-daily-ratelimit-token-remaining"),
    })
}

/// A 429: the day's budget is spent (stop), or the burst window is full (wait for
/// `Retry-After`, else the window's reset, else a growing pause).
fn throttled(headers: &HeaderMap, text: &str, waits: u32) -> Next<Answer> {
    if daily_budget_spent(headers, text) {
        return Next::Fail(ApiError::RateLimited(
            "Pipedrive's daily budget is spent; stopped Pipedrive work for this pass".into(),
        ));
    }
    let after = header_num(headers, "retry-after")
        .or_else(|| header_num(headers, "x-ratelimit-reset"))
        .map(|s| Duration::from_secs(s.max(1) as u64))
        .unwrap_or_else(|| backoff(Duration::from_secs(2), waits, Duration::from_secs(60)));
    Next::Wait {
        after,
        give_up: ApiError::RateLimited(format!(
            "Pipedrive keeps answering 429 (asked to wait {}); stopped Pipedrive work for this pass",
            humantime::format_duration(Duration::from_secs(after.as_secs()))
        )),
    }
}

/// Pipedrive's own error document (`{"success": false, ...}`), as opposed to a gateway's.
fn is_error_envelope(text: &str) -> bool {
    serde_json::from_str::<Value>(text)
        .is_ok_and(|v| v.get("success").and_then(Value::as_bool) == Some(false))
}

/// A 429 that is about the day's budget, not the burst window: waiting a few seconds will
/// not help, and pressing on gets the token blocked.
fn daily_budget_spent(headers: &HeaderMap, text: &str) -> bool {
    header_num(headers, "x-daily-ratelimit-token-remaining") == Some(0)
        || header_num(headers, "x-daily-requests-left") == Some(0)
        || text.to_ascii_lowercase().contains("daily")
}

/// The envelope's `error` (and `code`), else the body's start.
fn envelope_error(text: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return excerpt(text);
    };
    let error = value.get("error").and_then(Value::as_str).unwrap_or("");
    let code = value
        .get("code")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| value.get("errorCode").map(|c| c.to_string()));
    match (error.is_empty(), code) {
        (false, Some(code)) => format!("{error} ({code})"),
        (false, None) => error.to_string(),
        (true, _) => excerpt(text),
    }
}

fn created<Id: From<i64>>(answer: Answer) -> Result<Created<Id>, ApiError> {
    let id = answer
        .envelope
        .pointer("/data/id")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::Decode("no data.id in the answer".into()))?;
    Ok(Created {
        id: Id::from(id),
        daily_writes_left: answer.daily_writes_left,
    })
}

/// A numeric id field, in either shape Pipedrive uses: a number, or (v1) an object with `id`
/// or `value`.
fn id_field(item: &Value, name: &str) -> Option<i64> {
    let field = item.get(name)?;
    field
        .as_i64()
        .or_else(|| field.get("id").and_then(Value::as_i64))
        .or_else(|| field.get("value").and_then(Value::as_i64))
}

fn next_cursor(envelope: &Value) -> Option<String> {
    envelope
        .pointer("/additional_data/next_cursor")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Whether a person item (v2 list or search) carries this email, in either shape Pipedrive
/// uses: plain strings (search) or `{value, ...}` objects (persons).
fn has_email(item: &Value, email: &str) -> bool {
    item.get("emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|e| {
            e.as_str()
                .or_else(|| e.get("value").and_then(Value::as_str))
                .is_some_and(|v| v.eq_ignore_ascii_case(email))
        })
}

impl PipedriveApi for PipedriveClient {
    fn me(&self) -> Result<PipedriveAccount, ApiError> {
        let answer = self.send(Call::get("/api/v1/users/me", &[]))?;
        let data = answer.envelope.get("data").cloned().unwrap_or_default();
        let text = |name: &str| data.get(name).and_then(Value::as_str).map(str::to_string);
        Ok(PipedriveAccount {
            user: match (text("name"), text("email")) {
                (Some(name), Some(email)) => format!("{name} <{email}>"),
                (name, email) => name.or(email).unwrap_or_default(),
            },
            company: text("company_name").unwrap_or_default(),
            company_domain: text("company_domain"),
            daily_budget_left: answer.daily_tokens_left.or(answer.daily_writes_left),
        })
    }

    fn wait_turn(&self) {
        if let Some(left) = self.pause_left() {
            sleep(left);
        }
    }

    fn person(&self, id: PipedrivePersonId) -> Result<PersonLookup, ApiError> {
        let path = format!("/api/v2/persons/{id}");
        let answer = match self.send(Call::get(&path, &[])) {
            Ok(answer) => answer,
            // Merged into another person, or deleted (and perhaps purged since).
            Err(ApiError::Rejected {
                status: 404 | 410, ..
            }) => return Ok(PersonLookup::Gone),
            Err(err) => return Err(err),
        };
        let Some(data) = answer.envelope.get("data").filter(|d| d.is_object()) else {
            return Err(ApiError::Decode(format!("{path}: no person in the answer")));
        };
        if data.get("is_deleted").and_then(Value::as_bool) == Some(true) {
            return Ok(PersonLookup::Gone);
        }
        Ok(PersonLookup::Found(PersonRecord {
            id,
            owner_id: id_field(data, "owner_id").map(PipedriveUserId),
            org_id: id_field(data, "org_id").map(PipedriveOrgId),
            updated_at: data
                .get("update_time")
                .and_then(Value::as_str)
                .and_then(crate::time::parse_rfc3339),
        }))
    }

    fn find_persons(
        &self,
        field: PersonField,
        term: &str,
    ) -> Result<Vec<PipedrivePersonId>, ApiError> {
        let fields = match field {
            PersonField::Email => "email",
            PersonField::Name => "name",
        };
        let query = [
            ("term", term.to_string()),
            ("fields", fields.into()),
            ("exact_match", "true".into()),
            ("limit", "20".into()),
        ];
        let answer = self.send(Call::get("/api/v2/persons/search", &query))?;
        let items = answer
            .envelope
            .pointer("/data/items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // Exact matching has been reported not to be honoured everywhere: check it ourselves.
        Ok(items
            .iter()
            .filter_map(|entry| entry.get("item"))
            .filter(|item| match field {
                PersonField::Email => has_email(item, term),
                PersonField::Name => item
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|name| name.trim().eq_ignore_ascii_case(term.trim())),
            })
            .filter_map(|item| item.get("id").and_then(Value::as_i64))
            .map(PipedrivePersonId)
            .collect())
    }

    fn persons_added_between(
        &self,
        name: &str,
        email: Option<&str>,
        added_between: (i64, i64),
    ) -> Result<Vec<PipedrivePersonId>, ApiError> {
        let (from, to) = added_between;
        let added_in_window = |item: &Value| {
            item.get("add_time")
                .and_then(Value::as_str)
                .and_then(crate::time::parse_rfc3339)
                .is_none_or(|added| (from..=to).contains(&added))
        };
        let since = crate::time::format_seconds(from);
        let mut cursor: Option<String> = None;
        let mut found = Vec::new();
        for _ in 0..RECENT_PAGES {
            let mut query = vec![
                ("updated_since", since.clone()),
                ("limit", "500".to_string()),
            ];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.clone()));
            }
            let answer = self.send(Call::get("/api/v2/persons", &query))?;
            found.extend(
                data_items(&answer.envelope)
                    .filter(|item| {
                        // Pipedrive may trim a name it stores: compared as a person reads it.
                        item.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| n.trim().eq_ignore_ascii_case(name.trim()))
                            && item.get("is_deleted").and_then(Value::as_bool) != Some(true)
                            && added_in_window(item)
                            && email.is_none_or(|email| has_email(item, email))
                    })
                    .filter_map(|item| item.get("id").and_then(Value::as_i64))
                    .map(PipedrivePersonId),
            );
            cursor = next_cursor(&answer.envelope);
            if cursor.is_none() {
                return Ok(found);
            }
        }
        // Not having looked everywhere is not having found nothing: the caller keeps the
        // creation in doubt and refuses to create another, rather than risk a second person.
        Err(ApiError::Decode(format!(
            "looked through {RECENT_PAGES} pages of recently changed Pipedrive persons for {name:?} without reaching the end"
        )))
    }

    fn create_person(
        &self,
        person: &NewPipedrivePerson<'_>,
    ) -> Result<Created<PipedrivePersonId>, ApiError> {
        let mut body = json!({ "name": person.name });
        if let Some(email) = person.email {
            body["emails"] = json!([{ "value": email, "primary": true, "label": "work" }]);
        }
        if let Some(owner) = person.owner_id {
            body["owner_id"] = json!(owner);
        }
        if let Some(org) = person.org_id {
            body["org_id"] = json!(org);
        }
        created(self.send(Call::post("/api/v2/persons", &body))?)
    }

    fn find_organizations(&self, name: &str) -> Result<Vec<PipedriveOrgId>, ApiError> {
        let query = [
            ("term", name.to_string()),
            ("fields", "name".into()),
            ("exact_match", "true".into()),
            ("limit", "20".into()),
        ];
        let answer = self.send(Call::get("/api/v2/organizations/search", &query))?;
        let items = answer
            .envelope
            .pointer("/data/items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // As for persons: exact matching is checked here too, in case it is not honoured.
        Ok(items
            .iter()
            .filter_map(|entry| entry.get("item").or(Some(entry)))
            .filter(|item| {
                item.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case(name.trim()))
                    && item.get("is_deleted").and_then(Value::as_bool) != Some(true)
            })
            .filter_map(|item| item.get("id").and_then(Value::as_i64))
            .map(PipedriveOrgId)
            .collect())
    }

    fn create_organization(&self, name: &str) -> Result<Created<PipedriveOrgId>, ApiError> {
        let body = json!({ "name": name });
        created(self.send(Call::post("/api/v2/organizations", &body))?)
    }

    fn create_activity(&self, activity: &NewActivity) -> Result<Created<ActivityId>, ApiError> {
        let mut body = json!({
            "subject": activity.subject,
            "type": activity.activity_type,
            "done": activity.done,
            "due_date": activity.due_date,
            "note": activity.note,
            "participants": [{ "person_id": activity.person_id, "primary": true }],
        });
        // Left out, not null, when unset: Pipedrive then applies its own default.
        if let Some(owner) = activity.owner_id {
            body["owner_id"] = json!(owner);
        }
        if let Some(org) = activity.org_id {
            body["org_id"] = json!(org);
        }
        if let Some(deal) = activity.deal_id {
            body["deal_id"] = json!(deal);
        }
        created(self.send(Call::post("/api/v2/activities", &body))?)
    }

    fn open_deals(&self, person_id: PipedrivePersonId) -> Result<Vec<DealId>, ApiError> {
        let query = [
            ("person_id", person_id.to_string()),
            ("status", "open".to_string()),
            ("limit", "2".to_string()),
        ];
        let answer = self.send(Call::get("/api/v2/deals", &query))?;
        Ok(data_items(&answer.envelope)
            .filter(|deal| {
                deal.get("status")
                    .and_then(Value::as_str)
                    .is_none_or(|s| s == "open")
            })
            .filter_map(|deal| deal.get("id").and_then(Value::as_i64))
            .map(DealId)
            .take(2)
            .collect())
    }

    fn user_names(&self) -> Result<Option<Vec<(PipedriveUserId, String)>>, ApiError> {
        let answer = match self.send(Call::get("/api/v1/users", &[])) {
            Ok(answer) => answer,
            // Reading users takes a permission the token need not have: names stay unknown.
            Err(ApiError::Rejected { status: 403, .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        Ok(Some(
            data_items(&answer.envelope)
                .filter_map(|user| {
                    let id = user.get("id").and_then(Value::as_i64)?;
                    let name = user.get("name").and_then(Value::as_str)?;
                    Some((PipedriveUserId(id), name.to_string()))
                })
                .collect(),
        ))
    }

    fn person_activities(
        &self,
        person_id: PipedrivePersonId,
        changed_since: Option<i64>,
    ) -> Result<Vec<ActivitySummary>, ApiError> {
        let mut activities = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut query = vec![
                ("person_id", person_id.to_string()),
                ("limit", "500".to_string()),
            ];
            if let Some(since) = changed_since {
                query.push(("updated_since", crate::time::format_seconds(since)));
            }
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.clone()));
            }
            let envelope = self.send(Call::get("/api/v2/activities", &query))?.envelope;
            for item in data_items(&envelope) {
                // A deleted activity is not one the sales team has.
                if item.get("is_deleted").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                if let Some(id) = item.get("id").and_then(Value::as_i64) {
                    let note = item
                        .get("note")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    activities.push(ActivitySummary {
                        id: ActivityId(id),
                        note,
                    });
                }
            }
            cursor = next_cursor(&envelope);
            if cursor.is_none() {
                return Ok(activities);
            }
        }
        Err(ApiError::Decode("activity pagination does not end".into()))
    }
}

/// The items of a v2 list answer's `data` array (none when it is missing or not an array).
fn data_items(envelope: &Value) -> impl Iterator<Item = &Value> {
    envelope
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_error_envelope_shape() {
        assert_eq!(
            envelope_error(
                r#"{"success":false,"error":"'person_id' is a read-only field.","code":"ERR_BAD_REQUEST"}"#
            ),
            "'person_id' is a read-only field. (ERR_BAD_REQUEST)"
        );
        assert_eq!(
            envelope_error(r#"{"success":false,"error":"unauthorized access","errorCode":401}"#),
            "unauthorized access (401)"
        );
        assert_eq!(
            envelope_error("<html>blocked</html>"),
            "<html>blocked</html>"
        );
    }

    use crate::clients::header_map as headers;

    const JSON: (&str, &str) = ("content-type", "application/json");

    #[test]
    fn a_success_carries_the_daily_write_budget() {
        let next = classify(
            Method::Post,
            201,
            &headers(&[JSON, ("x-daily-requests-left", "0")]),
            r#"{"success":true,"data":{"id":7}}"#,
            0,
            "/api/v2/activities",
        );
        let Next::Done(answer) = next else {
            panic!("{next:?}")
        };
        assert_eq!(answer.daily_writes_left, Some(0));
        assert_eq!(created::<ActivityId>(answer).unwrap().id, ActivityId(7));
        assert!(matches!(
            classify(
                Method::Get,
                200,
                &headers(&[JSON]),
                r#"{"success":false,"error":"no"}"#,
                0,
                "/x"
            ),
            Next::Fail(ApiError::Rejected { status: 200, .. })
        ));
    }

    #[test]
    fn a_daily_429_stops_at_once_and_a_burst_429_waits() {
        for (pairs, body) in [
            (vec![("x-daily-ratelimit-token-remaining", "0")], "{}"),
            (vec![("x-daily-requests-left", "0")], "{}"),
            (
                vec![],
                r#"{"success":false,"error":"Daily rate limit exceeded"}"#,
            ),
        ] {
            assert!(
                matches!(
                    classify(Method::Post, 429, &headers(&pairs), body, 0, "/x"),
                    Next::Fail(ApiError::RateLimited(_))
                ),
                "{pairs:?} {body}"
            );
        }
        // A burst 429: Retry-After, else the window's reset.
        for (pair, seconds) in [(("retry-after", "3"), 3), (("x-ratelimit-reset", "2"), 2)] {
            let next = classify(Method::Get, 429, &headers(&[pair]), "{}", 0, "/x");
            let Next::Wait { after, give_up } = next else {
                panic!("{pair:?}: a burst 429 waits")
            };
            assert_eq!(after, Duration::from_secs(seconds), "{pair:?}");
            assert!(give_up.stops_service());
        }
    }

    #[test]
    fn server_errors_are_retried_for_reads_only_and_html_403_is_a_block() {
        assert!(matches!(
            classify(Method::Get, 503, &headers(&[JSON]), "{}", 0, "/x"),
            Next::Transient(ApiError::Server { status: 503, .. })
        ));
        assert!(matches!(
            classify(Method::Post, 500, &headers(&[JSON]), "{}", 0, "/x"),
            Next::Fail(ApiError::Server { status: 500, .. })
        ));
        assert!(matches!(
            classify(
                Method::Get,
                403,
                &headers(&[("content-type", "text/html")]),
                "<html>",
                0,
                "/x"
            ),
            Next::Fail(ApiError::Blocked(_))
        ));
        assert!(matches!(
            classify(Method::Get, 401, &headers(&[JSON]), "{}", 0, "/x"),
            Next::Fail(ApiError::Unauthorized(_))
        ));
    }
}
