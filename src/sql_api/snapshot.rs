//! Loading the organization into the pure model.

use super::errors::{raise, spi_failed};
use super::spi_read::read_text;
use crate::model::org::Org;
use pgrx::PgSqlErrorCode;

/// The whole configuration, read in the current statement's snapshot through
/// `sharing._org_snapshot()` (sql/snapshot.sql), which renders every row as JSON.
pub fn load_org() -> Org {
    let text = read_text("SELECT sharing._org_snapshot()")
        .unwrap_or_else(|| spi_failed("read the sharing configuration", "no rows"));
    Org::from_json(&text).unwrap_or_else(|e| {
        raise(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("pg_sharing could not decode the sharing configuration: {e}"),
            None,
        )
    })
}
