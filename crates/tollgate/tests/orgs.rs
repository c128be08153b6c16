//! /organization/*.

use serde_json::json;
use tollgate_testkit::TestDb;

use crate::both;
use crate::common::{assert_error, Gateway, MASTER};

async fn org_crud(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let v = gw
        .post(
            "/organization/new",
            json!({"organization_id": "o1", "organization_alias": "Acme", "models": ["gpt-4o"], "max_budget": 50, "tpm_limit": 100}),
        )
        .await;
    assert_eq!(v["organization_id"], "o1");
    assert_eq!(v["organization_alias"], "Acme");
    assert_eq!(v["models"], json!(["gpt-4o"]));
    assert_eq!(v["litellm_budget_table"]["max_budget"], 50.0);
    assert_eq!(v["litellm_budget_table"]["tpm_limit"], 100);
    let budget_id = v["budget_id"].as_str().unwrap().to_owned();
    assert_eq!(v["litellm_budget_table"]["budget_id"], budget_id.as_str());

    gw.post(
        "/budget/new",
        json!({"budget_id": "shared", "max_budget": 5}),
    )
    .await;
    let v = gw
        .post(
            "/organization/new",
            json!({"organization_id": "o2", "organization_alias": "Beta", "budget_id": "shared"}),
        )
        .await;
    assert_eq!(v["budget_id"], "shared");
    assert_eq!(v["litellm_budget_table"]["max_budget"], 5.0);

    let (s, v) = gw
        .post_as(
            MASTER,
            "/organization/new",
            json!({"organization_id": "o1", "organization_alias": "Again"}),
        )
        .await;
    assert_error(s, &v, 400, "Organization id = o1 already exists");
    let (s, v) = gw
        .post_as(MASTER, "/organization/new", json!({"models": []}))
        .await;
    assert_error(s, &v, 422, "organization_alias");

    let (s, v) = gw
        .call(
            "PATCH",
            "/organization/update",
            Some(MASTER),
            Some(json!({"organization_id": "o1", "organization_alias": "Acme2", "max_budget": 75})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    assert_eq!(v["organization_alias"], "Acme2");
    assert_eq!(v["budget_id"], budget_id.as_str());
    assert_eq!(v["litellm_budget_table"]["max_budget"], 75.0);
    assert_eq!(v["litellm_budget_table"]["tpm_limit"], 100);
    let v = gw
        .post(
            "/organization/update",
            json!({"organization_id": "o2", "models": ["m"]}),
        )
        .await;
    assert_eq!(v["models"], json!(["m"]));
    assert_eq!(v["organization_alias"], "Beta");
    let (s, v) = gw
        .call(
            "PATCH",
            "/organization/update",
            Some(MASTER),
            Some(json!({"organization_id": "nope", "organization_alias": "x"})),
        )
        .await;
    assert_error(s, &v, 404, "Organization not found");

    let v = gw.get("/organization/info?organization_id=o1").await;
    assert_eq!(v["organization_alias"], "Acme2");
    assert_eq!(v["litellm_budget_table"]["max_budget"], 75.0);
    let (s, v) = gw
        .get_as(MASTER, "/organization/info?organization_id=nope")
        .await;
    assert_error(
        s,
        &v,
        404,
        "Organization not found, passed organization_id=nope",
    );
    let v = gw
        .post("/organization/info", json!({"organizations": ["o2", "o1"]}))
        .await;
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["organization_id"], "o2");
    assert_eq!(v[1]["organization_id"], "o1");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/organization/info",
            json!({"organizations": ["o1", "nope"]}),
        )
        .await;
    assert_error(s, &v, 404, "nope");

    let list = gw.get("/organization/list").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let list = gw.get("/organization/list?org_id=o2").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["organization_alias"], "Beta");
    gw.stop().await;
}

async fn org_members(db: &TestDb) {
    let gw = Gateway::start(db).await;
    gw.post(
        "/organization/new",
        json!({"organization_id": "o", "organization_alias": "Org"}),
    )
    .await;
    let v = gw
        .post(
            "/organization/member_add",
            json!({"organization_id": "o", "member": [{"user_id": "u1", "role": "org_admin"}, {"user_id": "u2"}], "max_budget_in_organization": 4}),
        )
        .await;
    let ms = v["updated_organization_memberships"].as_array().unwrap();
    assert_eq!(ms.len(), 2);
    assert_eq!(ms[0]["user_id"], "u1");
    assert_eq!(ms[0]["user_role"], "org_admin");
    assert_eq!(ms[1]["user_role"], "internal_user");
    assert_eq!(ms[1]["litellm_budget_table"]["max_budget"], 4.0);
    assert_eq!(v["updated_users"][0]["organization_id"], "o");

    let (s, v) = gw
        .post_as(
            MASTER,
            "/organization/member_add",
            json!({"organization_id": "o", "member": {"user_id": "u1"}}),
        )
        .await;
    assert_error(s, &v, 400, "already a member of organization o");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/organization/member_add",
            json!({"organization_id": "o", "member": {"user_id": "u3", "role": "admin"}}),
        )
        .await;
    assert_error(s, &v, 400, "Invalid organization role 'admin'");

    let (s, v) = gw
        .call(
            "PATCH",
            "/organization/member_update",
            Some(MASTER),
            Some(json!({"organization_id": "o", "user_id": "u2", "role": "internal_user_viewer", "max_budget_in_organization": 9})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    assert_eq!(v["user_role"], "internal_user_viewer");
    assert_eq!(v["litellm_budget_table"]["max_budget"], 9.0);
    let (s, v) = gw
        .call(
            "PATCH",
            "/organization/member_update",
            Some(MASTER),
            Some(json!({"organization_id": "o", "user_id": "u2", "role": "owner"})),
        )
        .await;
    assert_error(s, &v, 400, "Invalid organization role 'owner'");
    let (s, v) = gw
        .call(
            "PATCH",
            "/organization/member_update",
            Some(MASTER),
            Some(json!({"organization_id": "o", "user_id": "ghost", "role": "org_admin"})),
        )
        .await;
    assert_error(s, &v, 404, "User ghost is not a member of organization o");

    let (s, v) = gw
        .call(
            "DELETE",
            "/organization/member_delete",
            Some(MASTER),
            Some(json!({"organization_id": "o", "user_id": "u2"})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    assert_eq!(v["deleted"], true);
    assert_eq!(v["user_id"], "u2");
    let (s, v) = gw
        .call(
            "DELETE",
            "/organization/member_delete",
            Some(MASTER),
            Some(json!({"organization_id": "o", "user_id": "u2"})),
        )
        .await;
    assert_error(s, &v, 404, "is not a member");

    let info = gw.get("/organization/info?organization_id=o").await;
    let members = info["members"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["user_id"], "u1");
    gw.stop().await;
}

async fn org_delete_waits_for_its_teams(db: &TestDb) {
    let gw = Gateway::start(db).await;
    gw.post(
        "/organization/new",
        json!({"organization_id": "o", "organization_alias": "Org"}),
    )
    .await;
    gw.post("/team/new", json!({"team_id": "t", "organization_id": "o"}))
        .await;
    let key = gw.post("/key/generate", json!({"team_id": "t"})).await;
    assert_eq!(key["team_id"], "t");
    assert_eq!(key["organization_id"], "o");
    let info = gw.get("/organization/info?organization_id=o").await;
    assert_eq!(info["teams"][0]["team_id"], "t");

    let (s, v) = gw
        .call(
            "DELETE",
            "/organization/delete",
            Some(MASTER),
            Some(json!({"organization_ids": ["o"]})),
        )
        .await;
    assert_error(s, &v, 400, "Organization o still has 1 team(s)");
    gw.post("/team/delete", json!({"team_ids": ["t"]})).await;
    let (s, v) = gw
        .call(
            "DELETE",
            "/organization/delete",
            Some(MASTER),
            Some(json!({"organization_ids": ["o"]})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    assert_eq!(v[0]["organization_id"], "o");
    let (s, v) = gw
        .get_as(MASTER, "/organization/info?organization_id=o")
        .await;
    assert_error(s, &v, 404, "Organization not found");
    let (s, v) = gw
        .call(
            "DELETE",
            "/organization/delete",
            Some(MASTER),
            Some(json!({"organization_ids": ["o"]})),
        )
        .await;
    assert_error(s, &v, 404, "Organization not found");
    gw.stop().await;
}

both!(org_crud, org_members, org_delete_waits_for_its_teams);
