ALTER TABLE people DROP INDEX people_new_count, DROP COLUMN new_count;
