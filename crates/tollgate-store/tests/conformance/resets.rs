//! Budget resets: which rows are due, the compare-and-set that makes a reset happen once, and
//! reads that show the `budget_reset_at` column rather than the document's stale copy.

use tollgate_store::*;

use crate::assert_err;
use crate::common::*;

/// One row of every table with `budget_reset_at`, due at `at(1000)`, with spend.
fn due_rows() -> Vec<Write> {
    let due = Some(at(1000));
    vec![
        ins(&KeyRecord {
            budget_reset_at: due,
            ..key("k1")
        }),
        ins(&TeamRecord {
            budget_reset_at: due,
            ..team("t1")
        }),
        ins(&TeamMember {
            budget_reset_at: due,
            ..team_member("t1", "u1")
        }),
        ins(&UserRecord {
            budget_reset_at: due,
            ..user("u1")
        }),
        ins(&OrgRecord {
            budget_reset_at: due,
            ..org("o1")
        }),
        ins(&CustomerRecord {
            budget_reset_at: due,
            ..customer("c1")
        }),
        ins(&BudgetRecord {
            budget_reset_at: due,
            ..budget("b1")
        }),
    ]
}

fn reset(kind: Kind, pk: &[String], expected: Option<i64>, next: i64) -> Write {
    Write::ResetBudget {
        kind,
        pk: pk.to_vec(),
        expected_reset_at: expected,
        next_reset_at: Some(at(next)),
    }
}

pub async fn due_rows_of_every_kind(ctx: &Ctx) {
    ctx.ok(due_rows()).await;
    // Not due yet, and rows with no reset time, are left out.
    ctx.ok(vec![
        ins(&KeyRecord {
            budget_reset_at: Some(at(5000)),
            ..key("k2")
        }),
        ins(&KeyRecord {
            budget_reset_at: None,
            ..key("k3")
        }),
    ])
    .await;
    let expected_duration = [
        (Kind::Key, Some("30d")),
        (Kind::Team, Some("1d")),
        (Kind::TeamMember, Some("7d")),
        (Kind::User, Some("1mo")),
        (Kind::Org, None),
        (Kind::Customer, None),
        (Kind::Budget, Some("30d")),
    ];
    for (kind, duration) in expected_duration {
        let due = ctx.store.due_budget_resets(kind, at(1000)).await.unwrap();
        assert_eq!(due.len(), 1, "{kind:?}");
        assert_eq!(due[0].budget_duration.as_deref(), duration, "{kind:?}");
        assert_eq!(due[0].budget_reset_at, at(1000).timestamp_millis());
        assert_eq!(due[0].pk.len(), kind.def().pk.len());
        assert!(ctx
            .store
            .due_budget_resets(kind, at(999))
            .await
            .unwrap()
            .is_empty());

        ctx.ok(vec![reset(
            kind,
            &due[0].pk,
            Some(due[0].budget_reset_at),
            9000,
        )])
        .await;
        let pk: Vec<&str> = due[0].pk.iter().map(String::as_str).collect();
        let row = ctx.store.get_row(kind, &pk).await.unwrap().unwrap();
        assert_eq!(row["spend"], 0.0, "{kind:?}");
        assert_eq!(row["budget_reset_at"], "2025-01-01T00:00:09Z", "{kind:?}");
        assert!(ctx
            .store
            .due_budget_resets(kind, at(1000))
            .await
            .unwrap()
            .is_empty());
    }
    let keys = ctx
        .store
        .due_budget_resets(Kind::Key, at(5000))
        .await
        .unwrap();
    assert_eq!(
        keys.iter().map(|d| d.pk[0].as_str()).collect::<Vec<_>>(),
        ["k2"]
    );
    assert_err!(
        ctx.store
            .due_budget_resets(Kind::OrgMember, at(0))
            .await
            .unwrap_err(),
        Database
    );
}

/// Two replicas see the same due row; the second reset finds the column moved and does nothing,
/// so spend recorded after the first reset survives.
pub async fn reset_is_compare_and_set(ctx: &Ctx) {
    ctx.ok(due_rows()).await;
    let due = ctx
        .store
        .due_budget_resets(Kind::Key, at(2000))
        .await
        .unwrap();
    let (pk, expected) = (due[0].pk.clone(), Some(due[0].budget_reset_at));
    ctx.ok(vec![reset(Kind::Key, &pk, expected, 9000)]).await;
    record(ctx, &[spend_event("r1", 0.5, 0)]).await;
    // The late replica: not an error, and nothing changes.
    ctx.ok(vec![reset(Kind::Key, &pk, expected, 8000)]).await;
    let k = ctx.get::<KeyRecord>(&["k1"]).await.unwrap();
    assert_close(k.spend, 0.5);
    assert_eq!(k.budget_reset_at, Some(at(9000)));
    // The rest of the document is untouched, and a list shows the same.
    assert_eq!(
        KeyRecord {
            spend: 0.0,
            budget_reset_at: None,
            ..k.clone()
        },
        KeyRecord {
            spend: 0.0,
            budget_reset_at: None,
            ..key("k1")
        }
    );
    let listed = ctx.list::<KeyRecord>(&Query::default()).await.items;
    assert_eq!(listed, vec![k]);

    // NULL is compared as NULL; a reset may clear the time.
    ctx.ok(vec![ins(&UserRecord {
        budget_reset_at: None,
        ..user("u2")
    })])
    .await;
    ctx.ok(vec![Write::ResetBudget {
        kind: Kind::User,
        pk: vec!["u2".into()],
        expected_reset_at: Some(1),
        next_reset_at: None,
    }])
    .await;
    assert_eq!(
        ctx.get::<UserRecord>(&["u2"]).await.unwrap().spend,
        user("u2").spend
    );
    ctx.ok(vec![Write::ResetBudget {
        kind: Kind::User,
        pk: vec!["u2".into()],
        expected_reset_at: None,
        next_reset_at: Some(at(7)),
    }])
    .await;
    let u2 = ctx.get::<UserRecord>(&["u2"]).await.unwrap();
    assert_eq!((u2.spend, u2.budget_reset_at), (0.0, Some(at(7))));
    ctx.ok(vec![Write::ResetBudget {
        kind: Kind::User,
        pk: vec!["u2".into()],
        expected_reset_at: Some(at(7).timestamp_millis()),
        next_reset_at: None,
    }])
    .await;
    assert_eq!(
        ctx.get::<UserRecord>(&["u2"])
            .await
            .unwrap()
            .budget_reset_at,
        None
    );

    // Tables without the column, and keys of the wrong arity, are errors.
    let bad = [
        Write::ResetBudget {
            kind: Kind::OrgMember,
            pk: vec!["o1".into(), "u1".into()],
            expected_reset_at: None,
            next_reset_at: None,
        },
        Write::ResetBudget {
            kind: Kind::TeamMember,
            pk: vec!["t1".into()],
            expected_reset_at: None,
            next_reset_at: None,
        },
    ];
    for write in bad {
        assert!(ctx.store.apply(vec![write]).await.is_err());
    }
}
