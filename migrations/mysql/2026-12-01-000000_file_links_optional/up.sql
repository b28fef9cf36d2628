-- A file whose link GitHub sent in a form gisttrack refuses (not https, not on the API's own
-- host) is kept without a link.
ALTER TABLE gist_files MODIFY raw_url TEXT NULL;
-- Earlier versions stored '' for a missing link; neither it nor any other non-web value is
-- a link to keep.
UPDATE gist_files SET raw_url = NULL
    WHERE raw_url NOT LIKE 'https://%' AND raw_url NOT LIKE 'http://%';
