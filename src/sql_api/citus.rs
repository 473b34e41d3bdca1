//! Citus as SQL (docs/scaling.md): sending the signed configuration changes.

use pgrx::prelude::*;

/// Sends this transaction's signed configuration changes to every node, as the
/// session's role; false (nothing sent) inside a SECURITY DEFINER function. Called by
/// the `zz_citus_b_*` statement triggers and at commit by `_citus_flush`
/// (sql/citus.sql). Anyone may call it: it sends only what its own transaction's
/// statements signed.
#[pg_extern(volatile, parallel_unsafe)]
fn _citus_send() -> bool {
    crate::backend::citus::send_pending()
}
