//! Transfers (docs/concepts.md, "Transfers"): an UPDATE that changes a protected
//! record's owner or company, checked by the `sharing_transfer` trigger that
//! `protect()` creates (sql/protect.sql).

use crate::backend::authority::{acting, deny_nobody, Acting};
use crate::backend::models::current_model;
use crate::model::engine::TransferRefusal;
use crate::pg::errors::insufficient_privilege;
use pgrx::prelude::*;

fn show(v: Option<i64>) -> String {
    v.map_or_else(|| "NULL".to_string(), |v| v.to_string())
}

/// Refuse (42501) a transfer the acting viewer may not make; a DBA session may.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn _check_transfer(
    object_type: &str,
    old_owner: Option<i64>,
    old_company: Option<i64>,
    new_owner: Option<i64>,
    new_company: Option<i64>,
) {
    let viewer = match acting() {
        Acting::Dba => return,
        Acting::Nobody => deny_nobody("transfer records"),
        Acting::Viewer(v) => v,
    };
    let model = current_model();
    let refusal = match model.compiled.transfer(
        object_type,
        (old_owner, old_company),
        (new_owner, new_company),
        viewer,
    ) {
        Ok(()) => return,
        Err(r) => r,
    };
    let what = format!(
        "viewer {viewer} may not move a record of \"{object_type}\" from owner {} in company {} to owner {} in company {}",
        show(old_owner),
        show(old_company),
        show(new_owner),
        show(new_company)
    );
    let (why, hint) = match refusal {
        TransferRefusal::InactiveViewer => ("the viewer is not active", None),
        TransferRefusal::CompanyChange => (
            "only a superuser or a DBA session moves a record to another company",
            None,
        ),
        TransferRefusal::NotHeld => (
            "the viewer does not hold the record by ownership",
            Some("a record is transferred by its owner, a manager above its owner, or a user whose edit level is all; access through an assignment, a sharing rule, a default or an agreement never transfers"),
        ),
        TransferRefusal::CannotCreate => (
            "the viewer could not create a record for the new owner",
            Some("the new owner must be the viewer or below them in the hierarchy, unless the viewer's create level is all"),
        ),
    };
    insufficient_privilege(format!("{what}: {why}"), hint)
}
