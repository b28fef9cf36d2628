-- One claim per GitHub account: whoever adds, deletes or relinks the account holds it first, so
-- two of them never decide from the same state (and never create two Pipedrive persons).
-- A lease, not a lock: it outlives the transaction that took it, until released or expired.
CREATE TABLE account_claims (
    github_id BIGINT PRIMARY KEY NOT NULL,
    -- What the holder is doing: add, delete or relink.
    purpose TEXT NOT NULL,
    -- The holding process (as leases name it) and a token per claim, so two threads of one
    -- process are two holders.
    owner TEXT NOT NULL,
    token BIGINT NOT NULL,
    claimed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- A creation in doubt is found by the account as well as by the login (a rename in between).
ALTER TABLE person_creations ADD COLUMN github_id BIGINT;
CREATE INDEX person_creations_github_id ON person_creations (github_id);
