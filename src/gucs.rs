//! Every configuration parameter of pg_sharing, in one place.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

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
/// constant filter (`company = C AND owner = ANY('{…}')`, src/sql_api/planner.rs)
/// and who reach less than this share of their company's users also get an access
/// path through an index on the owner column. 0: never; above 1: always.
pub static OWNER_INDEX_MAX_SHARE: GucSetting<f64> = GucSetting::<f64>::new(0.05);

thread_local! {
    /// How many times `sharing.viewer` was assigned in this backend (its assign hook
    /// counts): with the snapshot and role, the key of the viewer resolved last.
    static VIEWER_ASSIGNMENTS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

pub fn viewer_assignments() -> u64 {
    VIEWER_ASSIGNMENTS.with(std::cell::Cell::get)
}

/// `sharing.viewer`'s assign hook: count the assignment, and reset the plans shaped
/// for the previous viewer (src/sql_api/planner.rs). It cannot fail.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn viewer_assigned(
    _newval: *const std::ffi::c_char,
    _extra: *mut std::ffi::c_void,
) {
    VIEWER_ASSIGNMENTS.with(|c| c.set(c.get().wrapping_add(1)));
    crate::sql_api::planner::forget_shaped_plans();
}

pub fn init() {
    GucRegistry::define_float_guc(
        c"sharing.owner_index_max_share",
        c"Share of the company's users below which a viewer's policy also offers the owner index.",
        c"Above it, the inlined owner filter is read by sequential, parallel or other index scans; 0 never offers the owner index, above 1 always.",
        &OWNER_INDEX_MAX_SHARE,
        0.0,
        2.0,
        GucContext::Userset,
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
