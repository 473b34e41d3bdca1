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
GRANT EXECUTE ON FUNCTION sharing._index_owners_current(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._index_owners(text, text, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._filter_holds(text, text, bigint[], bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing._owner_hint(text, text, bigint, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION sharing.reach(bigint) TO PUBLIC;
-- Each viewer may read their own effective permissions.
GRANT EXECUTE ON FUNCTION sharing.my_permissions() TO PUBLIC;
-- The agreement views show only the viewer's own company's agreements.
GRANT EXECUTE ON FUNCTION sharing._viewer_company() TO PUBLIC;
GRANT SELECT ON sharing.shared_by_you, sharing.shared_with_you TO PUBLIC;
-- The audit log shows each viewer their own company's entries (row level security).
GRANT SELECT ON sharing.audit_log TO PUBLIC;
