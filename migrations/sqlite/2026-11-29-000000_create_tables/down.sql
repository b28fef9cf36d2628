DROP TABLE sync_runs;
DROP TABLE gist_files;
DROP TABLE gists;
DROP TABLE people;
