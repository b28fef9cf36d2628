-- Whether the person's activities in Pipedrive have been read for gisttrack markers before the
-- first delivery (1 for a person gisttrack created itself: it has no history to read).
ALTER TABLE people ADD COLUMN pipedrive_history_read BOOLEAN NOT NULL DEFAULT 0;

-- A Pipedrive person creation whose outcome is not known (no answer, a gateway error, a crash):
-- the next add of the same login looks for that person before creating another.
CREATE TABLE person_creations (
    github_login_key TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    started_at BIGINT NOT NULL
);

-- Every count of a pass is stored, not only some.
ALTER TABLE sync_runs ADD COLUMN users_skipped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN activities_reconciled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN deliveries_waiting INTEGER NOT NULL DEFAULT 0;

-- The failures column is called what every report calls it.
ALTER TABLE sync_runs RENAME COLUMN failures TO failed;

-- A GitHub account that was tracked: its Pipedrive person, reused if it is added again, and
-- until when a delivery to that person may still land (an add is refused until then).
CREATE TABLE departed_people (
    github_id BIGINT PRIMARY KEY NOT NULL,
    pipedrive_person_id BIGINT,
    settles_at BIGINT,
    departed_at BIGINT NOT NULL
);
