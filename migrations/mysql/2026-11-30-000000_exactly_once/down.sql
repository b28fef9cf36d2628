DROP TABLE departed_people;
ALTER TABLE sync_runs CHANGE COLUMN failed failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs
    DROP COLUMN deliveries_waiting,
    DROP COLUMN activities_reconciled,
    DROP COLUMN users_skipped;
DROP TABLE person_creations;
ALTER TABLE people DROP COLUMN pipedrive_history_read;
