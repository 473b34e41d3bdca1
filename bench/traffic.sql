-- Before benches/traffic.rs (scripts/bench.sh), on the `bench` database.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
-- benches/policies.rs grows the org to measure rebuilds and memory (users from
-- 100,000 on, inserted with the bookkeeping triggers off, nothing else refers to
-- them): take them out the same way, so the traffic runs on the benchmark's org of
-- 20,000 users; then a configuration statement with triggers on moves the generation.
SET session_replication_role = replica;
DELETE FROM sharing.user_roles WHERE user_id >= 100000;
DELETE FROM sharing.users WHERE id >= 100000;
RESET session_replication_role;
UPDATE sharing.object_types SET grant_via_hierarchy = true;
-- Variant (a), the limit: the unprotected table read past RLS, the viewer's owners
-- passed in by the application. (The role is the cluster's, like bench_app.)
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bench_hand') THEN CREATE ROLE bench_hand LOGIN BYPASSRLS; END IF;
END $$;
GRANT SELECT, UPDATE ON deals TO bench_hand;
VACUUM ANALYZE;
