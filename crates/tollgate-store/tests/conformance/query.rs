//! list_rows/list: filters, OR groups, sorting, pagination.

use tollgate_store::*;

use crate::common::*;

/// Five keys:
///
/// | key | alias      | team | created | spend |
/// |-----|------------|------|---------|-------|
/// | k1  | Alpha-Prod | t1   | 1000    | 5     |
/// | k2  | alpha_dev  | t1   | 2000    | 1     |
/// | k3  | 50%_off    | t2   | 3000    | 3     |
/// | k4  | (none)     |(none)| 4000    | 4     |
/// | k5  | BETA       | t2   | 5000    | 2     |
///
/// k4 alone has no expiry and no budget reset time.
async fn seed(ctx: &Ctx) {
    let rows = [
        ("k1", Some("Alpha-Prod"), Some("t1"), 1000, 5.0),
        ("k2", Some("alpha_dev"), Some("t1"), 2000, 1.0),
        ("k3", Some("50%_off"), Some("t2"), 3000, 3.0),
        ("k4", None, None, 4000, 4.0),
        ("k5", Some("BETA"), Some("t2"), 5000, 2.0),
    ];
    let mut batch = Vec::new();
    for (id, alias, team, created, spend) in rows {
        let mut k = key(id);
        k.key_alias = alias.map(str::to_owned);
        k.team_id = team.map(str::to_owned);
        k.created_at = at(created);
        k.spend = spend;
        if id == "k4" {
            k.expires = None;
            k.budget_reset_at = None;
        }
        batch.push(ins(&k));
    }
    ctx.ok(batch).await;
}

/// The ids of a query's keys, in order, and the total.
async fn ids(ctx: &Ctx, query: Query) -> (Vec<String>, u64) {
    let page = ctx.list::<KeyRecord>(&query).await;
    (
        page.items.into_iter().map(|k| k.key_id).collect(),
        page.total,
    )
}

/// Shorthand: the expected ids (in order) and total.
fn want(ids: &[&str]) -> (Vec<String>, u64) {
    (
        ids.iter().map(|s| s.to_string()).collect(),
        ids.len() as u64,
    )
}

fn q() -> Query {
    Query::default()
}

fn ms(offset: i64) -> SqlValue {
    at(offset).timestamp_millis().into()
}

pub async fn eq_filter(ctx: &Ctx) {
    seed(ctx).await;
    assert_eq!(ids(ctx, q().eq("team_id", "t1")).await, want(&["k2", "k1"]));
    assert_eq!(ids(ctx, q().eq("key_id", "k3")).await, want(&["k3"]));
    assert_eq!(ids(ctx, q().eq("token", "tok-k5")).await, want(&["k5"]));
    assert_eq!(
        ids(ctx, q().eq("created_at", ms(4000))).await,
        want(&["k4"])
    );
    assert_eq!(ids(ctx, q().eq("team_id", "nope")).await, want(&[]));
    // Eq is exact: case matters.
    assert_eq!(ids(ctx, q().eq("key_alias", "beta")).await, want(&[]));
    // Several filters are ANDed.
    let both = q().eq("team_id", "t2").eq("key_alias", "BETA");
    assert_eq!(ids(ctx, both).await, want(&["k5"]));
    // key_by_token finds a live key by its current token.
    let found = ctx.store.key_by_token("tok-k2").await.unwrap();
    assert_eq!(found.map(|k| k.key_id).as_deref(), Some("k2"));
    assert_eq!(ctx.store.key_by_token("nope").await.unwrap(), None);
}

pub async fn in_filter(ctx: &Ctx) {
    seed(ctx).await;
    let teams = Filter::In("team_id", vec!["t1".into(), "t2".into()]);
    assert_eq!(
        ids(ctx, q().filter(teams)).await,
        want(&["k5", "k3", "k2", "k1"])
    );
    let keys = Filter::In("key_id", vec!["k1".into(), "k4".into(), "zz".into()]);
    assert_eq!(ids(ctx, q().filter(keys)).await, want(&["k4", "k1"]));
}

pub async fn empty_in_matches_nothing(ctx: &Ctx) {
    seed(ctx).await;
    let empty = || Filter::In("key_id", vec![]);
    assert_eq!(ids(ctx, q().filter(empty())).await, want(&[]));
    let either = Query {
        any_of: vec![empty(), Filter::Eq("key_id", "k3".into())],
        ..q()
    };
    assert_eq!(ids(ctx, either).await, want(&["k3"]));
    let only_empty = Query {
        any_of: vec![empty()],
        ..q()
    };
    assert_eq!(ids(ctx, only_empty).await, want(&[]));
}

pub async fn is_null_filter(ctx: &Ctx) {
    seed(ctx).await;
    assert_eq!(
        ids(ctx, q().filter(Filter::IsNull("key_alias"))).await,
        want(&["k4"])
    );
    assert_eq!(
        ids(ctx, q().filter(Filter::IsNull("team_id"))).await,
        want(&["k4"])
    );
    assert_eq!(
        ids(ctx, q().filter(Filter::IsNull("expires"))).await,
        want(&["k4"])
    );
    // Eq with a null value of any type means IS NULL.
    assert_eq!(
        ids(ctx, q().eq("team_id", SqlValue::Text(None))).await,
        want(&["k4"])
    );
    assert_eq!(
        ids(ctx, q().eq("expires", SqlValue::Int(None))).await,
        want(&["k4"])
    );
    assert_eq!(
        ids(ctx, q().eq("spend", SqlValue::Real(None))).await,
        want(&[])
    );
}

pub async fn contains_is_case_insensitive(ctx: &Ctx) {
    seed(ctx).await;
    let contains = |needle: &str| q().filter(Filter::Contains("key_alias", needle.into()));
    assert_eq!(ids(ctx, contains("ALPHA")).await, want(&["k2", "k1"]));
    assert_eq!(ids(ctx, contains("alpha")).await, want(&["k2", "k1"]));
    assert_eq!(ids(ctx, contains("pRoD")).await, want(&["k1"]));
    assert_eq!(ids(ctx, contains("beta")).await, want(&["k5"]));
    assert_eq!(ids(ctx, contains("zeta")).await, want(&[]));
    // The empty needle matches every non-null value.
    assert_eq!(
        ids(ctx, contains("")).await,
        want(&["k5", "k3", "k2", "k1"])
    );
}

pub async fn contains_treats_wildcards_literally(ctx: &Ctx) {
    seed(ctx).await;
    let contains = |needle: &str| q().filter(Filter::Contains("key_alias", needle.into()));
    assert_eq!(ids(ctx, contains("%")).await, want(&["k3"]));
    assert_eq!(ids(ctx, contains("_")).await, want(&["k3", "k2"]));
    assert_eq!(ids(ctx, contains("%_")).await, want(&["k3"]));
    assert_eq!(ids(ctx, contains("0%_O")).await, want(&["k3"]));
    assert_eq!(ids(ctx, contains("a_d")).await, want(&["k2"]));
    assert_eq!(ids(ctx, contains("a%d")).await, want(&[]));
    assert_eq!(ids(ctx, contains("\\")).await, want(&[]));
    assert_eq!(ids(ctx, contains("'")).await, want(&[]));
}

pub async fn lt_and_ge_filters(ctx: &Ctx) {
    seed(ctx).await;
    let lt = |c, v| q().filter(Filter::Lt(c, v));
    let ge = |c, v| q().filter(Filter::Ge(c, v));
    assert_eq!(
        ids(ctx, lt("created_at", ms(3000))).await,
        want(&["k2", "k1"])
    );
    assert_eq!(
        ids(ctx, ge("created_at", ms(3000))).await,
        want(&["k5", "k4", "k3"])
    );
    let window = ge("created_at", ms(2000)).filter(Filter::Lt("created_at", ms(4000)));
    assert_eq!(ids(ctx, window).await, want(&["k3", "k2"]));
    // Spend compares as a number, whether the bound is real or integer.
    let three = SqlValue::Real(Some(3.0));
    assert_eq!(
        ids(ctx, ge("spend", three.clone())).await,
        want(&["k4", "k3", "k1"])
    );
    assert_eq!(ids(ctx, lt("spend", three)).await, want(&["k5", "k2"]));
    assert_eq!(ids(ctx, lt("spend", 3.into())).await, want(&["k5", "k2"]));
    // NULL is neither less nor greater than anything.
    let far = ms(100_000_000_000);
    assert_eq!(
        ids(ctx, lt("budget_reset_at", far)).await,
        want(&["k5", "k3", "k2", "k1"])
    );
    // Text compares too.
    assert_eq!(
        ids(ctx, lt("key_id", "k3".into())).await,
        want(&["k2", "k1"])
    );
}

pub async fn any_of_is_an_or_group(ctx: &Ctx) {
    seed(ctx).await;
    let t1_or_none = vec![
        Filter::Eq("team_id", "t1".into()),
        Filter::IsNull("team_id"),
    ];
    let query = Query {
        any_of: t1_or_none.clone(),
        ..q()
    };
    assert_eq!(ids(ctx, query).await, want(&["k4", "k2", "k1"]));
    // ANDed with the plain filters: created >= 2000 AND (team = t1 OR team IS NULL).
    let query = Query {
        any_of: t1_or_none,
        ..q().filter(Filter::Ge("created_at", ms(2000)))
    };
    assert_eq!(ids(ctx, query).await, want(&["k4", "k2"]));
    let query = Query {
        any_of: vec![
            Filter::Contains("key_alias", "beta".into()),
            Filter::Lt("spend", SqlValue::Real(Some(1.5))),
        ],
        ..q()
    };
    assert_eq!(ids(ctx, query).await, want(&["k5", "k2"]));
}

pub async fn sort_by_created_at(ctx: &Ctx) {
    seed(ctx).await;
    assert_eq!(ids(ctx, q()).await, want(&["k5", "k4", "k3", "k2", "k1"]));
    let asc = Query {
        descending: false,
        ..q()
    };
    assert_eq!(ids(ctx, asc).await, want(&["k1", "k2", "k3", "k4", "k5"]));
}

pub async fn sort_by_spend(ctx: &Ctx) {
    seed(ctx).await;
    let by_spend = |descending| Query {
        sort_by: "spend",
        descending,
        ..q()
    };
    assert_eq!(
        ids(ctx, by_spend(true)).await,
        want(&["k1", "k4", "k3", "k5", "k2"])
    );
    assert_eq!(
        ids(ctx, by_spend(false)).await,
        want(&["k2", "k5", "k3", "k4", "k1"])
    );
    // Sorting follows spend set after insert.
    ctx.ok(vec![Write::SetSpend {
        kind: Kind::Key,
        pk: vec!["k2".into()],
        spend: 100.0,
    }])
    .await;
    assert_eq!(
        ids(ctx, by_spend(true)).await,
        want(&["k2", "k1", "k4", "k3", "k5"])
    );
}

pub async fn pagination_and_total(ctx: &Ctx) {
    seed(ctx).await;
    let asc = |limit, offset| {
        Query {
            descending: false,
            ..q()
        }
        .page(limit, offset)
    };
    let page = |ids: &[&str]| (want(ids).0, 5);
    assert_eq!(ids(ctx, asc(2, 0)).await, page(&["k1", "k2"]));
    assert_eq!(ids(ctx, asc(2, 2)).await, page(&["k3", "k4"]));
    assert_eq!(ids(ctx, asc(2, 4)).await, page(&["k5"]));
    assert_eq!(ids(ctx, asc(2, 6)).await, page(&[]));
    assert_eq!(ids(ctx, asc(0, 0)).await, page(&[]));
    assert_eq!(
        ids(ctx, asc(100, 0)).await,
        want(&["k1", "k2", "k3", "k4", "k5"])
    );
    // The total counts the filtered rows, not the page.
    let t1 = q().eq("team_id", "t1").page(1, 1);
    assert_eq!(ids(ctx, t1).await, (want(&["k1"]).0, 2));
    let by_spend = Query {
        sort_by: "spend",
        ..q()
    }
    .page(2, 1);
    assert_eq!(ids(ctx, by_spend).await, page(&["k4", "k3"]));
    // `first` reads one row and counts nothing else.
    assert_eq!(
        ids(ctx, q().eq("team_id", "t1").first()).await,
        want(&["k2"])
    );
    assert_eq!(ids(ctx, q().eq("team_id", "t9").first()).await, want(&[]));
}

pub async fn pagination_is_stable_on_ties(ctx: &Ctx) {
    let teams: Vec<Write> = ["t3", "t1", "t5", "t2", "t4"]
        .iter()
        .map(|id| ins(&team(id)))
        .collect();
    ctx.ok(teams).await;
    for (descending, expected) in [
        (true, ["t5", "t4", "t3", "t2", "t1"]),
        (false, ["t1", "t2", "t3", "t4", "t5"]),
    ] {
        let mut seen = Vec::new();
        for offset in 0..5 {
            let query = Query { descending, ..q() }.page(1, offset);
            let page = ctx.list::<TeamRecord>(&query).await;
            assert_eq!(page.total, 5);
            seen.extend(page.items.into_iter().map(|t| t.team_id));
        }
        assert_eq!(seen, expected);
    }
}

pub async fn unknown_columns_are_errors(ctx: &Ctx) {
    seed(ctx).await;
    let bad = [
        q().eq("nope", "x"),
        // In the document, but not a column.
        q().eq("models", "x"),
        q().eq("data", "x"),
        // A column of another table.
        q().eq("team_alias", "x"),
        q().filter(Filter::In("nope", vec![])),
        q().filter(Filter::IsNull("nope")),
        q().filter(Filter::Contains("nope", "x".into())),
        q().filter(Filter::Lt("nope", 1.into())),
        q().filter(Filter::Ge("nope", 1.into())),
        Query {
            any_of: vec![Filter::IsNull("key_alias"), Filter::IsNull("nope")],
            ..q()
        },
        Query {
            sort_by: "nope",
            ..q()
        },
        Query {
            sort_by: "created_at; DROP TABLE keys",
            ..q()
        },
    ];
    for query in bad {
        let result = ctx.store.list_rows(Kind::Key, &query).await;
        assert!(result.is_err(), "{query:?} gave {result:?}");
    }
    for kind in Kind::ALL {
        assert!(ctx
            .store
            .list_rows(kind, &q().eq("nope", "x"))
            .await
            .is_err());
        // Every table can be listed by its own key and spend.
        let first_pk = kind.def().pk[0];
        let query = Query {
            sort_by: "spend",
            ..q().filter(Filter::IsNull(first_pk))
        };
        assert_eq!(ctx.store.list_rows(kind, &query).await.unwrap().total, 0);
    }
    assert_eq!(ids(ctx, q()).await.1, 5);
}

/// The same filter bound first to a real, then to an integer, and back: each value must be
/// compared as what it is (PostgreSQL caches a statement per text, with its first parameter
/// types), on one connection so that every statement meets the cached one.
pub async fn filter_values_may_change_type(ctx: &Ctx) {
    seed(ctx).await;
    let options = ConnectOptions {
        max_connections: 1,
        ..ConnectOptions::new(ctx.db.url())
    };
    let store = SqlStore::connect(&options).await.unwrap();
    let count = |query: Query| {
        let store = store.clone();
        async move { store.list_rows(Kind::Key, &query).await.unwrap().total }
    };
    for _ in 0..2 {
        assert_eq!(
            count(q().filter(Filter::Lt("spend", SqlValue::Real(Some(3.0))))).await,
            2
        );
        assert_eq!(count(q().filter(Filter::Lt("spend", 3.into()))).await, 2);
        assert_eq!(count(q().eq("spend", SqlValue::Real(Some(4.0)))).await, 1);
        assert_eq!(count(q().eq("spend", 4_i64)).await, 1);
        let in_mixed = Filter::In("spend", vec![1.into(), SqlValue::Real(Some(2.0))]);
        assert_eq!(count(q().filter(in_mixed)).await, 2);
        let in_swapped = Filter::In("spend", vec![SqlValue::Real(Some(1.0)), 2.into()]);
        assert_eq!(count(q().filter(in_swapped)).await, 2);
    }
}
