//! The Pipedrive API v2 client (ureq): persons and activities, paced under the burst limit.

use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{agent, backoff, excerpt, header, header_num, http_response::Response, Retries};
use super::{ActivitySummary, ApiError, NewActivity, PipedriveApi};
use crate::config::Secret;
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
            max_wait: Duration::from_secs(60),
            timeout: Duration::from_secs(20),
            retries: 3,
            retry_base: Duration::from_millis(250),
        }
    }
}

pub struct PipedriveClient {
    agent: ureq::Agent,
    settings: PipedriveSettings,
    /// No request leaves before this instant: set by 429s and by an emptied burst window,
    /// shared by every worker so one 429 pauses them all.
    not_before: Mutex<Instant>,
    metrics: Arc<Metrics>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Delete,
}

impl PipedriveClient {
    pub fn new(settings: PipedriveSettings, metrics: Arc<Metrics>) -> PipedriveClient {
        PipedriveClient {
            agent: agent(settings.timeout),
            settings,
            not_before: Mutex::new(Instant::now()),
            metrics,
        }
    }

    fn pause_until(&self, until: Instant) {
        let mut not_before = self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        if until > *not_before {
            *not_before = until;
        }
    }

    fn wait_turn(&self) {
        let until = *self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if until > now {
            sleep(until - now);
        }
    }

    /// Reads the burst headers: when the window is (nearly) empty, everyone waits for its reset.
    fn observe(&self, response: &Response) {
        if let (Some(remaining), Some(reset)) = (
            header_num(response, "x-ratelimit-remaining"),
            header_num(response, "x-ratelimit-reset"),
        ) {
            if remaining <= 1 {
                self.pause_until(Instant::now() + Duration::from_secs(reset.clamp(0, 60) as u64));
            }
        }
    }

    /// Sends one request and returns the envelope of a 2xx answer.
    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.settings.base_url);
        let mut retries = Retries::new(self.settings.retry_base, self.settings.retries);
        let mut throttled = 0;
        loop {
            self.wait_turn();
            self.metrics.pipedrive_requests.inc();
            let token = self.settings.token.expose();
            let result = match method {
                Method::Get => {
                    let mut request = self
                        .agent
                        .get(&url)
                        .header("x-api-token", token)
                        .header("Accept", "application/json");
                    for (k, v) in query {
                        request = request.query(k, v);
                    }
                    request.call()
                }
                Method::Delete => self
                    .agent
                    .delete(&url)
                    .header("x-api-token", token)
                    .header("Accept", "application/json")
                    .call(),
                Method::Post => self
                    .agent
                    .post(&url)
                    .header("x-api-token", token)
                    .header("Accept", "application/json")
                    .send_json(body.unwrap_or(&Value::Null)),
            };
            let mut response = match result {
                Ok(response) => response,
                Err(err) => {
                    if method != Method::Post && retries.wait() {
                        continue;
                    }
                    return Err(ApiError::Transport(err.to_string()));
                }
            };
            self.observe(&response);
            let status = response.status().as_u16();
            let is_json = header(&response, "content-type").is_some_and(|c| c.contains("json"));
            let text = response
                .body_mut()
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_to_string()
                .unwrap_or_default();
            match status {
                200..=299 => {
                    let envelope: Value =
                        serde_json::from_str(&text).map_err(|e| ApiError::Decode(format!("{path}: {e}")))?;
                    if envelope.get("success").and_then(Value::as_bool) == Some(false) {
                        return Err(ApiError::Rejected {
                            status,
                            message: envelope_error(&text),
                        });
                    }
                    return Ok(envelope);
                }
                401 => return Err(ApiError::Unauthorized("Pipedrive rejected the token (401); check PIPEDRIVE_TOKEN".into())),
                429 => {
                    if header_num(&response, "x-daily-ratelimit-token-remaining") == Some(0) {
                        return Err(ApiError::RateLimited(
                            "Pipedrive's daily token budget is spent; stopped Pipedrive work for this pass".into(),
                        ));
                    }
                    // A 429 means the request was not processed, so even a write is safe to resend.
                    let wait = header_num(&response, "retry-after")
                        .or_else(|| header_num(&response, "x-ratelimit-reset"))
                        .map(|s| Duration::from_secs(s.max(1) as u64))
                        .unwrap_or_else(|| backoff(Duration::from_secs(2), throttled, Duration::from_secs(60)));
                    if wait > self.settings.max_wait || throttled >= 5 {
                        return Err(ApiError::RateLimited(format!(
                            "Pipedrive keeps answering 429 (asked to wait {}); stopped Pipedrive work for this pass",
                            humantime::format_duration(Duration::from_secs(wait.as_secs()))
                        )));
                    }
                    throttled += 1;
                    self.metrics.pipedrive_rate_limit_waits.inc();
                    log::warn!("Pipedrive rate limit: pausing every worker for {:?}", wait);
                    self.pause_until(Instant::now() + wait);
                    continue;
                }
                403 if !is_json => {
                    return Err(ApiError::Blocked(
                        "Pipedrive answered 403 with an HTML page (blocked after rate limiting); stopped Pipedrive work for this pass".into(),
                    ))
                }
                500..=599 => {
                    if method != Method::Post && retries.wait() {
                        continue;
                    }
                    return Err(ApiError::Server {
                        status,
                        message: envelope_error(&text),
                    });
                }
                _ => {
                    return Err(ApiError::Rejected {
                        status,
                        message: envelope_error(&text),
                    })
                }
            }
        }
    }
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

fn data_id(envelope: &Value) -> Result<i64, ApiError> {
    envelope
        .pointer("/data/id")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::Decode("no data.id in the answer".into()))
}

impl PipedriveApi for PipedriveClient {
    fn find_person_by_email(&self, email: &str) -> Result<Option<i64>, ApiError> {
        let envelope = self.send(
            Method::Get,
            "/api/v2/persons/search",
            &[
                ("term", email.to_string()),
                ("fields", "email".into()),
                ("exact_match", "true".into()),
                ("limit", "10".into()),
            ],
            None,
        )?;
        let items = envelope
            .pointer("/data/items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // Exact matching has been reported not to be honoured everywhere: check it ourselves.
        Ok(items.iter().find_map(|entry| {
            let item = entry.get("item")?;
            let emails = item.get("emails")?.as_array()?;
            let matches = emails.iter().any(|e| {
                let value = e
                    .as_str()
                    .or_else(|| e.get("value").and_then(Value::as_str));
                value.is_some_and(|v| v.eq_ignore_ascii_case(email))
            });
            matches
                .then(|| item.get("id").and_then(Value::as_i64))
                .flatten()
        }))
    }

    fn create_person(&self, name: &str, email: Option<&str>) -> Result<i64, ApiError> {
        let mut body = json!({ "name": name });
        if let Some(email) = email {
            body["emails"] = json!([{ "value": email, "primary": true, "label": "work" }]);
        }
        data_id(&self.send(Method::Post, "/api/v2/persons", &[], Some(&body))?)
    }

    fn delete_person(&self, id: i64) -> Result<(), ApiError> {
        self.send(Method::Delete, &format!("/api/v2/persons/{id}"), &[], None)
            .map(|_| ())
    }

    fn create_activity(&self, activity: &NewActivity) -> Result<i64, ApiError> {
        let body = json!({
            "subject": activity.subject,
            "type": activity.activity_type,
            "done": activity.done,
            "due_date": activity.due_date,
            "note": activity.note,
            "participants": [{ "person_id": activity.person_id, "primary": true }],
        });
        data_id(&self.send(Method::Post, "/api/v2/activities", &[], Some(&body))?)
    }

    fn person_activities(&self, person_id: i64) -> Result<Vec<ActivitySummary>, ApiError> {
        let mut activities = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut query = vec![
                ("person_id", person_id.to_string()),
                ("limit", "500".to_string()),
            ];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.clone()));
            }
            let envelope = self.send(Method::Get, "/api/v2/activities", &query, None)?;
            for item in envelope
                .get("data")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(id) = item.get("id").and_then(Value::as_i64) {
                    let note = item
                        .get("note")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    activities.push(ActivitySummary { id, note });
                }
            }
            cursor = envelope
                .pointer("/additional_data/next_cursor")
                .and_then(Value::as_str)
                .map(str::to_string);
            if cursor.is_none() {
                return Ok(activities);
            }
        }
        Err(ApiError::Decode("activity pagination does not end".into()))
    }
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
}
