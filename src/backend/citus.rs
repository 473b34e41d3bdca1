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

use crate::pg::errors::spi_failed;
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
