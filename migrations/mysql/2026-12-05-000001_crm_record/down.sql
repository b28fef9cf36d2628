ALTER TABLE sync_runs DROP COLUMN users_unlinked, DROP COLUMN users_relinked;
DROP TABLE link_history;
ALTER TABLE people
    DROP INDEX people_owner,
    ADD COLUMN pipedrive_history_read BOOLEAN NOT NULL DEFAULT 0,
    DROP COLUMN unlinked_at,
    DROP COLUMN activities_looked_at,
    DROP COLUMN pipedrive_org_id,
    DROP COLUMN pipedrive_owner_name,
    DROP COLUMN pipedrive_owner_id;
