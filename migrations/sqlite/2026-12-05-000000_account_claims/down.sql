DROP INDEX person_creations_github_id;
ALTER TABLE person_creations DROP COLUMN github_id;
DROP TABLE account_claims;
