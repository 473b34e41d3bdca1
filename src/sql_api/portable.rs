//! `sharing.export_company` and `sharing.import_company` (docs/org-format.md); the
//! work is `backend::portable`.

use pgrx::prelude::*;
use pgrx::JsonB;

/// Export one company as its portable JSON document.
#[pg_extern(stable, strict, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn export_company(company_id: i64) -> JsonB {
    JsonB(crate::backend::portable::export_company(company_id))
}

/// Import a company from its portable document; returns the new company's id.
///
/// In this order, so that nobody can make a backend work for a document it will
/// refuse anyway (docs/security.md): who may import (creating a company takes a
/// superuser viewer or a DBA session, as the `companies_guard` trigger decides), then
/// the size limits, then the (linear) validation. Every long loop checks for
/// interrupts, so `statement_timeout` and cancels apply throughout.
#[pg_extern(volatile, strict, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn import_company(document: JsonB) -> i64 {
    crate::backend::portable::import_company(&document.0)
}
