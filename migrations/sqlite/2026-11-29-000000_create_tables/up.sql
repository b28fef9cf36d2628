-- Times are Unix epoch milliseconds (UTC) on both backends.
CREATE TABLE people (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    github_login TEXT NOT NULL,
    github_login_key TEXT NOT NULL,
    github_id BIGINT,
    name TEXT,
    email TEXT,
    pipedrive_person_id BIGINT,
    backfill BOOLEAN NOT NULL DEFAULT 1,
    added_at BIGINT NOT NULL,
    last_synced_at BIGINT,
    last_visited_at BIGINT,
    previous_visited_at BIGINT,
    gists_etag TEXT,
    lease_owner TEXT,
    lease_expires_at BIGINT
);
CREATE UNIQUE INDEX people_github_login_key ON people (github_login_key);
CREATE UNIQUE INDEX people_github_id ON people (github_id);

CREATE TABLE gists (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    person_id BIGINT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    github_gist_id TEXT NOT NULL,
    description TEXT,
    html_url TEXT NOT NULL,
    pull_url TEXT NOT NULL,
    github_created_at BIGINT NOT NULL,
    github_updated_at BIGINT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    delivery_state TEXT NOT NULL,
    activity_id BIGINT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at BIGINT,
    attempt_started_at BIGINT
);
CREATE UNIQUE INDEX gists_person_gist ON gists (person_id, github_gist_id);
CREATE INDEX gists_person_first_seen ON gists (person_id, first_seen_at);
CREATE INDEX gists_due ON gists (person_id, delivery_state, next_attempt_at);

CREATE TABLE gist_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    gist_id BIGINT NOT NULL REFERENCES gists (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    raw_url TEXT NOT NULL,
    language TEXT,
    size BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX gist_files_gist ON gist_files (gist_id);

CREATE TABLE sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    trigger_kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    users_checked INTEGER NOT NULL DEFAULT 0,
    users_unchanged INTEGER NOT NULL DEFAULT 0,
    new_gists INTEGER NOT NULL DEFAULT 0,
    activities_created INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    error_summary TEXT
);
CREATE INDEX sync_runs_started ON sync_runs (started_at);
