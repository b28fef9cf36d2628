CREATE TABLE gist_files_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    gist_id BIGINT NOT NULL REFERENCES gists (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    raw_url TEXT NOT NULL,
    language TEXT,
    size BIGINT NOT NULL DEFAULT 0
);
INSERT INTO gist_files_old (id, gist_id, name, raw_url, language, size)
    SELECT id, gist_id, name, COALESCE(raw_url, ''), language, size FROM gist_files;
DROP TABLE gist_files;
ALTER TABLE gist_files_old RENAME TO gist_files;
CREATE INDEX gist_files_gist ON gist_files (gist_id);
