-- The check by effect (docs/security.md), timed on the benchmark's org: the same
-- configuration statements of a delegated administrator (user 2, the head of a
-- quarter of the hierarchy, with manage_users and manage_roles) with the check, and
-- again with its statement triggers disabled. Run by scripts/bench.sh after
-- bench/dataset.sql; read the "Time:" lines in pairs.
\set ON_ERROR_STOP 1
INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (10001, 'manage_users'), (10001, 'manage_roles');
\timing on
\echo '== with the check by effect'
SET sharing.viewer = '2';
-- The session has read protected data as the viewer (the model is loaded), as an
-- application's session has before an administrator changes something.
SELECT sharing.can_access('deals', 'view', 1, 1, 2) AS warm_up;
\echo 'a new user (its own statement)'
INSERT INTO sharing.users (id, company_id, name) VALUES (30001, 1, 'new');
\echo 'onboarding in one transaction: the user, then a role in the team'
BEGIN;
INSERT INTO sharing.users (id, company_id, name) VALUES (30002, 1, 'new');
INSERT INTO sharing.user_roles (user_id, role_id) VALUES (30002, 10005);
COMMIT;
\echo 'one member moved between two teams'
UPDATE sharing.user_roles SET role_id = 10007 WHERE user_id = 30002 AND role_id = 10005;
\echo 'one role (a team) moved under another'
UPDATE sharing.roles SET reports_to = 10006 WHERE id = 10021;
RESET sharing.viewer;
\echo 'what_if: moving one role'
SELECT count(*) AS users_changed FROM sharing.what_if('UPDATE sharing.roles SET reports_to = 10005 WHERE id = 10021');
\timing off
ALTER TABLE sharing.users DISABLE TRIGGER a_baseline, DISABLE TRIGGER z_effect;
ALTER TABLE sharing.user_roles DISABLE TRIGGER a_baseline, DISABLE TRIGGER z_effect;
ALTER TABLE sharing.roles DISABLE TRIGGER a_baseline, DISABLE TRIGGER z_effect;
\timing on
\echo '== the same statements without it'
SET sharing.viewer = '2';
-- The session has read protected data as the viewer (the model is loaded), as an
-- application's session has before an administrator changes something.
SELECT sharing.can_access('deals', 'view', 1, 1, 2) AS warm_up;
INSERT INTO sharing.users (id, company_id, name) VALUES (30011, 1, 'new');
BEGIN;
INSERT INTO sharing.users (id, company_id, name) VALUES (30012, 1, 'new');
INSERT INTO sharing.user_roles (user_id, role_id) VALUES (30012, 10005);
COMMIT;
UPDATE sharing.user_roles SET role_id = 10007 WHERE user_id = 30012 AND role_id = 10005;
UPDATE sharing.roles SET reports_to = 10005 WHERE id = 10021;
RESET sharing.viewer;
\timing off
ALTER TABLE sharing.users ENABLE TRIGGER a_baseline, ENABLE TRIGGER z_effect;
ALTER TABLE sharing.user_roles ENABLE TRIGGER a_baseline, ENABLE TRIGGER z_effect;
ALTER TABLE sharing.roles ENABLE TRIGGER a_baseline, ENABLE TRIGGER z_effect;
