-- pg_sharing: privileges, once every object exists.
-- Nothing for PUBLIC by default; the viewer resolution is public because every
-- protected query needs it. DBAs grant the rest to application roles.
REVOKE ALL ON ALL TABLES IN SCHEMA sharing FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA sharing FROM PUBLIC;
-- Policies call these as the querying role:
GRANT EXECUTE ON FUNCTION sharing.current_viewer() TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing.can_access(text, text, bigint, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing.can_see(bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._all_rows_company(text, text, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._policy(text, text, bigint, bigint, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._can_access_for(text, text, bigint, bigint, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._decide_current(text, text, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._all_rows_company_current(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._beyond_company_current(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._index_owners_current(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._index_owners(text, text, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._filter_holds(text, text, bigint[], bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._owner_hint(text, text, bigint, bigint) TO PUBLIC;
-- The policies of a table with a bigint id, and their rewrite (record shares inside).
GRANT EXECUTE ON FUNCTION sharing._policy(text, text, bigint, bigint, bigint, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._decide_current(text, text, bigint, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._filter_holds(text, text, bigint[], bigint, bigint[]) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._shared_current(text, text, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._id_hint(text, text, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._owner_hint_unshared(text, text, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._index_owners_unshared(text, text) TO PUBLIC;
-- The planner's rewrite of can_see(owner, current_viewer()) (docs/design.md): each
-- answers about the statement's own viewer only.
GRANT EXECUTE ON FUNCTION sharing._can_see_current(bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._reach_holds(bigint[]) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._reach_owners_current() TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing.reach(bigint) TO PUBLIC;
-- The participants and record share arms of the policies (sql/protect.sql).
GRANT EXECUTE ON FUNCTION sharing._decide_current_participants(text, text, bigint, bigint, bigint[]) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._current_company() TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._shared_ids_int8(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._shared_ids_int4(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._shared_ids_uuid(text, text) TO PUBLIC;
-- The row level security of the configuration tables and the transfer trigger of
-- protected tables call these as the querying role.
GRANT EXECUTE ON FUNCTION sharing._config_all() TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._config_company() TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._check_transfer(text, bigint, bigint, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._check_assignment(text, bigint, bigint, bigint[], bigint[]) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._as_ids(jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._renumber_record(text, text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._require_no_unseen_shares(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._config_manages_sharing() TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._may_manage_share(text, text, bigint) TO PUBLIC;
-- On Citus, every configuration writer's statement trigger (SECURITY INVOKER) sends
-- the changes its transaction signed to the workers (sql/citus.sql).
GRANT EXECUTE ON FUNCTION sharing._citus_send() TO PUBLIC;
-- Each viewer may read their own effective permissions.
GRANT EXECUTE ON FUNCTION sharing.my_permissions() TO PUBLIC;
-- The agreement views show only the viewer's own company's agreements.
GRANT EXECUTE ON FUNCTION sharing._viewer_company() TO PUBLIC;
GRANT SELECT ON sharing.shared_by_you, sharing.shared_with_you TO PUBLIC;
-- The audit log shows each viewer their own company's entries (row level security).
GRANT SELECT ON sharing.audit_log TO PUBLIC;
-- DBAs of pg_sharing (docs/security.md): everything a superuser uses day to day.
-- The internal tables stay guarded (sql/tenancy.sql), whatever is granted.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sharing TO sharing_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sharing TO sharing_admin;
