-- Each person's count of gists new since their last visit (all of them before the first),
-- kept in the same transactions that discover gists and record visits, so "most new first"
-- is a walk of an index instead of a count of every person's gists. A descending key part
-- (MySQL 8, MariaDB 10.8) lets the walk run most new first, then by login ascending.
ALTER TABLE people ADD COLUMN new_count BIGINT NOT NULL DEFAULT 0;
UPDATE people SET new_count = (
    SELECT COUNT(*) FROM gists
    WHERE gists.person_id = people.id
      AND (people.last_visited_at IS NULL OR gists.first_seen_at > people.last_visited_at)
);
ALTER TABLE people ADD INDEX people_new_count (new_count DESC, github_login_key);
