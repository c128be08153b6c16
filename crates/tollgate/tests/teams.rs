//! /team/*.

use serde_json::json;
use tollgate_testkit::TestDb;

use crate::both;
use crate::common::{assert_error, Gateway, MASTER};

async fn team_crud(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let v = gw.post("/team/new", json!({"team_id": "eng", "team_alias": "Engineering", "models": ["gpt-4o"], "max_budget": 100, "tpm_limit": 1000, "members_with_roles": [{"role": "admin", "user_id": "lead"}]})).await;
    assert_eq!(v["team_id"], "eng");
    assert_eq!(v["members_with_roles"][0]["user_id"], "lead");
    let (s, v) = gw
        .post_as(MASTER, "/team/new", json!({"team_id": "eng"}))
        .await;
    assert_error(s, &v, 400, "Team id = eng already exists");
    let generated = gw.post("/team/new", json!({"team_alias": "auto"})).await;
    assert_eq!(generated["team_id"].as_str().unwrap().len(), 36);

    let v = gw
        .post(
            "/team/update",
            json!({"team_id": "eng", "max_budget": 200, "team_alias": "Eng"}),
        )
        .await;
    assert_eq!(v["team_id"], "eng");
    assert_eq!(v["data"]["max_budget"], 200.0);
    assert_eq!(v["data"]["tpm_limit"], 1000);
    let (s, v) = gw
        .post_as(MASTER, "/team/update", json!({"team_id": "nope"}))
        .await;
    assert_error(s, &v, 404, "Team not found");

    let info = gw.get("/team/info?team_id=eng").await;
    assert_eq!(info["team_info"]["team_alias"], "Eng");
    assert_eq!(info["team_memberships"][0]["user_id"], "lead");
    let (s, v) = gw.get_as(MASTER, "/team/info").await;
    assert_error(s, &v, 422, "No team id passed in");
    let (s, v) = gw.get_as(MASTER, "/team/info?team_id=nope").await;
    assert_error(s, &v, 404, "Team not found, passed team id: nope.");

    let list = gw.get("/team/list").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let v2 = gw.get("/v2/team/list?page=1&page_size=1").await;
    assert_eq!(v2["total"], 2);
    assert_eq!(v2["teams"].as_array().unwrap().len(), 1);
    gw.stop().await;
}

async fn team_keys_must_fit_the_team(db: &TestDb) {
    let gw = Gateway::start(db).await;
    gw.post(
        "/team/new",
        json!({"team_id": "small", "models": ["gpt-4o"], "max_budget": 10}),
    )
    .await;
    let (s, v) = gw
        .post_as(
            MASTER,
            "/key/generate",
            json!({"team_id": "small", "models": ["claude"]}),
        )
        .await;
    assert_error(s, &v, 400, "not in the team's models");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/key/generate",
            json!({"team_id": "small", "max_budget": 11}),
        )
        .await;
    assert_error(s, &v, 400, "higher than the team's max_budget");
    let (s, v) = gw
        .post_as(MASTER, "/key/generate", json!({"team_id": "missing"}))
        .await;
    assert_error(s, &v, 400, "Team not found for team_id=missing");
    gw.stop().await;
}

async fn members_are_added_updated_and_removed(db: &TestDb) {
    let gw = Gateway::start(db).await;
    gw.post("/team/new", json!({"team_id": "t"})).await;
    let v = gw.post("/team/member_add", json!({"team_id": "t", "member": [{"role": "user", "user_id": "m1"}, {"role": "admin", "user_email": "m2@example.com"}], "max_budget_in_team": 5})).await;
    assert_eq!(v["updated_users"].as_array().unwrap().len(), 2);
    assert_eq!(v["members_with_roles"].as_array().unwrap().len(), 2);
    let (s, v) = gw
        .post_as(
            MASTER,
            "/team/member_add",
            json!({"team_id": "t", "member": {"role": "user", "user_id": "m1"}}),
        )
        .await;
    assert_error(s, &v, 400, "already a member");
    let (s, v) = gw
        .post_as(
            MASTER,
            "/team/member_add",
            json!({"team_id": "t", "member": {"role": "owner", "user_id": "m3"}}),
        )
        .await;
    assert_error(s, &v, 400, "Invalid team role");
    let v = gw
        .post(
            "/team/member_update",
            json!({"team_id": "t", "user_id": "m1", "role": "admin", "max_budget_in_team": 7}),
        )
        .await;
    assert_eq!(v["role"], "admin");
    assert_eq!(v["max_budget_in_team"], 7.0);
    let v = gw
        .post(
            "/team/member_delete",
            json!({"team_id": "t", "user_email": "m2@example.com"}),
        )
        .await;
    assert_eq!(v["members_with_roles"].as_array().unwrap().len(), 1);
    let (s, v) = gw
        .post_as(
            MASTER,
            "/team/member_delete",
            json!({"team_id": "t", "user_id": "m2-none"}),
        )
        .await;
    assert_error(s, &v, 404, "not a member");
    // The user that was created shows its team.
    let u = gw.get("/user/info?user_id=m1").await;
    assert_eq!(u["teams"][0]["team_id"], "t");
    gw.stop().await;
}

async fn team_admins_manage_their_team_only(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let lead = gw.user("lead", "internal_user").await;
    let other = gw.user("other", "internal_user").await;
    gw.post(
        "/team/new",
        json!({"team_id": "mine", "members_with_roles": [{"role": "admin", "user_id": "lead"}]}),
    )
    .await;
    let (s, v) = gw
        .post_as(
            &lead,
            "/team/update",
            json!({"team_id": "mine", "team_alias": "Mine"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = gw
        .post_as(
            &lead,
            "/team/member_add",
            json!({"team_id": "mine", "member": {"role": "user", "user_id": "other"}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = gw
        .post_as(
            &other,
            "/team/update",
            json!({"team_id": "mine", "team_alias": "Hijack"}),
        )
        .await;
    assert_error(s, &v, 403, "Only proxy admins, admins of team mine");
    // A plain member may not create team keys unless the team allows it; the admin may.
    let (s, _) = gw
        .post_as(&other, "/key/generate", json!({"team_id": "mine"}))
        .await;
    assert_eq!(s, 403);
    let (s, v) = gw
        .post_as(&lead, "/key/generate", json!({"team_id": "mine"}))
        .await;
    assert_eq!(s, 200, "{v}");
    gw.post(
        "/team/update",
        json!({"team_id": "mine", "team_member_permissions": ["/key/generate"]}),
    )
    .await;
    let (s, v) = gw
        .post_as(&other, "/key/generate", json!({"team_id": "mine"}))
        .await;
    assert_eq!(s, 200, "{v}");
    // Non-members cannot read the team; members can.
    let outsider = gw.user("outsider", "internal_user").await;
    assert_eq!(gw.get_as(&outsider, "/team/info?team_id=mine").await.0, 403);
    assert_eq!(gw.get_as(&other, "/team/info?team_id=mine").await.0, 200);
    let (s, v) = gw.get_as(&other, "/team/list").await;
    assert_eq!(s, 200);
    assert_eq!(v.as_array().unwrap().len(), 1);
    gw.stop().await;
}

async fn blocking_a_team_blocks_its_keys(db: &TestDb) {
    let gw = Gateway::start(db).await;
    gw.post("/team/new", json!({"team_id": "b"})).await;
    let raw = gw.key(json!({"team_id": "b"})).await;
    assert_eq!(gw.get_as(&raw, "/key/info").await.0, 200);
    let v = gw.post("/team/block", json!({"team_id": "b"})).await;
    assert_eq!(v["blocked"], true);
    let (s, v) = gw.get_as(&raw, "/key/info").await;
    assert_error(s, &v, 401, "Team=b is blocked");
    gw.post("/team/unblock", json!({"team_id": "b"})).await;
    assert_eq!(gw.get_as(&raw, "/key/info").await.0, 200);
    gw.stop().await;
}

async fn deleting_a_team_archives_its_keys(db: &TestDb) {
    let gw = Gateway::start(db).await;
    gw.post(
        "/team/new",
        json!({"team_id": "doomed", "members_with_roles": [{"role": "user", "user_id": "x"}]}),
    )
    .await;
    let raw = gw
        .key(json!({"team_id": "doomed", "key_alias": "doomed-key"}))
        .await;
    let v = gw
        .post("/team/delete", json!({"team_ids": ["doomed"]}))
        .await;
    assert_eq!(v["deleted_teams"], json!(["doomed"]));
    assert_eq!(gw.get_as(&raw, "/key/info").await.0, 401);
    let info = gw.get(&format!("/key/info?key={raw}")).await;
    assert_eq!(info["info"]["status"], "deleted");
    assert_eq!(info["info"]["team_id"], "doomed");
    let (s, v) = gw
        .post_as(MASTER, "/team/delete", json!({"team_ids": ["doomed"]}))
        .await;
    assert_error(s, &v, 404, "Team not found");
    // The member's user survives, without the team.
    let u = gw.get("/user/info?user_id=x").await;
    assert_eq!(u["teams"], json!([]));
    gw.stop().await;
}

both!(
    team_crud,
    team_keys_must_fit_the_team,
    members_are_added_updated_and_removed,
    team_admins_manage_their_team_only,
    blocking_a_team_blocks_its_keys,
    deleting_a_team_archives_its_keys,
);
