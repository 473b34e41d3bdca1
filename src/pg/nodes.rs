//! Parse-node builders and readers for the planner support: each PostgreSQL node
//! the rewrites make is written once here. No sharing rule is decided here.
//!
//! # Safety
//!
//! Every function takes nodes and lists of a planner request (valid, of the kinds
//! named) and allocates in the current memory context, the planner's: call them
//! only from a planner support function.
#![allow(clippy::missing_safety_doc)]

use pgrx::pg_sys;
use pgrx::prelude::*;

pub const INT8: pg_sys::Oid = pg_sys::INT8OID;
pub const TEXT: pg_sys::Oid = pg_sys::TEXTOID;
const INT8_EQ_OP: u32 = 410;
const INT8_EQ_FUNC: u32 = 467;
const BT_EQUAL_STRATEGY: i16 = 3;

/// The length of a (possibly NIL) list.
pub unsafe fn list_len(list: *mut pg_sys::List) -> usize {
    if list.is_null() {
        0
    } else {
        (*list).length as usize
    }
}

/// The `n`th element of a list of nodes (which has it).
pub unsafe fn nth(list: *mut pg_sys::List, n: usize) -> *mut pg_sys::Node {
    (*(*list).elements.add(n)).ptr_value.cast()
}

pub unsafe fn list_of(nodes: &[*mut pg_sys::Node]) -> *mut pg_sys::List {
    nodes
        .iter()
        .fold(std::ptr::null_mut(), |l, n| pg_sys::lappend(l, (*n).cast()))
}

pub unsafe fn copy(node: *mut pg_sys::Node) -> *mut pg_sys::Node {
    pg_sys::copyObjectImpl(node.cast()).cast()
}

/// A non-null constant argument, as a Const.
unsafe fn constant(node: *mut pg_sys::Node) -> Option<&'static pg_sys::Const> {
    if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_Const {
        return None;
    }
    let c = &*(node as *const pg_sys::Const);
    (!c.constisnull).then_some(c)
}

pub unsafe fn is_null_constant(node: *mut pg_sys::Node) -> bool {
    !node.is_null()
        && (*node).type_ == pg_sys::NodeTag::T_Const
        && (*(node as *const pg_sys::Const)).constisnull
}

pub unsafe fn text_constant(node: *mut pg_sys::Node) -> Option<String> {
    let c = constant(node)?;
    if c.consttype != TEXT {
        return None;
    }
    String::from_datum(c.constvalue, false)
}

/// A bigint constant argument: `Some(None)` for a NULL constant.
pub unsafe fn int8_constant(node: *mut pg_sys::Node) -> Option<Option<i64>> {
    if is_null_constant(node) {
        return Some(None);
    }
    let c = constant(node)?;
    (c.consttype == INT8).then(|| i64::from_datum(c.constvalue, false))
}

/// Is `node` an expression of type bigint?
pub unsafe fn is_int8(node: *mut pg_sys::Node) -> bool {
    pg_sys::exprType(node) == INT8
}

/// A bigint constant (NULL for `None`).
pub unsafe fn int8_const(value: Option<i64>) -> *mut pg_sys::Node {
    pg_sys::makeConst(
        INT8,
        -1,
        pg_sys::InvalidOid,
        8,
        value.map_or(pg_sys::Datum::from(0), pg_sys::Datum::from),
        value.is_none(),
        true,
    )
    .cast()
}

/// A `bigint[]` constant.
pub unsafe fn int8_array_const(values: Vec<i64>) -> Option<*mut pg_sys::Node> {
    Some(
        pg_sys::makeConst(
            pg_sys::INT8ARRAYOID,
            -1,
            pg_sys::InvalidOid,
            -1,
            values.into_datum()?,
            false,
            false,
        )
        .cast(),
    )
}

/// `left = right` on bigint.
pub unsafe fn int8_equal(left: *mut pg_sys::Node, right: *mut pg_sys::Node) -> *mut pg_sys::Node {
    let eq = pg_sys::make_opclause(
        pg_sys::Oid::from(INT8_EQ_OP),
        pg_sys::BOOLOID,
        false,
        left.cast(),
        right.cast(),
        pg_sys::InvalidOid,
        pg_sys::InvalidOid,
    );
    (*(eq as *mut pg_sys::OpExpr)).opfuncid = pg_sys::Oid::from(INT8_EQ_FUNC);
    eq.cast()
}

/// `value = ANY(array)` on bigint (`value` is copied).
pub unsafe fn int8_any(value: *mut pg_sys::Node, array: *mut pg_sys::Node) -> *mut pg_sys::Node {
    let saop = pg_sys::palloc0(std::mem::size_of::<pg_sys::ScalarArrayOpExpr>())
        as *mut pg_sys::ScalarArrayOpExpr;
    (*saop).xpr.type_ = pg_sys::NodeTag::T_ScalarArrayOpExpr;
    (*saop).opno = pg_sys::Oid::from(INT8_EQ_OP);
    (*saop).opfuncid = pg_sys::Oid::from(INT8_EQ_FUNC);
    (*saop).useOr = true;
    (*saop).inputcollid = pg_sys::InvalidOid;
    (*saop).args = list_of(&[copy(value), array]);
    (*saop).location = -1;
    saop.cast()
}

/// `=` between bigint and bigint, integer or smallint, either way round (pg_operator
/// oids fixed since PostgreSQL 7): `WHERE id = 42` on a bigint id is `int84eq`.
const BIGINT_EQUALITIES: [u32; 5] = [410, 416, 15, 1868, 1862];

/// The columns of range-table entry `varno` that the top level of `query`'s WHERE
/// (its AND-ed conditions) compares with an operator to a constant or a parameter:
/// `(attribute number, operator)` of each `column op value` (or `value op column`).
unsafe fn pinned_columns(query: *mut pg_sys::Query, varno: i32) -> Vec<(i16, pg_sys::Oid)> {
    let mut pinned = Vec::new();
    if query.is_null() || (*query).jointree.is_null() {
        return pinned;
    }
    let column_of = |node: *mut pg_sys::Node| {
        own_column(node)
            .filter(|v| v.varno == varno && v.varattno > 0)
            .map(|v| v.varattno)
    };
    let is_value = |node: *mut pg_sys::Node| {
        !node.is_null()
            && matches!(
                (*node).type_,
                pg_sys::NodeTag::T_Const | pg_sys::NodeTag::T_Param
            )
    };
    let mut pending = vec![(*(*query).jointree).quals];
    while let Some(node) = pending.pop() {
        if node.is_null() {
            continue;
        }
        match (*node).type_ {
            pg_sys::NodeTag::T_List => {
                let list = node as *mut pg_sys::List;
                pending.extend((0..list_len(list)).map(|i| nth(list, i)));
            }
            pg_sys::NodeTag::T_BoolExpr
                if (*(node as *mut pg_sys::BoolExpr)).boolop == pg_sys::BoolExprType::AND_EXPR =>
            {
                let args = (*(node as *mut pg_sys::BoolExpr)).args;
                pending.extend((0..list_len(args)).map(|i| nth(args, i)));
            }
            pg_sys::NodeTag::T_OpExpr => {
                let op = &*(node as *const pg_sys::OpExpr);
                if list_len(op.args) != 2 {
                    continue;
                }
                let (a, b) = (nth(op.args, 0), nth(op.args, 1));
                match (column_of(a), column_of(b)) {
                    (Some(attno), None) if is_value(b) => pinned.push((attno, op.opno)),
                    (None, Some(attno)) if is_value(a) => pinned.push((attno, op.opno)),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    pinned
}

/// The (range-table index, attribute) of a plain column Var of `query` itself.
unsafe fn own_column(node: *mut pg_sys::Node) -> Option<&'static pg_sys::Var> {
    (!node.is_null() && (*node).type_ == pg_sys::NodeTag::T_Var)
        .then(|| &*(node as *const pg_sys::Var))
        .filter(|v| v.varlevelsup == 0)
}

/// Does the top level of `query`'s WHERE (its AND-ed conditions) compare the column
/// `column` (a Var of the query) with `=` on bigint to a constant or a parameter —
/// a statement about one value of that column (a point read, an update by id)?
pub unsafe fn where_pins(query: *mut pg_sys::Query, column: *mut pg_sys::Node) -> bool {
    let Some(column) = own_column(column) else {
        return false;
    };
    pinned_columns(query, column.varno)
        .iter()
        .any(|(attno, opno)| {
            *attno == column.varattno && BIGINT_EQUALITIES.contains(&opno.to_u32())
        })
}

/// Does the top level of `query`'s WHERE pin one row of the table `column` (a Var of
/// the query) belongs to — compare the key of a single-column unique index with its
/// equality to a constant or a parameter (`WHERE id = $1` on a primary key)?
pub unsafe fn where_pins_one_row(query: *mut pg_sys::Query, column: *mut pg_sys::Node) -> bool {
    let Some(column) = own_column(column) else {
        return false;
    };
    let rtable = (*query).rtable;
    let index = column.varno as usize;
    if index == 0 || index > list_len(rtable) {
        return false;
    }
    let entry = &*(nth(rtable, index - 1) as *const pg_sys::RangeTblEntry);
    if entry.rtekind != pg_sys::RTEKind::RTE_RELATION {
        return false;
    }
    pinned_columns(query, column.varno)
        .into_iter()
        .any(|(attno, opno)| is_unique_key(entry.relid, attno, opno))
}

/// Is the btree operator family's equality on bigint the usual `=`?
pub unsafe fn is_int8_btree_equality(opfamily: pg_sys::Oid) -> bool {
    pg_sys::get_opfamily_member(opfamily, INT8, INT8, BT_EQUAL_STRATEGY)
        == pg_sys::Oid::from(INT8_EQ_OP)
}

/// A call of `function(args)` returning `result_type`.
pub unsafe fn call(
    function: pg_sys::Oid,
    result_type: pg_sys::Oid,
    args: &[*mut pg_sys::Node],
    collation: pg_sys::Oid,
) -> *mut pg_sys::Node {
    pg_sys::makeFuncExpr(
        function,
        result_type,
        list_of(args),
        pg_sys::InvalidOid,
        collation,
        pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
    )
    .cast()
}

pub unsafe fn or(nodes: &[*mut pg_sys::Node]) -> *mut pg_sys::Node {
    pg_sys::makeBoolExpr(pg_sys::BoolExprType::OR_EXPR, list_of(nodes), -1).cast()
}

pub unsafe fn and(nodes: &[*mut pg_sys::Node]) -> *mut pg_sys::Node {
    pg_sys::makeBoolExpr(pg_sys::BoolExprType::AND_EXPR, list_of(nodes), -1).cast()
}

/// `true` or `false`.
pub unsafe fn bool_const(value: bool) -> *mut pg_sys::Node {
    pg_sys::makeBoolConst(value, false).cast()
}

/// `CASE WHEN condition THEN true ELSE otherwise END`: true where `condition` is,
/// `otherwise` where it is false or NULL — never NULL for a NULL comparison.
pub unsafe fn true_or(
    condition: *mut pg_sys::Node,
    otherwise: *mut pg_sys::Node,
) -> *mut pg_sys::Node {
    case_when(condition, bool_const(true), otherwise)
}

/// `NULL::text`.
pub unsafe fn text_null() -> *mut pg_sys::Node {
    pg_sys::makeNullConst(pg_sys::TEXTOID, -1, pg_sys::DEFAULT_COLLATION_OID).cast()
}

/// A NULL of a type without collation (`NULL::bigint[]`).
pub unsafe fn null_const(type_oid: pg_sys::Oid) -> *mut pg_sys::Node {
    pg_sys::makeNullConst(type_oid, -1, pg_sys::InvalidOid).cast()
}

/// `value IS NOT NULL` (a scalar).
pub unsafe fn is_not_null(value: *mut pg_sys::Node) -> *mut pg_sys::Node {
    let test = pg_sys::palloc0(std::mem::size_of::<pg_sys::NullTest>()) as *mut pg_sys::NullTest;
    (*test).xpr.type_ = pg_sys::NodeTag::T_NullTest;
    (*test).arg = value.cast();
    (*test).nulltesttype = pg_sys::NullTestType::IS_NOT_NULL;
    (*test).argisrow = false;
    (*test).location = -1;
    test.cast()
}

/// `CASE WHEN condition THEN then ELSE otherwise END` (boolean).
pub unsafe fn case_when(
    condition: *mut pg_sys::Node,
    then: *mut pg_sys::Node,
    otherwise: *mut pg_sys::Node,
) -> *mut pg_sys::Node {
    let when = pg_sys::palloc0(std::mem::size_of::<pg_sys::CaseWhen>()) as *mut pg_sys::CaseWhen;
    (*when).xpr.type_ = pg_sys::NodeTag::T_CaseWhen;
    (*when).expr = condition.cast();
    (*when).result = then.cast();
    (*when).location = -1;
    let case = pg_sys::palloc0(std::mem::size_of::<pg_sys::CaseExpr>()) as *mut pg_sys::CaseExpr;
    (*case).xpr.type_ = pg_sys::NodeTag::T_CaseExpr;
    (*case).casetype = pg_sys::BOOLOID;
    (*case).args = list_of(&[when.cast()]);
    (*case).defresult = otherwise.cast();
    (*case).location = -1;
    case.cast()
}

/// `(SELECT function(args))`: an uncorrelated scalar sub-select, which PostgreSQL
/// runs as one InitPlan per execution (only if some row needs its value). Built
/// as parse analysis would build it: one target entry, no range table. The call's
/// arguments may themselves be such sub-selects.
pub unsafe fn sub_select(
    function: pg_sys::Oid,
    result_type: pg_sys::Oid,
    args: &[*mut pg_sys::Node],
) -> *mut pg_sys::Node {
    let call = call(function, result_type, args, pg_sys::InvalidOid);
    let has_sub_links = args
        .iter()
        .any(|a| !a.is_null() && (**a).type_ == pg_sys::NodeTag::T_SubLink);
    let entry = pg_sys::makeTargetEntry(call.cast(), 1, pg_sys::pstrdup(c"value".as_ptr()), false);
    let query = pg_sys::palloc0(std::mem::size_of::<pg_sys::Query>()) as *mut pg_sys::Query;
    (*query).type_ = pg_sys::NodeTag::T_Query;
    (*query).commandType = pg_sys::CmdType::CMD_SELECT;
    (*query).querySource = pg_sys::QuerySource::QSRC_ORIGINAL;
    (*query).canSetTag = true;
    (*query).hasSubLinks = has_sub_links;
    (*query).jointree = pg_sys::makeFromExpr(std::ptr::null_mut(), std::ptr::null_mut());
    (*query).targetList = list_of(&[entry.cast()]);
    (*query).stmt_location = -1;
    let link = pg_sys::palloc0(std::mem::size_of::<pg_sys::SubLink>()) as *mut pg_sys::SubLink;
    (*link).xpr.type_ = pg_sys::NodeTag::T_SubLink;
    (*link).subLinkType = pg_sys::SubLinkType::EXPR_SUBLINK;
    (*link).subselect = query.cast();
    (*link).location = -1;
    link.cast()
}

/// Whether `node` is a call of `function` without arguments, bare or as a scalar
/// sub-select `(SELECT function())`.
pub unsafe fn is_call_of(node: *mut pg_sys::Node, function: pg_sys::Oid) -> bool {
    if node.is_null() || function == pg_sys::InvalidOid {
        return false;
    }
    let bare = |n: *mut pg_sys::Node| {
        !n.is_null()
            && (*n).type_ == pg_sys::NodeTag::T_FuncExpr
            && (*(n as *mut pg_sys::FuncExpr)).funcid == function
            && list_len((*(n as *mut pg_sys::FuncExpr)).args) == 0
    };
    if bare(node) {
        return true;
    }
    if (*node).type_ != pg_sys::NodeTag::T_SubLink {
        return false;
    }
    let link = node as *mut pg_sys::SubLink;
    let query = (*link).subselect as *mut pg_sys::Query;
    if (*link).subLinkType != pg_sys::SubLinkType::EXPR_SUBLINK
        || query.is_null()
        || (*query).type_ != pg_sys::NodeTag::T_Query
        || list_len((*query).targetList) != 1
        || list_len((*query).rtable) != 0
    {
        return false;
    }
    let entry = nth((*query).targetList, 0) as *mut pg_sys::TargetEntry;
    bare((*entry).expr.cast())
}

/// The btree strategy of `=`, as `get_op_opfamily_strategy` returns it.
const BT_EQUAL_STRATEGY_I32: i32 = BT_EQUAL_STRATEGY as i32;

/// Is `attno` of table `relid` the one key of a unique index whose equality is
/// `opno` — so that `column opno value` reads at most one row? Only a valid, whole-table
/// (no predicate), immediately checked (not `DEFERRABLE`) index says so. This chooses a
/// cost, never an answer: a row the key would not pin is decided for itself all the same
/// (docs/design.md, "The policies").
///
/// # Safety
///
/// Inside a transaction (it opens the table's and its indexes' relcache entries),
/// from the planner, which holds a lock on the table.
unsafe fn is_unique_key(relid: pg_sys::Oid, attno: i16, opno: pg_sys::Oid) -> bool {
    let table = pg_sys::RelationIdGetRelation(relid);
    if table.is_null() {
        return false;
    }
    let indexes = pg_sys::RelationGetIndexList(table);
    pg_sys::RelationClose(table);
    let count = list_len(indexes);
    (0..count).any(|i| {
        let index_oid = (*(*indexes).elements.add(i)).oid_value;
        let index = pg_sys::RelationIdGetRelation(index_oid);
        if index.is_null() {
            return false;
        }
        let form = (*index).rd_index;
        let unique_on_column = !form.is_null()
            && (*form).indisunique
            && (*form).indisvalid
            && (*form).indimmediate
            && pg_sys::heap_attisnull(
                (*index).rd_indextuple,
                pg_sys::Anum_pg_index_indpred as i32,
                std::ptr::null_mut(),
            )
            && (*form).indnkeyatts == 1
            && *(*form).indkey.values.as_ptr() == attno
            && !(*index).rd_opfamily.is_null()
            && pg_sys::get_op_opfamily_strategy(opno, *(*index).rd_opfamily)
                == BT_EQUAL_STRATEGY_I32;
        pg_sys::RelationClose(index);
        unique_on_column
    })
}
