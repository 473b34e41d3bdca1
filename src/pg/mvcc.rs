//! MVCC snapshot keys: what identifies the data a statement sees, so that answers
//! read in one snapshot can be remembered for the statements that see the same
//! (docs/design.md, "Consistency: the generation").

use pgrx::pg_sys;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SnapshotKey {
    lxid: u32,
    xmin: u32,
    xmax: u32,
    xcnt: u32,
    curcid: u32,
    /// The current subtransaction, once the transaction has an xid: ROLLBACK TO
    /// SAVEPOINT (or a PL/pgSQL exception block) undoes this transaction's own writes
    /// without moving the snapshot or the command id, and starts a new subtransaction.
    subxact: u32,
    /// hash of the in-progress transaction sets
    completion: u64,
    /// On a node running Citus, the statement's start: each statement reads the
    /// generation again. Citus runs one distributed transaction over several backends
    /// of a worker; a configuration change made over one of them by a transaction that
    /// took its xid after this backend's last snapshot leaves that snapshot's identity
    /// unchanged, and the change must be seen to be refused (docs/scaling.md, "Within
    /// the changing transaction"). 0 elsewhere.
    statement: i64,
}

/// Whether Citus is loaded in this backend: its settings exist. Citus loads only from
/// `shared_preload_libraries`, so the first answer holds for the backend's life and is
/// kept (a lookup of a setting per snapshot key would cost every statement).
fn citus_loaded() -> bool {
    thread_local! {
        static LOADED: std::cell::OnceCell<bool> = const { std::cell::OnceCell::new() };
    }
    LOADED.with(|loaded| {
        *loaded.get_or_init(|| unsafe {
            !pg_sys::GetConfigOption(c"citus.multi_shard_modify_mode".as_ptr(), true, false)
                .is_null()
        })
    })
}

pub fn local_xid() -> u32 {
    unsafe {
        let proc_ = pg_sys::MyProc;
        if proc_.is_null() {
            return 0;
        }
        // PostgreSQL 17 moved the local transaction id into the virtual transaction id.
        #[cfg(any(feature = "pg15", feature = "pg16"))]
        {
            (*proc_).lxid
        }
        #[cfg(any(feature = "pg17", feature = "pg18"))]
        {
            (*proc_).vxid.lxid
        }
    }
}

/// The identity of the active snapshot: everything that decides which transactions
/// it sees. (The active snapshot is a copy, and copies do not keep PostgreSQL's
/// completion counter, so the in-progress sets are hashed instead.)
pub fn snapshot_key() -> Option<SnapshotKey> {
    unsafe {
        let snap = pg_sys::GetActiveSnapshot();
        if snap.is_null() {
            return None;
        }
        let s = &*snap;
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |x: u32| {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x0100_0000_01b3);
        };
        if !s.xip.is_null() {
            for i in 0..s.xcnt as usize {
                mix((*s.xip.add(i)).into_inner());
            }
        }
        if s.subxcnt > 0 && !s.subxip.is_null() {
            for i in 0..s.subxcnt as usize {
                mix((*s.subxip.add(i)).into_inner());
            }
        }
        mix(s.suboverflowed as u32);
        mix(s.takenDuringRecovery as u32);
        // A transaction that may have written (it has an xid) keys its snapshots to
        // itself. A read-only one does not: two snapshots with the same xmin, xmax and
        // in-progress sets see the same committed data whatever their transaction
        // (any transaction with an xid that ended in between would have moved xmax),
        // so consecutive read-only statements share the generation read and model.
        let wrote = pg_sys::GetTopTransactionIdIfAny() != pg_sys::InvalidTransactionId;
        Some(SnapshotKey {
            lxid: if wrote { local_xid() } else { 0 },
            subxact: if wrote {
                pg_sys::GetCurrentSubTransactionId()
            } else {
                0
            },
            xmin: s.xmin.into_inner(),
            xmax: s.xmax.into_inner(),
            xcnt: s.xcnt,
            curcid: s.curcid,
            completion: h,
            statement: if citus_loaded() {
                pg_sys::GetCurrentStatementStartTimestamp()
            } else {
                0
            },
        })
    }
}

/// The active snapshot's command id when `writer` (a row's xmin) is this transaction
/// — it then sees its own later writes, and a key of what it read must include the
/// command — or `None` for a row written by another, committed transaction.
pub fn own_command(writer: u32) -> Option<u32> {
    let own =
        unsafe { pg_sys::TransactionIdIsCurrentTransactionId(pg_sys::TransactionId::from(writer)) };
    own.then(|| unsafe {
        let snap = pg_sys::GetActiveSnapshot();
        if snap.is_null() {
            0
        } else {
            (*snap).curcid
        }
    })
}
