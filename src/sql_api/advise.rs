//! The model's side of `sharing.advise()` (sql/advise.sql; docs/sql-reference.md,
//! "Advice").

use crate::backend::authority::advice_scope;
use crate::backend::models::current_model;
use crate::model::advice::{rule_advice, RuleVerdict};
use pgrx::prelude::*;

/// Whose advice this statement may read: NULL for every company (a DBA session or a
/// superuser viewer), else the viewer's company; refuses (42501) everyone else.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn _advise_scope() -> Option<i64> {
    advice_scope()
}

/// The sharing rules that give nothing (`model::advice`), of the companies this
/// statement may read the advice of: `rule_covered_by_default` or `redundant_rule`,
/// with why.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn _advise_rules() -> TableIterator<
    'static,
    (
        name!(rule_id, i64),
        name!(company_id, i64),
        name!(code, String),
        name!(why, Option<String>),
    ),
> {
    let company = advice_scope();
    let model = current_model();
    let rows: Vec<_> = rule_advice(model.org(), &model.compiled, company)
        .into_iter()
        .map(|a| match a.verdict {
            RuleVerdict::CoveredByDefault => (
                a.rule_id,
                a.company_id,
                "rule_covered_by_default".to_string(),
                None,
            ),
            RuleVerdict::Redundant(why) => (
                a.rule_id,
                a.company_id,
                "redundant_rule".to_string(),
                Some(why),
            ),
            RuleVerdict::Grants => unreachable!("rule_advice leaves out the rules that give"),
        })
        .collect();
    TableIterator::new(rows)
}
