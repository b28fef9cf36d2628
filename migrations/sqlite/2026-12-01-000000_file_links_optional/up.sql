-- A file whose link GitHub sent in a form gisttrack refuses (not https, not on the API's own
-- host) is kept without a link. SQLite cannot drop a NOT NULL, so the table is rebuilt.
CREATE TABLE gist_files_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    gist_id BIGINT NOT NULL REFERENCES gists (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    raw_url TEXT,
    language TEXT,
    size BIGINT NOT NULL DEFAULT 0
);
-- Earlier versions stored '' for a missing link; neither it nor any other non-web value is
-- a link to keep.
INSERT INTO gist_files_new (id, gist_id, name, raw_url, language, size)
    SELECT id, gist_id, name,
           CASE WHEN raw_url LIKE 'https://%' OR raw_url LIKE 'http://%' THEN raw_url END,
           language, size
    FROM gist_files;
DROP TABLE gist_files;
ALTER TABLE gist_files_new RENAME TO gist_files;
CREATE INDEX gist_files_gist ON gist_files (gist_id);
