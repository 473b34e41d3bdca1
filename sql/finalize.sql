-- pg_sharing: privileges, once every object exists.
-- Nothing for PUBLIC by default; the viewer resolution is public because every
-- protected query needs it. DBAs grant the rest to application roles.
REVOKE ALL ON ALL TABLES IN SCHEMA sharing FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA sharing FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sharing.current_viewer() TO PUBLIC;
