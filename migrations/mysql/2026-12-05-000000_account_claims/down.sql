ALTER TABLE person_creations DROP INDEX person_creations_github_id, DROP COLUMN github_id;
DROP TABLE account_claims;
