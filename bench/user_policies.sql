-- Policies a user writes with the building blocks the README offers (issue 16), on
-- copies of `deals` (same rows, same indexes): `deals_cs` with `sharing.can_see`,
-- `deals_ca` with `sharing.can_access`, both for `sharing.current_viewer()`. Loaded
-- by scripts/bench.sh after bench/dataset.sql; `deals` itself is left as it is.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE TABLE deals_cs (LIKE deals INCLUDING ALL);
CREATE TABLE deals_ca (LIKE deals INCLUDING ALL);
INSERT INTO deals_cs SELECT * FROM deals;
INSERT INTO deals_ca SELECT * FROM deals;

ALTER TABLE deals_cs ENABLE ROW LEVEL SECURITY;
CREATE POLICY cs_select ON deals_cs FOR SELECT
  USING (sharing.can_see(owner_id, sharing.current_viewer()));
CREATE POLICY cs_update ON deals_cs FOR UPDATE
  USING (sharing.can_see(owner_id, sharing.current_viewer()))
  WITH CHECK (sharing.can_see(owner_id, sharing.current_viewer()));

ALTER TABLE deals_ca ENABLE ROW LEVEL SECURITY;
CREATE POLICY ca_select ON deals_ca FOR SELECT
  USING (sharing.can_access('deals', 'view', owner_id, company_id, sharing.current_viewer()));
CREATE POLICY ca_update ON deals_ca FOR UPDATE
  USING (sharing.can_access('deals', 'edit', owner_id, company_id, sharing.current_viewer()))
  WITH CHECK (sharing.can_access('deals', 'edit', owner_id, company_id, sharing.current_viewer()));

GRANT SELECT, UPDATE ON deals_cs, deals_ca TO bench_app;
VACUUM ANALYZE deals_cs, deals_ca;
