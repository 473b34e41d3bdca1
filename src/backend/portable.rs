//! Export and import of one company (docs/org-format.md): the portable document of
//! `model::portable`, read and written with ordinary DML so that every trigger
//! (invariants, no escalation, audit) applies to an import exactly as to
//! hand-written statements. An import is one statement: all or nothing. The SQL
//! entry points are `sql_api::portable`.

use crate::model::authority::Denial;
use crate::model::interrupts::Ticker;
use crate::model::portable::{
    check_limits, export_document, object_type_differences, parse, CompanyDoc, CompanyRows,
    ObjectTypeDoc, MAX_MEMBERSHIPS, MAX_RECORD_SHARES, MAX_ROLES, MAX_SHARING_RULES, MAX_USERS,
};
use crate::pg::errors::{invalid_parameter, raise, spi_failed};
use crate::pg::spi::read_text;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::panic::{CaughtError, ErrorReport};
use pgrx::prelude::*;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use std::panic::AssertUnwindSafe;

/// One company as its portable JSON document, for a viewer holding `export`.
pub fn export_company(company_id: i64) -> serde_json::Value {
    super::authority::require_for_viewer(|a| a.require_privilege("export", Some(company_id), true));
    let text = read_text(&format!("SELECT sharing._company_rows({company_id})"))
        .unwrap_or_else(|e| spi_failed("read the company", e))
        .unwrap_or_else(|| spi_failed("read the company", "no row"));
    let rows: CompanyRows =
        serde_json::from_str(&text).unwrap_or_else(|e| spi_failed("decode the company's rows", e));
    let doc = export_document(&rows)
        .unwrap_or_else(|| invalid_parameter(format!("company {company_id} does not exist"), None));
    serde_json::to_value(doc).expect("documents serialize")
}

/// Run one DML statement of the import; an error names the JSON path at fault.
fn exec(path: &str, sql: &str, args: Vec<DatumWithOid<'static>>) -> Option<i64> {
    PgTryBuilder::new(AssertUnwindSafe(|| {
        Spi::connect_mut(|client| {
            let table = client.update(sql, None, &args)?;
            if table.is_empty() {
                return Ok::<_, pgrx::spi::Error>(None);
            }
            table.first().get::<i64>(1)
        })
        .unwrap_or_else(|e| spi_failed("import", e))
    }))
    .catch_others(|caught| match caught {
        CaughtError::PostgresError(e) | CaughtError::ErrorReport(e) => {
            let mut report = ErrorReport::new(
                e.sql_error_code(),
                format!("import_company: {path}: {}", e.message()),
                "import_company",
            );
            if let Some(h) = e.hint() {
                report = report.set_hint(h);
            }
            if let Some(d) = e.detail() {
                report = report.set_detail(d);
            }
            report.report(PgLogLevel::ERROR);
            unreachable!()
        }
        other => other.rethrow(),
    })
    .execute()
}

fn text(v: &str) -> DatumWithOid<'static> {
    v.to_string().into()
}

fn opt_text(v: &Option<String>) -> DatumWithOid<'static> {
    v.clone().into()
}

/// Import a company from its portable document; returns the new company's id.
///
/// In this order, so that nobody can make a backend work for a document it will
/// refuse anyway (docs/security.md): who may import (creating a company takes a
/// superuser viewer or a DBA session, as the `companies_guard` trigger decides), then
/// the size limits, then the (linear) validation. Every long loop checks for
/// interrupts, so `statement_timeout` and cancels apply throughout.
pub fn import_company(document: &serde_json::Value) -> i64 {
    crate::pg::interrupts::install_interrupt_check();
    super::authority::require_for_viewer(|a| {
        a.require_superuser().map_err(|d| Denial {
            message: format!("import_company: $.company: {}", d.message),
            hint: d.hint,
        })
    });
    check_limits(document).unwrap_or_else(|e| {
        raise(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("import_company: {e}"),
            Some(&format!(
                "a document holds at most {MAX_ROLES} roles, {MAX_USERS} users, \
                 {MAX_MEMBERSHIPS} role memberships, {MAX_SHARING_RULES} sharing rules and \
                 {MAX_RECORD_SHARES} record shares (docs/org-format.md); split the company or \
                 load the rest with plain INSERTs"
            )),
        )
    });
    let doc: CompanyDoc = parse(&document.to_string()).unwrap_or_else(|e| {
        invalid_parameter(
            format!("invalid company document at {}: {}", e.path, e.message),
            Some("see docs/org-format.md for the format"),
        )
    });
    // A bound parameter, never a literal quoted by hand: with
    // standard_conforming_strings off, a backslash in the name would end the literal.
    if exec(
        "$.company.name",
        "SELECT 1::int8 FROM sharing.companies WHERE name = $1",
        vec![text(&doc.company.name)],
    )
    .is_some()
    {
        raise(
            PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
            format!(
                "import_company: $.company.name: company \"{}\" already exists",
                doc.company.name
            ),
            Some("rename the company in the document, or delete the existing one first"),
        );
    }
    // Object types are global: an existing one keeps its settings, and each setting
    // the document gives otherwise is a WARNING (docs/org-format.md).
    let existing = read_text(
        "SELECT COALESCE(jsonb_agg(to_jsonb(t)), '[]')::text FROM sharing.object_types t",
    )
    .unwrap_or_else(|e| spi_failed("read the object types", e))
    .unwrap_or_else(|| "[]".to_string());
    let existing: Vec<ObjectTypeDoc> = serde_json::from_str(&existing)
        .unwrap_or_else(|e| spi_failed("decode the object types", e));
    for d in object_type_differences(&existing, &doc.object_types) {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_WARNING,
            format!("import_company: {d}; object types are global, so the existing setting is kept"),
            "import_company",
        )
        .set_hint(format!(
            "a DBA changes it for every company with UPDATE sharing.object_types SET {} = ... WHERE name = '{}'",
            d.setting, d.object_type
        ))
        .report(PgLogLevel::WARNING);
    }
    for (i, t) in doc.object_types.iter().enumerate() {
        exec(
            &format!("$.object_types[{i}]"),
            // Only a missing type is inserted (a global setting: that needs a DBA).
            "INSERT INTO sharing.object_types (name, org_wide_default, grant_via_hierarchy)
             SELECT $1, $2, $3
              WHERE NOT EXISTS (SELECT 1 FROM sharing.object_types t WHERE t.name = $1)
             RETURNING 0::int8",
            vec![
                text(&t.name),
                text(t.org_wide_default.as_str()),
                t.grant_via_hierarchy.into(),
            ],
        );
    }
    // The company's roles come from the document, not from the standard seed.
    let seeding = read_text("SELECT current_setting('sharing.seed_standard_roles', true)")
        .unwrap_or_else(|e| spi_failed("read sharing.seed_standard_roles", e))
        .unwrap_or_else(|| "on".to_string());
    let set_seeding = |value: &str| {
        exec(
            "$.company",
            "SELECT 0::int8 FROM (SELECT pg_catalog.set_config('sharing.seed_standard_roles', $1, true)) s",
            vec![text(value)],
        );
    };
    set_seeding("off");
    let company_id = exec(
        "$.company",
        "INSERT INTO sharing.companies (name) VALUES ($1) RETURNING id",
        vec![text(&doc.company.name)],
    )
    .expect("INSERT … RETURNING returns the id");
    set_seeding(&seeding);

    let mut tick = Ticker::new();
    let mut role_ids = std::collections::HashMap::new();
    for i in doc.role_indexes_in_dependency_order() {
        tick.tick();
        let role = &doc.roles[i];
        let id = exec(
            &format!("$.roles[{i}]"),
            "INSERT INTO sharing.roles (company_id, name, description, reports_to, based_on,
                                        is_admin, is_default, is_protected, is_copyable)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            vec![
                company_id.into(),
                text(&role.name),
                opt_text(&role.description),
                role.reports_to
                    .as_ref()
                    .map(|n| role_ids[n.as_str()])
                    .into(),
                role.based_on.as_ref().map(|n| role_ids[n.as_str()]).into(),
                role.is_admin.into(),
                role.is_default.into(),
                role.is_protected.into(),
                role.is_copyable.into(),
            ],
        )
        .expect("INSERT … RETURNING returns the id");
        role_ids.insert(role.name.as_str(), id);
    }
    for (i, role) in doc.roles.iter().enumerate() {
        tick.tick();
        let id = role_ids[role.name.as_str()];
        for (t, actions) in &role.permissions {
            let (acts, levels): (Vec<String>, Vec<String>) = actions
                .iter()
                .map(|(a, l)| (a.to_string(), l.to_string()))
                .unzip();
            exec(
                &format!("$.roles[{i}].permissions.{t}"),
                "INSERT INTO sharing.role_permissions (role_id, object_type, action, level)
                 SELECT $1, $2, a, l FROM unnest($3::text[], $4::text[]) AS x (a, l) RETURNING 0::int8",
                vec![id.into(), text(t), acts.into(), levels.into()],
            );
        }
        for (j, p) in role.privileges.iter().enumerate() {
            exec(
                &format!("$.roles[{i}].privileges[{j}]"),
                "INSERT INTO sharing.role_privileges (role_id, privilege) VALUES ($1, $2) RETURNING 0::int8",
                vec![id.into(), text(p)],
            );
        }
    }
    for (i, u) in doc.users.iter().enumerate() {
        tick.tick();
        exec(
            &format!("$.users[{i}]"),
            "INSERT INTO sharing.users (id, company_id, name, status, is_superuser,
                                        is_super_company_member, db_role, department)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            vec![
                u.id.into(),
                company_id.into(),
                opt_text(&u.name),
                text(u.status.as_str()),
                u.is_superuser.into(),
                u.is_super_company_member.into(),
                opt_text(&u.db_role),
                opt_text(&u.department),
            ],
        );
        let mut keep = Vec::new();
        for (j, m) in u.roles.iter().enumerate() {
            let rid = role_ids[m.role.as_str()];
            keep.push(rid);
            exec(
                &format!("$.users[{i}].roles[{j}]"),
                "INSERT INTO sharing.user_roles (user_id, role_id, assigned_at)
                 VALUES ($1, $2, COALESCE($3::timestamp AT TIME ZONE 'UTC', now()))
                 ON CONFLICT (user_id, role_id) DO UPDATE SET assigned_at = EXCLUDED.assigned_at
                 RETURNING id",
                vec![u.id.into(), rid.into(), opt_text(&m.assigned_at)],
            );
        }
        // The default role the new user received, unless the document lists it.
        exec(
            &format!("$.users[{i}].roles"),
            "DELETE FROM sharing.user_roles WHERE user_id = $1 AND role_id <> ALL ($2::int8[]) RETURNING id",
            vec![u.id.into(), keep.into()],
        );
    }
    if let Some(owner) = doc.company.owner_user {
        // Once its users exist: the companies_guard trigger judges who may set it.
        exec(
            "$.company.owner_user",
            "UPDATE sharing.companies SET owner_user = $2 WHERE id = $1 RETURNING id",
            vec![company_id.into(), owner.into()],
        );
    }
    for (i, s) in doc.sharing_rules.iter().enumerate() {
        tick.tick();
        exec(
            &format!("$.sharing_rules[{i}]"),
            "INSERT INTO sharing.sharing_rules (company_id, object_type, source_role, source_scope,
                                                target_role, target_scope, access)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            vec![
                company_id.into(),
                opt_text(&s.object_type),
                role_ids[s.source_role.as_str()].into(),
                text(s.source_scope.as_str()),
                role_ids[s.target_role.as_str()].into(),
                text(s.target_scope.as_str()),
                text(s.access.as_str()),
            ],
        );
    }
    for (i, a) in doc.agreements.iter().enumerate() {
        tick.tick();
        let path = format!("$.agreements[{i}]");
        let grantee = exec(
            &path,
            "SELECT id FROM sharing.companies WHERE name = $1",
            vec![text(&a.grantee_company)],
        );
        let grantee = grantee.unwrap_or_else(|| {
            pgrx::notice!(
                "import_company: creating company \"{}\", the grantee of an agreement",
                a.grantee_company
            );
            exec(
                &path,
                "INSERT INTO sharing.companies (name) VALUES ($1) RETURNING id",
                vec![text(&a.grantee_company)],
            )
            .expect("INSERT … RETURNING returns the id")
        });
        let agreement = exec(
            &path,
            "INSERT INTO sharing.agreements (grantor_company, grantee_company, notes, created_at)
             VALUES ($1, $2, $3, COALESCE($4::timestamp AT TIME ZONE 'UTC', now())) RETURNING id",
            vec![
                company_id.into(),
                grantee.into(),
                opt_text(&a.notes),
                opt_text(&a.created_at),
            ],
        )
        .expect("INSERT … RETURNING returns the id");
        for (j, p) in a.permissions.iter().enumerate() {
            exec(
                &format!("{path}.permissions[{j}]"),
                "INSERT INTO sharing.agreement_permissions (agreement_id, object_type, action)
                 VALUES ($1, $2, $3) RETURNING id",
                vec![
                    agreement.into(),
                    text(&p.object_type),
                    text(p.action.as_str()),
                ],
            );
        }
    }
    // Record shares last: their grantees exist now. Each goes through the table, so
    // the record_shares trigger judges it as any INSERT (the record's company, the
    // grantee's, who may share; docs/org-format.md).
    for (i, s) in doc.record_shares.iter().enumerate() {
        tick.tick();
        exec(
            &format!("$.record_shares[{i}]"),
            "INSERT INTO sharing.record_shares (object_type, record_id, company_id, user_id, role_id,
                                                scope, access, valid_from, valid_until, note, granted_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7,
                     COALESCE($8::timestamp AT TIME ZONE 'UTC', now()),
                     $9::timestamp AT TIME ZONE 'UTC', $10, $11)
             RETURNING id",
            vec![
                text(&s.object_type),
                text(&s.record_id),
                company_id.into(),
                s.user.into(),
                s.role.as_ref().map(|n| role_ids[n.as_str()]).into(),
                s.scope.map(|x| x.as_str().to_string()).into(),
                text(s.access.as_str()),
                opt_text(&s.valid_from),
                opt_text(&s.valid_until),
                opt_text(&s.note),
                s.granted_by.into(),
            ],
        );
    }
    company_id
}
