-- One claim per GitHub account: whoever adds, deletes or relinks the account holds it first, so
-- two of them never decide from the same state (and never create two Pipedrive persons).
-- A lease, not a lock: it outlives the transaction that took it, until released or expired.
CREATE TABLE account_claims (
    github_id BIGINT NOT NULL PRIMARY KEY,
    -- What the holder is doing: add, delete or relink.
    purpose VARCHAR(16) NOT NULL,
    -- The holding process (as leases name it) and a token per claim, so two threads of one
    -- process are two holders.
    owner VARCHAR(255) NOT NULL,
    token BIGINT NOT NULL,
    claimed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A creation in doubt is found by the account as well as by the login (a rename in between).
ALTER TABLE person_creations
    ADD COLUMN github_id BIGINT,
    ADD INDEX person_creations_github_id (github_id);
