-- pg_sharing demo, part 2: a realistic organization. Two companies with an
-- agreement, a four-level hierarchy, ~50 users, 100,000 records over three types.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
\timing off

\echo
\echo '== Part 2: Northwind (4-level sales hierarchy, 48 users) and its partner Contoso'
\echo '   [1/4] organization ...'
INSERT INTO sharing.object_types (name) VALUES ('accounts') ON CONFLICT DO NOTHING;
SELECT sharing.create_company('Northwind') AS northwind \gset
SELECT sharing.create_company('Contoso') AS contoso \gset
SELECT id AS nw_admin FROM sharing.roles WHERE company_id = :northwind AND name = 'Administrator' \gset
SELECT id AS nw_user FROM sharing.roles WHERE company_id = :northwind AND name = 'User' \gset
SELECT id AS co_manager FROM sharing.roles WHERE company_id = :contoso AND name = 'Manager' \gset
-- Level 1: CEO (Administrator). Level 2: VP Sales. Level 3: two regions. Level 4: two teams per region.
INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on) VALUES
  (2000, :northwind, 'VP Sales',            :nw_admin, :nw_user),
  (2100, :northwind, 'North Region Lead',   2000, :nw_user),
  (2200, :northwind, 'South Region Lead',   2000, :nw_user),
  (2110, :northwind, 'North Team A',        2100, :nw_user),
  (2120, :northwind, 'North Team B',        2100, :nw_user),
  (2210, :northwind, 'South Team A',        2200, :nw_user),
  (2220, :northwind, 'South Team B',        2200, :nw_user);
-- Accounts are public to read inside Northwind; deals and contacts stay private.
UPDATE sharing.object_types SET org_wide_default = 'public_read' WHERE name = 'accounts';
INSERT INTO sharing.users (id, company_id, name)
SELECT 1000 + n, :northwind, format('nw-user-%s', n) FROM generate_series(1, 48) n;
INSERT INTO sharing.users (id, company_id, name, status) VALUES (1100, :northwind, 'nw-guest', 'pending');
INSERT INTO sharing.users (id, company_id, name) SELECT 1200 + n, :contoso, format('contoso-%s', n) FROM generate_series(1, 6) n;
-- 1001 CEO, 1002 VP, 1003/1004 region leads, the other 44 in the four teams.
INSERT INTO sharing.user_roles (user_id, role_id)
SELECT 1000 + n, CASE WHEN n = 1 THEN :nw_admin WHEN n = 2 THEN 2000 WHEN n = 3 THEN 2100 WHEN n = 4 THEN 2200
                      ELSE (ARRAY[2110, 2120, 2210, 2220])[1 + n % 4] END
  FROM generate_series(1, 48) n;
DELETE FROM sharing.user_roles WHERE role_id = :nw_user AND user_id BETWEEN 1001 AND 1048;
INSERT INTO sharing.user_roles (user_id, role_id) VALUES (1201, :co_manager);
-- A sharing rule: the North teams read each other's deals.
INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, source_scope, target_role, target_scope, access)
VALUES (:northwind, 'deals', 2100, 'role_and_subordinates', 2100, 'role_and_subordinates', 'read');
-- Northwind shares viewing accounts and deals with Contoso.
INSERT INTO sharing.agreements (grantor_company, grantee_company, notes) VALUES (:northwind, :contoso, 'channel partner')
RETURNING id AS agreement \gset
INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action)
VALUES (:agreement, 'accounts', 'view'), (:agreement, 'deals', 'view');

\echo '   [2/4] three protected tables ...'
CREATE TABLE nw_accounts (id bigserial PRIMARY KEY, owner_id bigint NOT NULL, company_id bigint NOT NULL, name text, revenue numeric);
CREATE TABLE nw_deals (id bigserial PRIMARY KEY, owner_id bigint NOT NULL, company_id bigint NOT NULL, assignee_id bigint, amount numeric, created_at timestamptz);
CREATE TABLE nw_contacts (id bigserial PRIMARY KEY, owner_id bigint NOT NULL, company_id bigint NOT NULL, email text);
SELECT sharing.protect('nw_accounts', 'accounts'), sharing.protect('nw_deals', 'deals', assignee_column => 'assignee_id'),
       sharing.protect('nw_contacts', 'contacts');
CREATE INDEX ON nw_accounts (owner_id);
CREATE INDEX ON nw_deals (owner_id);
CREATE INDEX ON nw_contacts (owner_id);
GRANT SELECT ON nw_accounts, nw_deals, nw_contacts TO demo_app;

\echo '   [3/4] 100,000 records (20,000 accounts, 50,000 deals, 30,000 contacts) ...'
SELECT setseed(0.42);
INSERT INTO nw_accounts (owner_id, company_id, name, revenue)
SELECT 1001 + (random() * 47)::int, :northwind, 'account ' || n, round((random() * 1e6)::numeric, 2) FROM generate_series(1, 20000) n;
\echo '         accounts done'
INSERT INTO nw_deals (owner_id, company_id, assignee_id, amount, created_at)
SELECT 1001 + (random() * 47)::int, :northwind, CASE WHEN random() < 0.1 THEN 1001 + (random() * 47)::int END,
       round((random() * 1e5)::numeric, 2), now() - random() * interval '365 days'
  FROM generate_series(1, 50000) n;
\echo '         deals done'
INSERT INTO nw_contacts (owner_id, company_id, email)
SELECT 1001 + (random() * 47)::int, :northwind, 'c' || n || '@example.com' FROM generate_series(1, 30000) n;
\echo '         contacts done'
ANALYZE nw_accounts, nw_deals, nw_contacts;

\echo '   [4/4] the same report for six viewers'
\echo
\echo 'SELECT count(*), sum(amount) FROM nw_deals; and the counts of accounts and contacts:'
CREATE TEMP TABLE report (viewer text, deals bigint, deal_amount numeric, accounts bigint, contacts bigint);
GRANT ALL ON report TO demo_app;
SET sharing.viewer_scope = session;  -- the DBA allows per-session viewers for this report
SET ROLE demo_app;
SET sharing.viewer = '1001';
INSERT INTO report SELECT 'CEO (Administrator)', (SELECT count(*) FROM nw_deals), (SELECT sum(amount) FROM nw_deals),
                          (SELECT count(*) FROM nw_accounts), (SELECT count(*) FROM nw_contacts);
SET sharing.viewer = '1002';
INSERT INTO report SELECT 'VP Sales', (SELECT count(*) FROM nw_deals), (SELECT sum(amount) FROM nw_deals),
                          (SELECT count(*) FROM nw_accounts), (SELECT count(*) FROM nw_contacts);
SET sharing.viewer = '1003';
INSERT INTO report SELECT 'North Region Lead', (SELECT count(*) FROM nw_deals), (SELECT sum(amount) FROM nw_deals),
                          (SELECT count(*) FROM nw_accounts), (SELECT count(*) FROM nw_contacts);
SET sharing.viewer = '1005';
INSERT INTO report SELECT 'North Team rep (1005)', (SELECT count(*) FROM nw_deals), (SELECT sum(amount) FROM nw_deals),
                          (SELECT count(*) FROM nw_accounts), (SELECT count(*) FROM nw_contacts);
SET sharing.viewer = '1201';
INSERT INTO report SELECT 'Contoso manager (agreement)', (SELECT count(*) FROM nw_deals), (SELECT sum(amount) FROM nw_deals),
                          (SELECT count(*) FROM nw_accounts), (SELECT count(*) FROM nw_contacts);
SET sharing.viewer = '1100';
INSERT INTO report SELECT 'Pending guest', (SELECT count(*) FROM nw_deals), (SELECT sum(amount) FROM nw_deals),
                          (SELECT count(*) FROM nw_accounts), (SELECT count(*) FROM nw_contacts);
RESET sharing.viewer;
RESET ROLE;
SELECT * FROM report;

\echo 'Why does the North Region Lead see deals of user 1008? (explain_access)'
SELECT jsonb_pretty(sharing.explain_access('deals', 'view', 1008, :northwind, 1003)) AS explain_access;
