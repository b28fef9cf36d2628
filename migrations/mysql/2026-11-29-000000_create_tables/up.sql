-- Times are Unix epoch milliseconds (UTC) on both backends.
-- Indexed strings are VARCHAR: MySQL cannot index a plain TEXT column.
CREATE TABLE people (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    github_login VARCHAR(64) NOT NULL,
    github_login_key VARCHAR(64) NOT NULL,
    github_id BIGINT,
    name TEXT,
    email TEXT,
    pipedrive_person_id BIGINT,
    backfill BOOLEAN NOT NULL DEFAULT 1,
    added_at BIGINT NOT NULL,
    last_synced_at BIGINT,
    last_visited_at BIGINT,
    previous_visited_at BIGINT,
    gists_etag VARCHAR(512),
    lease_owner VARCHAR(255),
    lease_expires_at BIGINT,
    UNIQUE KEY people_github_login_key (github_login_key),
    UNIQUE KEY people_github_id (github_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE gists (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    person_id BIGINT NOT NULL,
    github_gist_id VARCHAR(64) NOT NULL,
    description TEXT,
    html_url TEXT NOT NULL,
    pull_url TEXT NOT NULL,
    github_created_at BIGINT NOT NULL,
    github_updated_at BIGINT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    delivery_state VARCHAR(16) NOT NULL,
    activity_id BIGINT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at BIGINT,
    attempt_started_at BIGINT,
    UNIQUE KEY gists_person_gist (person_id, github_gist_id),
    KEY gists_person_first_seen (person_id, first_seen_at),
    KEY gists_due (person_id, delivery_state, next_attempt_at),
    CONSTRAINT gists_person_fk FOREIGN KEY (person_id) REFERENCES people (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE gist_files (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    gist_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    raw_url TEXT NOT NULL,
    language VARCHAR(64),
    size BIGINT NOT NULL DEFAULT 0,
    KEY gist_files_gist (gist_id),
    CONSTRAINT gist_files_gist_fk FOREIGN KEY (gist_id) REFERENCES gists (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sync_runs (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    trigger_kind VARCHAR(16) NOT NULL,
    owner VARCHAR(255) NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    users_checked INTEGER NOT NULL DEFAULT 0,
    users_unchanged INTEGER NOT NULL DEFAULT 0,
    new_gists INTEGER NOT NULL DEFAULT 0,
    activities_created INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    error_summary TEXT,
    KEY sync_runs_started (started_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
