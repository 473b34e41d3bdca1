//! Loading the organization into the pure model.

use super::errors::{raise, spi_failed};
use crate::model::org::Org;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// The whole configuration, read in the current statement's snapshot through
/// `sharing._org_snapshot()` (sql/api.sql), which renders every row as JSON.
pub fn load_org() -> Org {
    let text = match Spi::get_one::<String>("SELECT sharing._org_snapshot()::text") {
        Ok(Some(t)) => t,
        Ok(None) => spi_failed("read the sharing configuration", "no rows"),
        Err(e) => spi_failed("read the sharing configuration", e),
    };
    Org::from_json(&text).unwrap_or_else(|e| {
        raise(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("pg_sharing could not decode the sharing configuration: {e}"),
            None,
        )
    })
}
