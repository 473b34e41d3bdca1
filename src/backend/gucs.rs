//! Every configuration parameter of pg_sharing, in one place.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use pgrx::pg_sys;

/// `sharing.viewer`: the application user id a trusted application server acts for
/// (`SET LOCAL sharing.viewer = '42'`). Read by `sharing.current_viewer()`, which
/// decides whether the session may use it.
pub static VIEWER: GucSetting<Option<std::ffi::CString>> =
    GucSetting::<Option<std::ffi::CString>>::new(None);

/// `sharing.seed_standard_roles`: whether a new company gets the standard
/// Administrator / Manager / User roles (on by default; `import_company` turns it
/// off for the duration of its own insert).
pub static SEED_STANDARD_ROLES: GucSetting<bool> = GucSetting::<bool>::new(true);

/// `sharing.owner_index_max_share`: viewers whose decisions the planner inlines as a
/// constant filter (`company = C AND owner = ANY('{…}')`, `backend::planner`)
/// and who reach less than this share of their company's users get plans kept
/// across such viewers, read through an index on the owner column; up to ten times
/// this share the owner index is offered to the planner for the viewer's own plan
/// (it chooses by cost). 0: never; from 0.1 on: always offered.
pub static OWNER_INDEX_MAX_SHARE: GucSetting<f64> = GucSetting::<f64>::new(0.05);

/// `sharing.skew_threshold`: how many records of one protected table one owner may
/// hold before `sharing.advise()` reports ownership skew (docs/sql-reference.md,
/// "Advice"; Salesforce's guidance is 10,000). Read by sql/advise.sql.
pub static SKEW_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(10_000);

/// `sharing.viewer_scope`: how long a viewer set by a trusted application role that is
/// not a DBA may last (docs/integration.md §2). `transaction` (the default): only a
/// viewer set for the transaction (`SET LOCAL`, `set_config(…, true)`, a function's
/// `SET` clause) is honoured — a session-level one would outlive the request and,
/// behind a transaction pooler, serve the next client. `session`: plain `SET` too;
/// only a DBA may choose it.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ViewerScope {
    #[name = c"transaction"]
    Transaction,
    #[name = c"session"]
    Session,
}

pub static VIEWER_SCOPE: GucSetting<ViewerScope> =
    GucSetting::<ViewerScope>::new(ViewerScope::Transaction);

thread_local! {
    /// How many times `sharing.viewer` was assigned in this backend (its assign hook
    /// counts): with the snapshot and role, the key of the viewer resolved last.
    static VIEWER_ASSIGNMENTS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

pub fn viewer_assignments() -> u64 {
    VIEWER_ASSIGNMENTS.with(std::cell::Cell::get)
}

/// `sharing.viewer`'s assign hook: count the assignment, and reset the plans shaped
/// for a viewer of another class than the new one (`backend::plans`). It cannot fail.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn viewer_assigned(
    newval: *const std::ffi::c_char,
    _extra: *mut std::ffi::c_void,
) {
    VIEWER_ASSIGNMENTS.with(|c| c.set(c.get().wrapping_add(1)));
    // A backend exiting (its transaction aborted, its settings reverted) plans no
    // more: its models are not read again.
    if pg_sys::proc_exit_inprogress {
        return;
    }
    // Not UTF-8: no viewer it could name; "" makes the plans go.
    let setting =
        (!newval.is_null()).then(|| std::ffi::CStr::from_ptr(newval).to_str().unwrap_or(""));
    let model = super::models::last_model();
    super::plans::viewer_changed(setting, model.as_deref());
}

/// `sharing.viewer_scope`'s check hook: `session` is for DBAs (docs/integration.md
/// §2). Checked whenever a role could choose it in a transaction: `SET`, `SET LOCAL`,
/// `set_config`, a function's `SET` clause, `ALTER ROLE/DATABASE … SET` (validated as
/// the role issuing it) and the client's startup options. Values PostgreSQL applies
/// from `pg_db_role_setting` at login were validated when written, and
/// postgresql.conf is the server's owner's; parallel workers copy their leader.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn viewer_scope_check(
    newval: *mut std::ffi::c_int,
    _extra: *mut *mut std::ffi::c_void,
    source: pg_sys::GucSource::Type,
) -> bool {
    if newval.is_null() || *newval != ViewerScope::Session as std::ffi::c_int {
        return true;
    }
    if source < pg_sys::GucSource::PGC_S_CLIENT
        || !pg_sys::IsTransactionState()
        || pg_sys::InitializingParallelWorker
        || pg_sys::ParallelWorkerNumber >= 0
    {
        return true;
    }
    let role = crate::pg::identity::asking_role();
    if crate::pg::identity::is_dba_role(role) {
        return true;
    }
    pg_sys::GUC_check_errcode(pgrx::PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE as i32);
    let name = crate::pg::identity::role_name(role);
    let msg = std::ffi::CString::new(format!(
        "role \"{name}\" may not set sharing.viewer_scope to session"
    ))
    .unwrap_or_default();
    pg_sys::GUC_check_errmsg_string = pg_sys::pstrdup(msg.as_ptr());
    pg_sys::GUC_check_errhint_string = pg_sys::pstrdup(
        c"only a superuser or a member of sharing_admin may let application roles keep a viewer for the session; set the viewer per transaction: SET LOCAL sharing.viewer = '…'".as_ptr(),
    );
    false
}

pub fn viewer_scope() -> ViewerScope {
    VIEWER_SCOPE.get()
}

/// PostgreSQL's own record of `sharing.viewer` (found once: custom variables are
/// allocated when defined and never move).
fn viewer_variable() -> *mut pg_sys::config_generic {
    thread_local! {
        static FOUND: std::cell::Cell<*mut pg_sys::config_generic> =
            const { std::cell::Cell::new(std::ptr::null_mut()) };
    }
    let found = FOUND.with(std::cell::Cell::get);
    if !found.is_null() {
        return found;
    }
    let var = crate::pg::guc::find_variable(c"sharing.viewer");
    if !var.is_null() {
        FOUND.with(|f| f.set(var));
    }
    var
}

/// Was the current value of `sharing.viewer` set for the transaction only? True when
/// the newest entry of its GUC stack is a `SET LOCAL` / `set_config(…, true)`
/// (GUC_LOCAL, or GUC_SET_LOCAL over a session value) or a function's `SET` clause
/// (GUC_SAVE): PostgreSQL restores the previous value at COMMIT, ROLLBACK or the
/// function's exit. A value without a stack entry (set in an earlier transaction, by
/// `ALTER ROLE … SET`, in the startup options) or whose newest entry is a plain `SET`
/// (GUC_SET) lasts for the session.
pub fn viewer_set_locally() -> bool {
    let var = viewer_variable();
    if var.is_null() {
        return false;
    }
    unsafe {
        let stack = (*var).stack;
        !stack.is_null()
            && matches!(
                (*stack).state,
                pg_sys::GucStackState::GUC_LOCAL
                    | pg_sys::GucStackState::GUC_SET_LOCAL
                    | pg_sys::GucStackState::GUC_SAVE
            )
    }
}

pub fn init() {
    GucRegistry::define_float_guc(
        c"sharing.owner_index_max_share",
        c"Share of the company's users below which viewers share plans read through the owner index.",
        c"Up to ten times this share the owner index is offered for the viewer's own plan (the planner chooses by cost); above, the inlined owner filter is read by sequential, parallel or other index scans; 0 never offers the owner index.",
        &OWNER_INDEX_MAX_SHARE,
        0.0,
        2.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"sharing.skew_threshold",
        c"Records of one protected table one owner may hold before sharing.advise() reports ownership skew.",
        c"Judged from the planner statistics of the owner column (run ANALYZE); 10000 is Salesforce's guidance.",
        &SKEW_THRESHOLD,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"sharing.share_models",
        c"Read the compiled model from the images the backends of this database share, and publish the ones built here.",
        c"Needs pg_sharing in shared_preload_libraries; off, this backend keeps a model of its own.",
        // The setting lives with its reader (`backend::shared`), which must not
        // import this module (its hooks read the model cache: an import cycle).
        &super::shared::SHARE_MODELS,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"sharing.seed_standard_roles",
        c"Give every new company the standard Administrator, Manager and User roles.",
        c"Turned off by sharing.import_company while it creates the company from a document.",
        &SEED_STANDARD_ROLES,
        GucContext::Userset,
        GucFlags::default(),
    );
    unsafe {
        GucRegistry::define_enum_guc_with_hooks(
            c"sharing.viewer_scope",
            c"How long a viewer set by a trusted application role that is not a DBA may last: transaction or session.",
            c"transaction (the default): such a role must set sharing.viewer with SET LOCAL or set_config(..., true); session: plain SET is honoured too. Only a superuser or a member of sharing_admin may choose session.",
            &VIEWER_SCOPE,
            GucContext::Userset,
            GucFlags::default(),
            Some(viewer_scope_check),
            None,
            None,
        );
        GucRegistry::define_string_guc_with_hooks(
            c"sharing.viewer",
            c"Application user id whose visibility applies to this session or transaction.",
            c"Honoured only for PostgreSQL superusers and members of a role in sharing.trusted_app_roles; a login mapped through sharing.users.db_role always acts as its own user.",
            &VIEWER,
            GucContext::Userset,
            GucFlags::default(),
            None,
            Some(viewer_assigned),
            None,
        );
    }
}

/// The raw setting, trimmed; `None` when unset or empty (poolers reset to '').
pub fn viewer_setting() -> Option<String> {
    let value = VIEWER.get()?;
    let text = value.to_str().ok().map(str::trim).unwrap_or("").to_string();
    (!text.is_empty()).then_some(text)
}
