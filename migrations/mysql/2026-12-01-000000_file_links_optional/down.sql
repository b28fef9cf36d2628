UPDATE gist_files SET raw_url = '' WHERE raw_url IS NULL;
ALTER TABLE gist_files MODIFY raw_url TEXT NOT NULL;
