-- The CRM is the record: what gisttrack last read of each person's Pipedrive person.
-- The person's owner (a Pipedrive user) and organization as last read, for activities and for
-- "my people" views. When gisttrack last read the person's activities (Unix ms, taken as the
-- read began; NULL: the next read reads them all). When the Pipedrive person was found deleted
-- (or merged away with no survivor): nothing is sent until the user is relinked. Looking
-- before every write replaces reading a person's history once.
ALTER TABLE people
    ADD COLUMN pipedrive_owner_id BIGINT,
    ADD COLUMN pipedrive_owner_name TEXT,
    ADD COLUMN pipedrive_org_id BIGINT,
    ADD COLUMN activities_looked_at BIGINT,
    ADD COLUMN unlinked_at BIGINT,
    DROP COLUMN pipedrive_history_read,
    ADD INDEX people_owner (pipedrive_owner_id, github_login_key);

-- Every change of the Pipedrive person a GitHub account is linked to, and why.
CREATE TABLE link_history (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    github_id BIGINT,
    github_login VARCHAR(64) NOT NULL,
    from_pipedrive_id BIGINT,
    to_pipedrive_id BIGINT,
    -- merged, deleted or relinked
    reason VARCHAR(16) NOT NULL,
    at BIGINT NOT NULL,
    INDEX link_history_account (github_id, at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Passes count the merges they followed and the persons they found deleted.
ALTER TABLE sync_runs
    ADD COLUMN users_relinked INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN users_unlinked INTEGER NOT NULL DEFAULT 0;
