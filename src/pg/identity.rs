//! Identities: the role really asking, the DBA test, and switching to the
//! extension's rights for the reads of the configuration (docs/security.md,
//! "The trust model"; docs/integration.md §4 for restricted operations).

use pgrx::pg_sys;

/// The PostgreSQL role that is really asking: the session's current role, unaffected
/// by the SECURITY DEFINER functions of this extension (and of anyone else), so a
/// definer's rights can never be used to pick another viewer — except in a
/// security-restricted operation (REFRESH MATERIALIZED VIEW, CREATE MATERIALIZED
/// VIEW, maintenance commands), which PostgreSQL runs as the object's owner: there the
/// owner asks (docs/integration.md §4), whoever issued the command. Should such an
/// operation call a SECURITY DEFINER function, the owner is no longer known (the
/// current user is the definer, whose rights must never pick the viewer): the role
/// that issued the command asks, as outside restricted operations.
pub fn asking_role() -> pg_sys::Oid {
    unsafe {
        let mut user = pg_sys::Oid::INVALID;
        let mut context = 0i32;
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        let restricted = context & pg_sys::SECURITY_RESTRICTED_OPERATION as i32 != 0;
        let switched = context & pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32 != 0;
        if restricted && !switched {
            user
        } else {
            pg_sys::GetOuterUserId()
        }
    }
}

/// Is `role` a PostgreSQL superuser or a member of `sharing_admin`?
pub fn is_dba_role(role: pg_sys::Oid) -> bool {
    unsafe {
        if pg_sys::superuser_arg(role) {
            return true;
        }
        let admin = pg_sys::get_role_oid(c"sharing_admin".as_ptr(), true);
        admin != pg_sys::Oid::INVALID && pg_sys::is_member_of_role(role, admin)
    }
}

/// Whether `role` is a member of the role named `name` (directly or through other
/// roles; superusers are members of every role) — `pg_has_role(role, name, 'MEMBER')`,
/// answered from PostgreSQL's role caches. False when no such role exists.
pub fn is_member_of_named(role: pg_sys::Oid, name: &str) -> bool {
    let Ok(name) = std::ffi::CString::new(name) else {
        return false;
    };
    unsafe {
        let oid = pg_sys::get_role_oid(name.as_ptr(), true);
        oid != pg_sys::Oid::INVALID && pg_sys::is_member_of_role(role, oid)
    }
}

/// The name of `role`, or `None` for a role dropped since the session began.
pub fn role_name_if_exists(role: pg_sys::Oid) -> Option<String> {
    unsafe {
        let name = pg_sys::GetUserNameFromId(role, true);
        (!name.is_null()).then(|| {
            std::ffi::CStr::from_ptr(name)
                .to_string_lossy()
                .into_owned()
        })
    }
}

/// The name of the role really asking, for the audit log and for messages.
pub fn asking_role_name() -> String {
    role_name(asking_role())
}

/// The name of `role`, or `oid N` for a role that no longer exists.
pub fn role_name(role: pg_sys::Oid) -> String {
    unsafe {
        let name = pg_sys::GetUserNameFromId(role, true);
        if name.is_null() {
            return format!("oid {}", role.to_u32());
        }
        std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned()
    }
}

/// Run `f` as the bootstrap superuser, restoring the caller's identity afterwards
/// (also when `f` raises an ERROR, which unwinds through the guard). Used only for
/// the two schema-qualified reads of the configuration, whose SQL functions pin
/// their own search_path.
pub fn as_bootstrap_superuser<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(pg_sys::Oid, i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            unsafe { pg_sys::SetUserIdAndSecContext(self.0, self.1) };
        }
    }
    let mut user = pg_sys::Oid::INVALID;
    let mut context = 0i32;
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        pg_sys::SetUserIdAndSecContext(
            pg_sys::Oid::from(pg_sys::BOOTSTRAP_SUPERUSERID),
            context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32,
        );
    }
    let _restore = Restore(user, context);
    f()
}
