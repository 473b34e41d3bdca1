//! Citus: sending the configuration changes a transaction signed to the workers
//! (sql/citus.sql; docs/scaling.md, "The configuration: a copy on every node").
//!
//! The signed changes wait in `sharing._citus_pending`, which only the extension
//! reads. They are sent by an INSERT into the reference table
//! `sharing._citus_changes` made as the session's own role — Citus talks to the
//! workers over one connection per role, and the session's next statements must
//! see the change there — so the rows are taken as the extension and inserted as
//! the caller, here, without ever being handed to SQL: no caller can keep a signed
//! change to send it later, or elsewhere.

use crate::pg::errors::{raise, spi_failed};
use crate::pg::identity::as_bootstrap_superuser;
use crate::pg::spi::write_rows;
use pgrx::pg_sys;

/// Sends this transaction's signed changes, in their order, and answers true;
/// inside a SECURITY DEFINER function (the current role is not the session's)
/// sends nothing and answers false: they wait for the session's next configuration
/// statement or its commit (`_citus_flush`).
pub fn send_pending() -> bool {
    let (current, outer) = unsafe {
        let mut user = pg_sys::Oid::INVALID;
        let mut context = 0i32;
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        (user, pg_sys::GetOuterUserId())
    };
    if current != outer {
        return false;
    }
    refuse_a_leaking_send();
    let mut changes = as_bootstrap_superuser(|| {
        write_rows(
            "DELETE FROM sharing._citus_pending p
              WHERE p.xact OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id()
          RETURNING p.seq, p.prev::pg_catalog.text, p.gen::pg_catalog.text, p.tbl, p.op::pg_catalog.text,
                    p.old_rows::pg_catalog.text, p.new_rows::pg_catalog.text,
                    pg_catalog.encode(p.mac, 'hex')",
            &[],
            |row| {
                let seq: i64 = row.require(1)?;
                let rest = (2..=8)
                    .map(|c| row.get::<String>(c))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((seq, rest))
            },
        )
    })
    .unwrap_or_else(|e| spi_failed("take this transaction's signed configuration changes", e));
    changes.sort_by_key(|(seq, _)| *seq);
    if !changes.is_empty() {
        // The change is seen on each worker by the connection that carried it until
        // the commit: from now on this transaction uses one connection per worker,
        // as Citus does itself after a command that creates an object there
        // (docs/scaling.md, "Within the changing transaction").
        crate::pg::guc::set_local(c"citus.multi_shard_modify_mode", c"sequential");
    }
    for (seq, rest) in changes {
        let seq = seq.to_string();
        let mut args: Vec<Option<&str>> = vec![Some(seq.as_str())];
        args.extend(rest.iter().map(|v| v.as_deref()));
        write_rows(
            "INSERT INTO sharing._citus_changes (origin, seq, prev, gen, tbl, op, old_rows, new_rows, mac)
             VALUES (0, $1::pg_catalog.int8, $2::pg_catalog.int8, $3::pg_catalog.int8, $4,
                     $5::pg_catalog.\"char\", $6::pg_catalog.jsonb, $7::pg_catalog.jsonb,
                     pg_catalog.decode($8, 'hex'))",
            &args,
            |_| Ok(()),
        )
        .unwrap_or_else(|e| spi_failed("send a signed configuration change to the workers", e));
    }
    true
}

/// Refuses (`55000`) to send while the text of the INSERT could be read by the
/// caller before the coordinator's own placement checks it: Citus logging remote or
/// local commands to the client (`citus.log_remote_commands`,
/// `citus.log_local_commands`), or the coordinator's placement written over a
/// connection from this node to itself — local execution off, or already such a
/// connection in this distributed transaction (its backend's query text is in
/// `pg_stat_activity`, and that backend, in another transaction, refuses the change,
/// so no worker would have seen it). docs/scaling.md, "The configuration: a copy on
/// every node".
fn refuse_a_leaking_send() {
    let setting = |name: &std::ffi::CStr| unsafe {
        let v = pg_sys::GetConfigOption(name.as_ptr(), true, false);
        (!v.is_null()).then(|| std::ffi::CStr::from_ptr(v).to_string_lossy().into_owned())
    };
    let on = |v: Option<String>| v.is_some_and(|v| v == "on" || v == "true");
    let leaking = if on(setting(c"citus.log_remote_commands")) {
        Some("citus.log_remote_commands is on")
    } else if on(setting(c"citus.log_local_commands")) {
        Some("citus.log_local_commands is on")
    } else if setting(c"citus.enable_local_execution").is_some_and(|v| v == "off" || v == "false") {
        Some("citus.enable_local_execution is off")
    } else if loopback_connection() {
        Some("this transaction has a connection from the coordinator to itself")
    } else {
        None
    };
    if let Some(why) = leaking {
        raise(
            pgrx::PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("a configuration change is not sent to the workers while {why}"),
            Some("change the configuration in a transaction of its own, with Citus's defaults for these settings (docs/scaling.md)"),
        )
    }
}

/// Whether another backend of this node works for this session's distributed
/// transaction (Citus opened a connection from the coordinator to itself).
fn loopback_connection() -> bool {
    as_bootstrap_superuser(|| {
        write_rows(
            "SELECT pg_catalog.count(*)::pg_catalog.int8 FROM pg_catalog.get_all_active_transactions() a,
                    pg_catalog.get_current_transaction_id() me
              WHERE me.transaction_number OPERATOR(pg_catalog.<>) 0
                AND a.transaction_number OPERATOR(pg_catalog.=) me.transaction_number
                AND a.transaction_stamp OPERATOR(pg_catalog.=) me.transaction_stamp
                AND a.process_id OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()",
            &[],
            |row| row.require::<i64>(1),
        )
    })
    .unwrap_or_else(|e| spi_failed("look for a connection from the coordinator to itself", e))
    .first()
    .is_some_and(|n| *n > 0)
}

/// Refuses (`40001`) a statement of a distributed transaction that changed the
/// configuration of this node over another of its connections: Citus's backends of
/// one distributed transaction are separate transactions here, so the change is not
/// visible to this one before the commit, and the statement would decide with the
/// configuration as it was (docs/scaling.md, "Within the changing transaction").
/// Asked only while a transaction, `changing`, is replacing the generation row this
/// statement read — a configuration change in progress on the node.
pub fn refuse_a_change_this_connection_cannot_see(changing: u32) {
    if unsafe { pg_sys::get_extension_oid(c"citus".as_ptr(), true) } == pg_sys::InvalidOid {
        return;
    }
    let xid = changing.to_string();
    let same_transaction = as_bootstrap_superuser(|| {
        write_rows(
            "SELECT pg_catalog.count(*)::pg_catalog.int8
               FROM pg_catalog.pg_locks l
               JOIN pg_catalog.get_all_active_transactions() a ON a.process_id OPERATOR(pg_catalog.=) l.pid,
                    pg_catalog.get_current_transaction_id() me
              WHERE l.locktype OPERATOR(pg_catalog.=) 'transactionid'
                AND l.transactionid OPERATOR(pg_catalog.=) $1::pg_catalog.xid
                AND l.granted
                AND me.transaction_number OPERATOR(pg_catalog.<>) 0
                AND a.transaction_number OPERATOR(pg_catalog.=) me.transaction_number
                AND a.transaction_stamp OPERATOR(pg_catalog.=) me.transaction_stamp",
            &[Some(xid.as_str())],
            |row| row.require::<i64>(1),
        )
    })
    .unwrap_or_else(|e| spi_failed("look for this transaction's configuration change on another connection", e))
    .first()
    .is_some_and(|n| *n > 0);
    if same_transaction {
        raise(
            pgrx::PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            "this transaction changed the configuration over another connection to this Citus node, which this statement cannot see before the commit",
            Some("keep citus.multi_shard_modify_mode = 'sequential' for the rest of a transaction that changes the configuration (pg_sharing sets it), or run the statement after the commit (docs/scaling.md)"),
        )
    }
}
