-- Benchmark dataset (docs/benchmarks.md), reproducible (setseed).
-- One company; a role hierarchy with branching 4 and depth 5 below a root
-- (1 + 4 + 16 + 64 + 256 + 1024 = 1,365 roles); 20,000 users, one per inner role and
-- the rest at the leaves; deals of :rows rows with indexes on owner_id and created_at.
-- Bulk rows are loaded with session_replication_role = replica (no bookkeeping
-- triggers); the configuration is then consistent by construction.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION pg_sharing;
INSERT INTO sharing.object_types (name) VALUES ('deals');
SELECT sharing.create_company('Bench');
SET session_replication_role = replica;
-- Role n (0..1364) of a complete 4-ary tree: parent (n - 1) / 4; role id 10000 + n.
INSERT INTO sharing.roles (id, company_id, name, reports_to, based_on)
SELECT 10000 + n, 1, 'r' || n, CASE WHEN n = 0 THEN 1 ELSE 10000 + (n - 1) / 4 END, 3
  FROM generate_series(0, 1364) n ORDER BY n;
-- Users 1..341 hold the inner roles 0..340; users 342..20000 the leaves 341..1364.
INSERT INTO sharing.users (id, company_id, name)
SELECT u, 1, 'u' || u FROM generate_series(1, 20000) u;
INSERT INTO sharing.user_roles (user_id, role_id)
SELECT u, 10000 + CASE WHEN u <= 341 THEN u - 1 ELSE 341 + (u % 1024) END FROM generate_series(1, 20000) u;
-- The admin.
INSERT INTO sharing.users (id, company_id, name) VALUES (20001, 1, 'admin');
INSERT INTO sharing.user_roles (user_id, role_id) VALUES (20001, 1);
RESET session_replication_role;
-- A configuration statement with triggers on, so the generation moves on.
UPDATE sharing.object_types SET grant_via_hierarchy = true;

SELECT setseed(0.17);
CREATE TABLE deals (id bigint PRIMARY KEY, owner_id bigint NOT NULL, company_id bigint NOT NULL,
                    amount numeric NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO deals
SELECT g, 1 + (random() * 19999)::int, 1, round((random() * 10000)::numeric, 2),
       timestamptz '2026-01-01' + random() * interval '365 days'
  FROM generate_series(1, :rows) g;
CREATE INDEX deals_owner_idx ON deals (owner_id);
CREATE INDEX deals_created_idx ON deals (created_at);
-- Same data under the two policies a user would write in SQL, and a naive per-row one.
CREATE TABLE deals_a (LIKE deals INCLUDING ALL);
CREATE TABLE deals_b (LIKE deals INCLUDING ALL);
INSERT INTO deals_a SELECT * FROM deals;
INSERT INTO deals_b SELECT * FROM deals;
CREATE TABLE deals_naive (LIKE deals INCLUDING ALL);
INSERT INTO deals_naive SELECT * FROM deals WHERE id <= 5000;
SELECT sharing.protect('deals', 'deals');

-- The SQL a user would write today: visible owners by a recursive CTE over the
-- hierarchy, as a set (a) or as an array (b); admin check separately.
CREATE FUNCTION visible_owners() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH RECURSIVE me AS (SELECT current_setting('sharing.viewer')::bigint AS id),
  down (id) AS (
    SELECT r.id FROM sharing.roles r JOIN sharing.user_roles m ON r.reports_to = m.role_id JOIN me ON m.user_id = me.id
    UNION SELECT r.id FROM sharing.roles r JOIN down d ON r.reports_to = d.id)
  SELECT id FROM me
  UNION SELECT m.user_id FROM sharing.user_roles m JOIN down d ON d.id = m.role_id $$;
CREATE FUNCTION visible_owner_array() RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$ SELECT array_agg(o) FROM visible_owners() o $$;
CREATE FUNCTION viewer_is_admin() RETURNS bool
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (SELECT 1 FROM sharing.user_roles m JOIN sharing.roles r ON r.id = m.role_id
                  WHERE m.user_id = current_setting('sharing.viewer')::bigint AND r.is_admin) $$;
-- A naive per-row check: walk up from the row owner's roles, looking for the viewer's.
CREATE FUNCTION row_visible(owner bigint) RETURNS bool
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT owner = current_setting('sharing.viewer')::bigint OR viewer_is_admin()
      OR EXISTS (
        WITH RECURSIVE up (id) AS (
          SELECT r.reports_to FROM sharing.user_roles m JOIN sharing.roles r ON r.id = m.role_id WHERE m.user_id = owner
          UNION SELECT r.reports_to FROM sharing.roles r JOIN up ON r.id = up.id WHERE r.reports_to IS NOT NULL)
        SELECT 1 FROM up JOIN sharing.user_roles vm ON vm.role_id = up.id
         WHERE vm.user_id = current_setting('sharing.viewer')::bigint) $$;
ALTER TABLE deals_a ENABLE ROW LEVEL SECURITY;
CREATE POLICY a ON deals_a USING ((SELECT viewer_is_admin()) OR owner_id IN (SELECT visible_owners()));
ALTER TABLE deals_b ENABLE ROW LEVEL SECURITY;
CREATE POLICY b ON deals_b USING ((SELECT viewer_is_admin()) OR owner_id = ANY ((SELECT visible_owner_array())::bigint[]));
ALTER TABLE deals_naive ENABLE ROW LEVEL SECURITY;
CREATE POLICY n ON deals_naive USING (row_visible(owner_id));

-- (The role is the cluster's: a second database of the same dataset reuses it.)
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_app') THEN CREATE ROLE bench_app LOGIN; END IF;
END $$;
GRANT SELECT, UPDATE ON deals, deals_a, deals_b, deals_naive TO bench_app;
GRANT EXECUTE ON FUNCTION sharing._model_stats() TO bench_app;
INSERT INTO sharing.trusted_app_roles VALUES ('bench_app');
-- The benchmark sets one viewer per session (docs/integration.md: sharing.viewer_scope).
ALTER ROLE bench_app SET sharing.viewer_scope = session;
VACUUM ANALYZE;
