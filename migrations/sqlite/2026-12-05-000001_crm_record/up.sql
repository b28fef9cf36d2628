-- The CRM is the record: what gisttrack last read of each person's Pipedrive person.
-- The person's owner (a Pipedrive user) and organization as last read, for activities and for
-- "my people" views.
ALTER TABLE people ADD COLUMN pipedrive_owner_id BIGINT;
ALTER TABLE people ADD COLUMN pipedrive_owner_name TEXT;
ALTER TABLE people ADD COLUMN pipedrive_org_id BIGINT;
-- When gisttrack last read the person's activities (Unix ms, taken as the read began); the
-- next read asks only for what changed since. NULL: the next read reads them all.
ALTER TABLE people ADD COLUMN activities_looked_at BIGINT;
-- The Pipedrive person was deleted (or merged away with no survivor found): nothing is sent
-- for the user until they are relinked.
ALTER TABLE people ADD COLUMN unlinked_at BIGINT;
-- Looking before every write replaces reading a person's history once.
ALTER TABLE people DROP COLUMN pipedrive_history_read;
CREATE INDEX people_owner ON people (pipedrive_owner_id, github_login_key);

-- Every change of the Pipedrive person a GitHub account is linked to, and why.
CREATE TABLE link_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    github_id BIGINT,
    github_login TEXT NOT NULL,
    from_pipedrive_id BIGINT,
    to_pipedrive_id BIGINT,
    -- merged, deleted or relinked
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX link_history_account ON link_history (github_id, at);

-- Passes count the merges they followed and the persons they found deleted.
ALTER TABLE sync_runs ADD COLUMN users_relinked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN users_unlinked INTEGER NOT NULL DEFAULT 0;
