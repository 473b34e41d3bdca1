//! Raising PostgreSQL errors with a real SQLSTATE, a message and a hint.

use crate::model::authority::Denial;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// Raise `ERROR` with `code`, `message` and an optional hint. Never returns.
#[track_caller]
pub fn raise(code: PgSqlErrorCode, message: impl Into<String>, hint: Option<&str>) -> ! {
    let mut report = ErrorReport::new(code, message.into(), "pg_sharing");
    if let Some(h) = hint {
        report = report.set_hint(h);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

pub fn invalid_parameter(message: impl Into<String>, hint: Option<&str>) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        message,
        hint,
    )
}

pub fn insufficient_privilege(message: impl Into<String>, hint: Option<&str>) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        message,
        hint,
    )
}

/// A model refusal becomes `insufficient_privilege`.
pub fn deny(d: Denial) -> ! {
    insufficient_privilege(d.message, d.hint.as_deref())
}

/// An SPI failure is an internal error: report it as such.
pub fn spi_failed(what: &str, err: impl std::fmt::Display) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        format!("pg_sharing could not {what}: {err}"),
        None,
    )
}
