DROP TABLE org_members;
DROP TABLE followed_orgs;
