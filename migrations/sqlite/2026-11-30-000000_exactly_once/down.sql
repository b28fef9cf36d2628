DROP TABLE departed_people;
ALTER TABLE sync_runs RENAME COLUMN failed TO failures;
ALTER TABLE sync_runs DROP COLUMN deliveries_waiting;
ALTER TABLE sync_runs DROP COLUMN activities_reconciled;
ALTER TABLE sync_runs DROP COLUMN users_skipped;
DROP TABLE person_creations;
ALTER TABLE people DROP COLUMN pipedrive_history_read;
