-- pg_sharing demo: run by scripts/demo.sh against a throwaway cluster.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;

\echo
\echo '== 1. CREATE EXTENSION, two object types, two companies with the standard roles'
CREATE EXTENSION pg_sharing;
INSERT INTO sharing.object_types (name) VALUES ('deals'), ('contacts');
SELECT sharing.create_company('Acme') AS acme, sharing.create_company('Globex') AS globex;
SELECT c.name AS company, r.name AS role, p.name AS reports_to, r.is_admin, r.is_default, r.is_protected
  FROM sharing.roles r JOIN sharing.companies c ON c.id = r.company_id
  LEFT JOIN sharing.roles p ON p.id = r.reports_to ORDER BY r.id;

\echo '== 2. Acme builds a sales hierarchy; "Salesperson" is based on User plus app.insight'
INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on, description) VALUES
  (100, 1, 'Sales Director',   1,   3, 'sees the whole sales org through the hierarchy'),
  (101, 1, 'Regional Manager', 100, 3, 'sees their salespeople'),
  (102, 1, 'Salesperson',      101, 3, 'User plus Insight');
INSERT INTO sharing.role_privileges (role_id, privilege) VALUES (102, 'app.insight'), (100, 'reports');
INSERT INTO sharing.users (id, company_id, name, status) VALUES
  (1, 1, 'Ada (admin)', 'active'), (2, 1, 'Dora (director)', 'active'),
  (3, 1, 'Max (manager)', 'active'), (4, 1, 'Sam (salesperson)', 'active'),
  (5, 1, 'Sue (salesperson)', 'active'), (6, 1, 'Gus (pending guest)', 'pending'),
  (7, 2, 'Paula (Globex manager)', 'active');
INSERT INTO sharing.user_roles (user_id, role_id) VALUES
  (1, 1), (2, 100), (3, 101), (4, 102), (5, 102), (7, 5);
-- the default role came with every new user; keep it only for the guest
DELETE FROM sharing.user_roles WHERE role_id IN (3, 6) AND user_id IN (1, 2, 3, 4, 5, 7);

\echo '== 3. Effective permissions (inheritance through based_on, unions of roles)'
SELECT u.name,
       p->'roles' AS roles,
       p->'permissions'->'deals' AS deals,
       p->'privileges' AS privileges
  FROM sharing.users u, sharing.effective_perms(u.id) p ORDER BY u.id;
\echo 'One full document:'
SELECT jsonb_pretty(sharing.effective_perms(4)) AS "effective_perms(4)";

\echo '== 4. The role permission matrix of Acme for deals (compare roles side by side)'
SELECT role, max(level) FILTER (WHERE action = 'create') AS "create",
       max(level) FILTER (WHERE action = 'view') AS "view",
       max(level) FILTER (WHERE action = 'edit') AS "edit",
       max(level) FILTER (WHERE action = 'delete') AS "delete"
  FROM sharing.role_permission_matrix
 WHERE company = 'Acme' AND object_type = 'deals'
 GROUP BY role_id, role ORDER BY role_id;

\echo '== 5. A protected table; Acme shares "view deals" with Globex by agreement'
CREATE TABLE deals (id serial PRIMARY KEY, owner_id bigint, company_id bigint, amount numeric, title text);
SELECT sharing.protect('deals', 'deals');
-- the owner-bounded viewers' access path (sharing.advise() asks for it)
CREATE INDEX ON deals (owner_id);
INSERT INTO deals (owner_id, company_id, amount, title) VALUES
  (2, 1, 90000, 'Director''s key account'), (3, 1, 40000, 'Regional deal'),
  (4, 1, 12000, 'Sam #1'), (4, 1, 8000, 'Sam #2'), (5, 1, 15000, 'Sue #1'),
  (1, 1, 5000, 'Admin test deal'), (7, 2, 30000, 'Globex own deal');
INSERT INTO sharing.agreements (grantor_company, grantee_company, notes) VALUES (1, 2, 'reseller programme')
RETURNING id AS agreement \gset
INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action) VALUES (:agreement, 'deals', 'view');

-- the application server's role: trusted to set sharing.viewer per request
CREATE ROLE demo_app NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON deals TO demo_app;
INSERT INTO sharing.trusted_app_roles VALUES ('demo_app');

\echo '== 6. The same query, different viewers: SELECT title, amount FROM deals'
-- An application sets the viewer per request (SET LOCAL in its transaction); this
-- walkthrough sets it per statement for brevity, which a DBA allows explicitly.
SET sharing.viewer_scope = session;
SET ROLE demo_app;
SET sharing.viewer = '4';
SELECT 'Sam (salesperson)' AS viewer, count(*) AS deals, sum(amount) AS total, string_agg(title, ', ' ORDER BY id) AS titles FROM deals;
SET sharing.viewer = '3';
SELECT 'Max (manager)' AS viewer, count(*) AS deals, sum(amount) AS total, string_agg(title, ', ' ORDER BY id) AS titles FROM deals;
SET sharing.viewer = '2';
SELECT 'Dora (director)' AS viewer, count(*) AS deals, sum(amount) AS total, string_agg(title, ', ' ORDER BY id) AS titles FROM deals;
SET sharing.viewer = '1';
SELECT 'Ada (admin)' AS viewer, count(*) AS deals, sum(amount) AS total, string_agg(title, ', ' ORDER BY id) AS titles FROM deals;
SET sharing.viewer = '7';
SELECT 'Paula (Globex, agreement)' AS viewer, count(*) AS deals, sum(amount) AS total, string_agg(title, ', ' ORDER BY id) AS titles FROM deals;
SET sharing.viewer = '6';
SELECT 'Gus (pending guest)' AS viewer, count(*) AS deals, sum(amount) AS total, string_agg(title, ', ' ORDER BY id) AS titles FROM deals;
RESET sharing.viewer;
SELECT 'no viewer at all' AS viewer, count(*) AS deals FROM deals;
RESET ROLE;

\echo '== 7. Why can Max see Sue''s deal? explain_access'
SELECT jsonb_pretty(sharing.explain_access('deals', 'view', 5, 1, 3)) AS explain_access;
\echo '== 8. No escalation: Max tries to make himself admin'
\set ON_ERROR_STOP 0
SET sharing.viewer = '3';
UPDATE sharing.roles SET is_admin = true WHERE id = 101;
RESET sharing.viewer;
\set ON_ERROR_STOP 1

\echo '== 9. Record shares: Max (Sue''s manager) lets Sam read Sue''s deal until the end of the quarter'
SET sharing.viewer = '3';
SELECT sharing.share_record('deals', 5, 4, 'read', date_trunc('quarter', now()) + interval '3 months') AS share_id;
RESET sharing.viewer;
SET ROLE demo_app;
SET sharing.viewer = '4';
SELECT 'Sam, with a share' AS viewer, count(*) AS deals, string_agg(title, ', ' ORDER BY id) AS titles FROM deals;
RESET sharing.viewer;
RESET ROLE;
\echo 'Sam cannot pass on what he can only read:'
\set ON_ERROR_STOP 0
SET sharing.viewer = '4';
SELECT sharing.share_record('deals', 5, 4, 'read_write');
RESET sharing.viewer;
\set ON_ERROR_STOP 1
\echo '== 10. Who can see deal 5, and why?'
SELECT w.user_id, u.name, w.reason, w.detail FROM sharing.who_can_access('deals', 5, 'view') w
  JOIN sharing.users u ON u.id = w.user_id ORDER BY w.user_id;
\echo 'Why can''t Sam edit it?'
SELECT jsonb_pretty(sharing.explain_access('deals', 5, 'edit', 4) -> 'detail') AS why_not;
