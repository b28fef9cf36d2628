-- Each person's count of gists new since their last visit (all of them before the first),
-- kept in the same transactions that discover gists and record visits, so "most new first"
-- is a walk of an index instead of a count of every person's gists.
ALTER TABLE people ADD COLUMN new_count BIGINT NOT NULL DEFAULT 0;
UPDATE people SET new_count = (
    SELECT COUNT(*) FROM gists
    WHERE gists.person_id = people.id
      AND (people.last_visited_at IS NULL OR gists.first_seen_at > people.last_visited_at)
);
-- Most new first, then by login: the order the dashboard pages through.
CREATE INDEX people_new_count ON people (new_count DESC, github_login_key);
