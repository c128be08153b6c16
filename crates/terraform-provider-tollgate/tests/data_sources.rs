//! Data sources: each singular one by id and by alias, and the list forms.

use crate::harness::{terraform_available, Gateway, Tf};

const RESOURCES: &str = r#"
resource "tollgate_organization" "o" {
  organization_alias = "Acme"
}
resource "tollgate_team" "t" {
  team_alias      = "Engineering"
  organization_id = tollgate_organization.o.id
  max_budget      = 100
}
resource "tollgate_user" "u" {
  user_id    = "ann"
  user_email = "ann@example.com"
  user_role  = "internal_user"
}
resource "tollgate_team_member" "m" {
  team_id = tollgate_team.t.id
  user_id = tollgate_user.u.id
}
resource "tollgate_organization_member" "om" {
  organization_id = tollgate_organization.o.id
  user_id         = tollgate_user.u.id
}
resource "tollgate_key" "k" {
  key_alias = "svc"
  team_id   = tollgate_team.t.id
  user_id   = tollgate_user.u.id
}
resource "tollgate_budget" "b" {
  budget_id  = "gold"
  max_budget = 7
}
resource "tollgate_model" "m" {
  model_name = "demo"
  litellm_params {
    model = "mock/demo"
  }
}
resource "tollgate_customer" "c" {
  user_id = "cust"
  alias   = "Customer One"
}
"#;

const DATA: &str = r#"
data "tollgate_team" "by_id" { team_id = tollgate_team.t.id }
data "tollgate_team" "by_alias" {
  team_alias = "Engineering"
  depends_on = [tollgate_team.t]
}
data "tollgate_key" "by_id" { id = tollgate_key.k.id }
data "tollgate_key" "by_alias" {
  key_alias  = "svc"
  depends_on = [tollgate_key.k]
}
data "tollgate_user" "by_email" {
  user_email = "ann@example.com"
  depends_on = [tollgate_user.u]
}
data "tollgate_organization" "by_alias" {
  organization_alias = "Acme"
  depends_on         = [tollgate_organization.o]
}
data "tollgate_team_member" "m" {
  team_id    = tollgate_team.t.id
  user_id    = "ann"
  depends_on = [tollgate_team_member.m]
}
data "tollgate_organization_member" "m" {
  organization_id = tollgate_organization.o.id
  user_id         = "ann"
  depends_on      = [tollgate_organization_member.om]
}
data "tollgate_budget" "b" { budget_id = tollgate_budget.b.id }
data "tollgate_model" "by_name" {
  model_name = "demo"
  depends_on = [tollgate_model.m]
}
data "tollgate_customer" "by_alias" {
  alias      = "Customer One"
  depends_on = [tollgate_customer.c]
}
data "tollgate_keys" "team" {
  team_id    = tollgate_team.t.id
  depends_on = [tollgate_key.k]
}
data "tollgate_teams" "all" { depends_on = [tollgate_team.t] }
data "tollgate_users" "all" { depends_on = [tollgate_user.u] }
data "tollgate_models" "all" { depends_on = [tollgate_model.m] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_sources_find_by_id_and_alias_and_list() {
    if !terraform_available() {
        return;
    }
    let gw = Gateway::start(None).await;
    let tf = Tf::new(&gw);
    tf.config(&format!("{RESOURCES}\n{DATA}"));
    tf.apply().await;
    let team = tf.state("tollgate_team.t").await;
    for addr in ["data.tollgate_team.by_id", "data.tollgate_team.by_alias"] {
        let d = tf.state(addr).await;
        assert_eq!(d["team_id"], team["id"], "{addr}: {d}");
        assert_eq!(d["team_alias"], "Engineering");
        assert_eq!(d["max_budget"], 100.0);
    }
    let key = tf.state("tollgate_key.k").await;
    for addr in ["data.tollgate_key.by_id", "data.tollgate_key.by_alias"] {
        let d = tf.state(addr).await;
        assert_eq!(d["id"], key["id"], "{addr}: {d}");
        assert_eq!(d["team_id"], team["id"]);
    }
    assert_eq!(
        tf.state("data.tollgate_user.by_email").await["user_id"],
        "ann"
    );
    let org = tf.state("data.tollgate_organization.by_alias").await;
    assert_eq!(
        org["organization_id"],
        tf.state("tollgate_organization.o").await["id"]
    );
    assert_eq!(
        tf.state("data.tollgate_team_member.m").await["role"],
        "user"
    );
    assert_eq!(
        tf.state("data.tollgate_organization_member.m").await["role"],
        "internal_user"
    );
    assert_eq!(tf.state("data.tollgate_budget.b").await["max_budget"], 7.0);
    let model = tf.state("data.tollgate_model.by_name").await;
    assert_eq!(model["model_id"], tf.state("tollgate_model.m").await["id"]);
    assert_eq!(model["litellm_params"]["model"], "mock/demo");
    assert_eq!(
        tf.state("data.tollgate_customer.by_alias").await["user_id"],
        "cust"
    );
    let keys = tf.state("data.tollgate_keys.team").await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys["keys"][0]["key_alias"], "svc");
    let teams = tf.state("data.tollgate_teams.all").await;
    assert_eq!(teams["teams"][0]["team_alias"], "Engineering");
    let users = tf.state("data.tollgate_users.all").await;
    assert!(users["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["user_id"] == "ann"));
    let models = tf.state("data.tollgate_models.all").await;
    assert!(models["models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["model_name"] == "demo"));
    tf.plan().await.assert_empty();
    gw.stop().await;
}
