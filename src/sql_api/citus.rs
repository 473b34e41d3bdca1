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

/// Notes that this transaction applied a change the coordinator signed and sent
/// (called by `_citus_apply` on a worker, after the signature and the chain checked
/// out): its part of Citus's two-phase commit may be prepared although it wrote the
/// configuration (src/backend/prepare.rs). Not granted to PUBLIC.
#[pg_extern(volatile, parallel_unsafe)]
fn _citus_applied() {
    crate::backend::prepare::note_applied_change()
}
