DROP INDEX people_new_count;
ALTER TABLE people DROP COLUMN new_count;
