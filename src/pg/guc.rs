//! PostgreSQL's records of its configuration variables.

use pgrx::pg_sys;
use std::ffi::CStr;

/// PostgreSQL's record of the variable `name` (a custom variable's record is
/// allocated when it is defined and never moves), or null when there is none.
pub fn find_variable(name: &CStr) -> *mut pg_sys::config_generic {
    unsafe {
        // PostgreSQL 16 keeps the variables in a hash table and returns a sorted
        // array of them together with its length.
        #[cfg(feature = "pg15")]
        let (vars, count) = (pg_sys::get_guc_variables(), pg_sys::GetNumConfigOptions());
        #[cfg(not(feature = "pg15"))]
        let (vars, count) = {
            let mut count: std::ffi::c_int = 0;
            let vars = pg_sys::get_guc_variables(&mut count);
            (vars, count)
        };
        if vars.is_null() {
            return std::ptr::null_mut();
        }
        for i in 0..count.max(0) as usize {
            let var = *vars.add(i);
            if !var.is_null() && !(*var).name.is_null() && CStr::from_ptr((*var).name) == name {
                return var;
            }
        }
    }
    std::ptr::null_mut()
}

/// `SET LOCAL name = value`, as the session's role could (a user-settable variable).
pub fn set_local(name: &CStr, value: &CStr) {
    unsafe {
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            pgrx::PgLogLevel::ERROR as i32,
            false,
        );
    }
}
