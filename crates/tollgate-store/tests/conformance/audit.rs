//! The audit log: filters, time windows, order, pagination.

use tollgate_store::*;

use crate::common::*;

/// Six entries, a1 oldest; a5 and a6 share a time. a6 has no author and no values.
fn entries() -> Vec<AuditEntry> {
    let by = |mut e: AuditEntry, who: &str| {
        e.changed_by = Some(who.into());
        e
    };
    let mut a6 = audit_entry("a6", 5000, "users", "u1", "created");
    a6.changed_by = None;
    a6.changed_by_api_key = None;
    a6.before_value = None;
    a6.updated_values = None;
    vec![
        by(audit_entry("a1", 1000, "keys", "k1", "created"), "admin"),
        by(audit_entry("a2", 2000, "keys", "k1", "updated"), "admin"),
        by(audit_entry("a3", 3000, "teams", "t1", "created"), "bob"),
        by(audit_entry("a4", 4000, "keys", "k2", "deleted"), "bob"),
        by(audit_entry("a5", 5000, "teams", "t1", "updated"), "admin"),
        a6,
    ]
}

async fn seed(ctx: &Ctx) {
    ctx.ok(entries().into_iter().map(audit).collect()).await;
}

/// The ids of a query's entries and the total.
async fn ids(ctx: &Ctx, query: AuditQuery) -> (Vec<String>, u64) {
    let page = ctx.audit(query).await;
    (page.items.into_iter().map(|e| e.id).collect(), page.total)
}

fn want(ids: &[&str]) -> (Vec<String>, u64) {
    (
        ids.iter().map(|s| s.to_string()).collect(),
        ids.len() as u64,
    )
}

fn all() -> AuditQuery {
    AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    }
}

fn some(s: &str) -> Option<String> {
    Some(s.into())
}

pub async fn entries_round_trip_newest_first(ctx: &Ctx) {
    seed(ctx).await;
    let page = ctx.audit(all()).await;
    let mut expected = entries();
    expected.reverse(); // newest first; on a tie in time, the greater id first
    assert_eq!(page.items, expected);
    assert_eq!(page.total, 6);
}

pub async fn filters_by_fields(ctx: &Ctx) {
    seed(ctx).await;
    let table = |t: &str| AuditQuery {
        table_name: some(t),
        ..all()
    };
    assert_eq!(ids(ctx, table("keys")).await, want(&["a4", "a2", "a1"]));
    assert_eq!(ids(ctx, table("nope")).await, want(&[]));
    let object = AuditQuery {
        object_id: some("t1"),
        ..all()
    };
    assert_eq!(ids(ctx, object).await, want(&["a5", "a3"]));
    let action = AuditQuery {
        action: some("created"),
        ..all()
    };
    assert_eq!(ids(ctx, action).await, want(&["a6", "a3", "a1"]));
    let author = AuditQuery {
        changed_by: some("bob"),
        ..all()
    };
    assert_eq!(ids(ctx, author).await, want(&["a4", "a3"]));
    let combined = AuditQuery {
        table_name: some("keys"),
        object_id: some("k1"),
        action: some("updated"),
        changed_by: some("admin"),
        ..all()
    };
    assert_eq!(ids(ctx, combined).await, want(&["a2"]));
}

pub async fn filters_by_time(ctx: &Ctx) {
    seed(ctx).await;
    // `since` is inclusive, `until` exclusive.
    let since = AuditQuery {
        since: Some(at(3000)),
        ..all()
    };
    assert_eq!(ids(ctx, since).await, want(&["a6", "a5", "a4", "a3"]));
    let until = AuditQuery {
        until: Some(at(3000)),
        ..all()
    };
    assert_eq!(ids(ctx, until).await, want(&["a2", "a1"]));
    let window = AuditQuery {
        since: Some(at(2000)),
        until: Some(at(5000)),
        table_name: some("keys"),
        ..all()
    };
    assert_eq!(ids(ctx, window).await, want(&["a4", "a2"]));
    let empty = AuditQuery {
        since: Some(at(9000)),
        ..all()
    };
    assert_eq!(ids(ctx, empty).await, want(&[]));
}

pub async fn pagination_and_total(ctx: &Ctx) {
    seed(ctx).await;
    let page = |limit, offset| AuditQuery {
        limit,
        offset,
        ..AuditQuery::default()
    };
    let of6 = |ids: &[&str]| (want(ids).0, 6);
    assert_eq!(ids(ctx, page(2, 0)).await, of6(&["a6", "a5"]));
    assert_eq!(ids(ctx, page(2, 2)).await, of6(&["a4", "a3"]));
    assert_eq!(ids(ctx, page(2, 4)).await, of6(&["a2", "a1"]));
    assert_eq!(ids(ctx, page(2, 6)).await, of6(&[]));
    let keys = AuditQuery {
        table_name: some("keys"),
        ..page(1, 1)
    };
    assert_eq!(ids(ctx, keys).await, (want(&["a2"]).0, 3));
}
