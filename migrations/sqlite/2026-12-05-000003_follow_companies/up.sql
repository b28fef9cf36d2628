-- GitHub organizations followed: each mirrored to one Pipedrive organization, its public
-- members tracked as people.
CREATE TABLE followed_orgs (
    github_id BIGINT PRIMARY KEY NOT NULL,
    login TEXT NOT NULL,
    login_key TEXT NOT NULL,
    -- The name the Pipedrive organization is searched for and created with.
    name TEXT NOT NULL,
    pipedrive_org_id BIGINT,
    -- The ETag of every page of the member list (one a line), sent as If-None-Match by the
    -- next pass.
    members_etag TEXT,
    -- A Pipedrive organization creation whose answer nobody saw (Unix ms it was sent): the
    -- organization is looked for by its exact name before another is ever created.
    org_creation_started_at BIGINT,
    followed_at BIGINT NOT NULL,
    members_listed_at BIGINT
);
CREATE UNIQUE INDEX followed_orgs_login_key ON followed_orgs (login_key);

-- Who is, or was, a public member of a followed organization. `skipped` says why a member is
-- not tracked through it (bot, excluded); `left_at` when they left the public list;
-- `added_by_org` whether following the organization started tracking them (only those are
-- dropped with it).
CREATE TABLE org_members (
    org_github_id BIGINT NOT NULL,
    github_id BIGINT NOT NULL,
    login TEXT NOT NULL,
    skipped TEXT,
    joined_at BIGINT NOT NULL,
    left_at BIGINT,
    added_by_org BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (org_github_id, github_id)
);
