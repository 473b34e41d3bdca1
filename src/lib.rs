//! pg_sharing: a CRM-grade sharing model enforced by Row Level Security.
//!
//! Layers, each importing only from those above it in this list (tests/layers.rs):
//!
//! * `model` — the sharing model in plain Rust (no pgrx): roles, permissions,
//!   the no-escalation rules, the policy shapes; unit-tested with `cargo test`.
//! * `pg` — PostgreSQL internals: SPI with typed rows, catalog lookups, MVCC
//!   snapshot keys, identity switching, parse-node builders.
//! * `backend` — every piece of per-backend state (model cache, viewer memo, plan
//!   epoch, effect chain, GUCs) with its invalidation rules in one module doc.
//! * `sql_api` — only `#[pg_extern]` entry points.
//! * `sql/*.sql` — tables, triggers, views, grants, pulled in below in order.

use pgrx::prelude::*;

pub mod backend;
pub mod model;
pub mod pg;
pub mod sql_api;

pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!(
    "../sql/generation.sql",
    name = "generation",
    requires = ["schema"]
);
extension_sql_file!(
    "../sql/snapshot.sql",
    name = "snapshot",
    requires = ["generation"]
);
extension_sql_file!(
    "../sql/triggers.sql",
    name = "triggers",
    requires = [
        "snapshot",
        sql_api::guards::_require_privilege,
        sql_api::guards::_require_superuser,
        sql_api::guards::_require_level,
        sql_api::guards::_require_grantable_privilege,
        sql_api::guards::_require_role_within,
        sql_api::guards::_require_grantor,
        sql_api::guards::_check_privilege_name,
        sql_api::authority::_require_dba,
        sql_api::guards::_require_user_within,
        sql_api::guards::_require_role_changeable,
        sql_api::guards::_require_ownership_transfer,
        sql_api::guards::_require_self_or_dba,
        sql_api::authority::_config_all,
        sql_api::authority::_config_company,
        sql_api::perms::_level_incoherence,
    ]
);
extension_sql_file!(
    "../sql/api.sql",
    name = "api",
    requires = [
        "triggers",
        sql_api::perms::_role_matrix,
        sql_api::perms::_role_privilege_matrix,
        sql_api::perms::_privilege_list,
        sql_api::perms::effective_perms,
        sql_api::viewer::current_viewer
    ]
);
extension_sql_file!("../sql/citus.sql", name = "citus", requires = ["api"]);
extension_sql_file!(
    "../sql/protect.sql",
    name = "protect",
    requires = [
        "citus",
        sql_api::visibility::can_access,
        sql_api::visibility::_all_rows_company,
        sql_api::visibility::_policy,
        sql_api::visibility::_can_access_for,
        sql_api::visibility::_decide_current,
        sql_api::visibility::_all_rows_company_current,
        sql_api::visibility::_index_owners_current,
        sql_api::visibility::_index_owners_unshared,
        sql_api::visibility::_index_owners,
        sql_api::visibility::_filter_holds,
        sql_api::visibility::_policy_with_id,
        sql_api::visibility::_decide_current_with_id,
        sql_api::visibility::_filter_holds_with_shares,
        sql_api::visibility::_shared_current,
        sql_api::planner::_forget_plans,
        sql_api::planner::_access_support,
        sql_api::viewer::current_viewer,
        sql_api::viewer::_asking_role,
        sql_api::transfer::_check_transfer,
        sql_api::authority::_config_all,
        sql_api::authority::_config_company
    ]
);
extension_sql_file!(
    "../sql/audit.sql",
    name = "audit",
    requires = [
        "protect",
        sql_api::viewer::_asking_role,
        sql_api::shares::_config_manages_sharing
    ]
);
extension_sql_file!(
    "../sql/tenancy.sql",
    name = "tenancy",
    requires = [
        "audit",
        sql_api::authority::_config_all,
        sql_api::authority::_config_company,
        sql_api::effect::_effect_baseline,
        sql_api::effect::_effect_check
    ]
);
extension_sql_file!(
    "../sql/shares.sql",
    name = "shares",
    requires = [
        "tenancy",
        sql_api::shares::_require_share,
        sql_api::shares::_require_unshare,
        sql_api::shares::_who_can_access,
        sql_api::shares::_can_access_record,
        sql_api::shares::_explain_record,
        sql_api::shares::_shared_ids_int8,
        sql_api::shares::_shared_ids_int4,
        sql_api::shares::_shared_ids_uuid,
        sql_api::shares::_current_company,
        sql_api::shares::_decide_current_participants,
        sql_api::shares::_may_manage_share,
        sql_api::shares::_check_assignment,
        sql_api::shares::_require_no_unseen_shares,
        sql_api::guards::_require_privilege
    ]
);
extension_sql_file!(
    "../sql/portable.sql",
    name = "portable",
    requires = ["shares"]
);
extension_sql_file!(
    "../sql/advise.sql",
    name = "advise",
    requires = [
        "portable",
        sql_api::advise::_advise_scope,
        sql_api::advise::_advise_rules
    ]
);
extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    backend::gucs::init();
    pg::catalog::init();
    backend::effect::init();
    backend::prepare::init();
    backend::shared::init();
}
