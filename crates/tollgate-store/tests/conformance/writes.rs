//! The rules of single writes: spend, missing rows, conflicts, DeleteWhere.

use tollgate_store::*;

use crate::assert_err;
use crate::common::*;

fn set_spend(kind: Kind, pk: &[&str], spend: f64) -> Write {
    Write::SetSpend {
        kind,
        pk: pk.iter().map(|s| s.to_string()).collect(),
        spend,
    }
}

pub async fn update_never_touches_spend(ctx: &Ctx) {
    let mut k = key("k1");
    k.spend = 1.5;
    let mut m = team_member("t1", "u1");
    m.spend = 2.5;
    ctx.ok(vec![ins(&k), ins(&m)]).await;

    k.spend = 100.0;
    k.key_alias = Some("changed".into());
    m.spend = 200.0;
    m.role = "user".into();
    ctx.ok(vec![upd(&k), upd(&m)]).await;

    let got = ctx.get::<KeyRecord>(&["k1"]).await.unwrap();
    assert_eq!(got.spend, 1.5);
    assert_eq!(got.key_alias.as_deref(), Some("changed"));
    let got = ctx.get::<TeamMember>(&["t1", "u1"]).await.unwrap();
    assert_eq!(got.spend, 2.5);
    assert_eq!(got.role, "user");
}

pub async fn set_spend_sets_spend(ctx: &Ctx) {
    let k = key("k1");
    let m = team_member("t1", "u1");
    ctx.ok(vec![ins(&k), ins(&m), ins(&team_member("t1", "u2"))])
        .await;
    ctx.ok(vec![
        set_spend(Kind::Key, &["k1"], 42.125),
        set_spend(Kind::TeamMember, &["t1", "u1"], 0.0),
    ])
    .await;

    let got = ctx.get::<KeyRecord>(&["k1"]).await.unwrap();
    assert_eq!(got, KeyRecord { spend: 42.125, ..k });
    let got = ctx.get::<TeamMember>(&["t1", "u1"]).await.unwrap();
    assert_eq!(got, TeamMember { spend: 0.0, ..m });
    // Only the named member changed.
    let other = ctx.get::<TeamMember>(&["t1", "u2"]).await.unwrap();
    assert_eq!(other.spend, team_member("t1", "u2").spend);
}

pub async fn missing_rows_are_not_found(ctx: &Ctx) {
    ctx.ok(vec![ins(&team_member("t1", "u1"))]).await;
    let absent_key = key("missing");
    let absent_member = team_member("t1", "u2");

    assert_err!(ctx.err(vec![upd(&absent_key)]).await, NotFound);
    assert_err!(ctx.err(vec![Write::delete(&absent_key)]).await, NotFound);
    assert_err!(
        ctx.err(vec![set_spend(Kind::Key, &["missing"], 1.0)]).await,
        NotFound
    );
    assert_err!(ctx.err(vec![upd(&absent_member)]).await, NotFound);
    assert_err!(ctx.err(vec![Write::delete(&absent_member)]).await, NotFound);
    assert_err!(
        ctx.err(vec![set_spend(Kind::TeamMember, &["t1", "u2"], 1.0)])
            .await,
        NotFound
    );
    for kind in Kind::ALL {
        let pk = vec!["nope".to_string(); kind.def().pk.len()];
        assert_err!(
            ctx.err(vec![Write::Delete {
                kind,
                pk: pk.clone()
            }])
            .await,
            NotFound
        );
        assert_err!(
            ctx.err(vec![Write::SetSpend {
                kind,
                pk,
                spend: 1.0
            }])
            .await,
            NotFound
        );
    }
}

pub async fn duplicate_primary_keys_conflict(ctx: &Ctx) {
    let k = key("k1");
    // Same key_id, but a different token and alias, so only the primary key collides.
    let k2 = KeyRecord {
        token: "other-token".into(),
        key_alias: Some("other-alias".into()),
        ..k.clone()
    };
    let pairs = vec![
        (ins(&k), ins(&k2)),
        (ins(&team("t1")), ins(&team("t1"))),
        (ins(&team_member("t1", "u1")), ins(&team_member("t1", "u1"))),
        (ins(&user("u1")), ins(&user("u1"))),
        (ins(&org("o1")), ins(&org("o1"))),
        (ins(&org_member("o1", "u1")), ins(&org_member("o1", "u1"))),
        (ins(&customer("c1")), ins(&customer("c1"))),
        (ins(&budget("b1")), ins(&budget("b1"))),
    ];
    for (first, second) in pairs {
        ctx.ok(vec![first]).await;
        assert_err!(ctx.err(vec![second]).await, Conflict);
    }
    assert_eq!(ctx.get::<KeyRecord>(&["k1"]).await, Some(k));
    // A composite key collides only on both parts.
    ctx.ok(vec![
        ins(&team_member("t1", "u2")),
        ins(&team_member("t2", "u1")),
    ])
    .await;
}

pub async fn duplicate_key_alias_conflicts(ctx: &Ctx) {
    let a = key("a");
    let b = KeyRecord {
        token: "tok-b".into(),
        ..key("b")
    };
    ctx.ok(vec![ins(&a)]).await;
    let same_alias = KeyRecord {
        key_alias: a.key_alias.clone(),
        ..b.clone()
    };
    assert_err!(ctx.err(vec![ins(&same_alias)]).await, Conflict);
    assert_eq!(ctx.get::<KeyRecord>(&["b"]).await, None);

    // Taking an alias by update conflicts too.
    ctx.ok(vec![ins(&b)]).await;
    assert_err!(ctx.err(vec![upd(&same_alias)]).await, Conflict);
    assert_eq!(ctx.get::<KeyRecord>(&["b"]).await, Some(b));
}

pub async fn duplicate_key_token_conflicts(ctx: &Ctx) {
    let a = key("a");
    let b = key("b");
    ctx.ok(vec![ins(&a)]).await;
    let same_token = KeyRecord {
        token: a.token.clone(),
        ..b.clone()
    };
    assert_err!(ctx.err(vec![ins(&same_token)]).await, Conflict);

    ctx.ok(vec![ins(&b)]).await;
    assert_err!(ctx.err(vec![upd(&same_token)]).await, Conflict);
    assert_eq!(ctx.get::<KeyRecord>(&["b"]).await, Some(b));
}

pub async fn keys_without_alias_coexist(ctx: &Ctx) {
    let a = KeyRecord {
        key_alias: None,
        ..key("a")
    };
    let b = KeyRecord {
        key_alias: None,
        ..key("b")
    };
    ctx.ok(vec![ins(&a), ins(&b)]).await;
    let page = ctx
        .list::<KeyRecord>(&Query::default().filter(Filter::IsNull("key_alias")))
        .await;
    assert_eq!(page.total, 2);
    // Clearing an alias by update is fine too.
    let c = key("c");
    ctx.ok(vec![ins(&c)]).await;
    ctx.ok(vec![upd(&KeyRecord {
        key_alias: None,
        ..c
    })])
    .await;
}

pub async fn delete_where_deletes_matching_rows(ctx: &Ctx) {
    ctx.ok(vec![
        ins(&team_member("t1", "u1")),
        ins(&team_member("t1", "u2")),
        ins(&team_member("t2", "u1")),
    ])
    .await;
    let delete_team = |team: &str| Write::DeleteWhere {
        kind: Kind::TeamMember,
        column: "team_id",
        value: team.into(),
    };
    ctx.ok(vec![delete_team("t1")]).await;
    let left = ctx.list::<TeamMember>(&Query::default()).await;
    assert_eq!(left.items, vec![team_member("t2", "u1")]);
    // Nothing to delete is not an error.
    ctx.ok(vec![delete_team("t1")]).await;
    // An unknown column is.
    let bad = Write::DeleteWhere {
        kind: Kind::TeamMember,
        column: "role",
        value: "admin".into(),
    };
    assert!(ctx.store.apply(vec![bad]).await.is_err());
    assert_eq!(ctx.list::<TeamMember>(&Query::default()).await.total, 1);
}

/// A key with too few parts must not widen into a multi-row (or whole-table) write.
pub async fn wrong_primary_key_arity_is_an_error(ctx: &Ctx) {
    ctx.ok(vec![
        ins(&key("k1")),
        ins(&team_member("t1", "u1")),
        ins(&team_member("t1", "u2")),
    ])
    .await;
    let bad = [
        Write::Delete {
            kind: Kind::Key,
            pk: vec![],
        },
        Write::Delete {
            kind: Kind::TeamMember,
            pk: vec!["t1".into()],
        },
        set_spend(Kind::Key, &[], 9.0),
        set_spend(Kind::TeamMember, &["t1"], 9.0),
        set_spend(Kind::Key, &["k1", "extra"], 9.0),
    ];
    for write in bad {
        assert!(
            ctx.store.apply(vec![write.clone()]).await.is_err(),
            "{write:?}"
        );
    }
    assert_eq!(ctx.get::<KeyRecord>(&["k1"]).await, Some(key("k1")));
    let members = ctx.list::<TeamMember>(&Query::default()).await;
    assert_eq!(members.total, 2);
    assert!(members.items.iter().all(|m| m.spend == 0.75));
    assert!(ctx.store.get_row(Kind::TeamMember, &["t1"]).await.is_err());
    assert!(ctx.store.get_row(Kind::Key, &[]).await.is_err());
}
