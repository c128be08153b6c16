//! The full lifecycle walk for every resource.

use serde_json::json;

use crate::walk::Walk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_lifecycle() {
    let key = |alias: &str, budget: f64| {
        format!(
            "resource \"tollgate_key\" \"k\" {{\n  key_alias = \"{alias}\"\n  max_budget = {budget}\n  models = [\"demo\"]\n  metadata = {{ env = \"test\" }}\n  tags = [\"a\"]\n  tpm_limit = 1000\n}}\n"
        )
    };
    Walk {
        addr: "tollgate_key.k",
        create: key("ci", 10.0),
        update: key("ci-renamed", 12.5),
        replace: None,
        probe: |id| ("POST", "/key/update".into(), Some(json!({"key": id}))),
        delete: |id| ("POST", "/key/delete".into(), Some(json!({"keys": [id]}))),
        change: |id| {
            (
                "POST",
                "/key/update".into(),
                Some(json!({"key": id, "max_budget": 99})),
            )
        },
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_lifecycle() {
    let team = |id: &str, alias: &str| {
        format!(
            "resource \"tollgate_team\" \"t\" {{\n  team_id = \"{id}\"\n  team_alias = \"{alias}\"\n  models = [\"demo\"]\n  max_budget = 100\n  rpm_limit = 60\n  metadata = {{ owner = \"platform\" }}\n}}\n"
        )
    };
    Walk {
        addr: "tollgate_team.t",
        create: team("eng", "Engineering"),
        update: team("eng", "Engineering 2"),
        replace: Some(team("eng2", "Engineering 2")),
        probe: |id| ("GET", format!("/team/info?team_id={id}"), None),
        delete: |id| {
            (
                "POST",
                "/team/delete".into(),
                Some(json!({"team_ids": [id]})),
            )
        },
        change: |id| {
            (
                "POST",
                "/team/update".into(),
                Some(json!({"team_id": id, "max_budget": 5})),
            )
        },
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_member_lifecycle() {
    let member = |user: &str, budget: u32| {
        format!(
            "resource \"tollgate_team\" \"t\" {{\n  team_id = \"eng\"\n}}\nresource \"tollgate_user\" \"a\" {{\n  user_id = \"ann\"\n}}\nresource \"tollgate_user\" \"b\" {{\n  user_id = \"bob\"\n}}\n\
             resource \"tollgate_team_member\" \"m\" {{\n  team_id = tollgate_team.t.team_id\n  user_id = tollgate_user.{user}.user_id\n  role = \"user\"\n  max_budget_in_team = {budget}\n}}\n"
        )
    };
    Walk {
        addr: "tollgate_team_member.m",
        create: member("a", 10),
        update: member("a", 20),
        replace: Some(member("b", 20)),
        probe: |id| {
            let (t, u) = id.split_once(':').unwrap();
            (
                "POST",
                "/team/member_update".into(),
                Some(json!({"team_id": t, "user_id": u})),
            )
        },
        delete: |id| {
            let (t, u) = id.split_once(':').unwrap();
            (
                "POST",
                "/team/member_delete".into(),
                Some(json!({"team_id": t, "user_id": u})),
            )
        },
        change: |id| {
            let (t, u) = id.split_once(':').unwrap();
            (
                "POST",
                "/team/member_update".into(),
                Some(json!({"team_id": t, "user_id": u, "role": "admin"})),
            )
        },
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_lifecycle() {
    let user = |id: &str, alias: &str| {
        format!(
            "resource \"tollgate_user\" \"u\" {{\n  user_id = \"{id}\"\n  user_email = \"{id}@example.com\"\n  user_alias = \"{alias}\"\n  max_budget = 20\n  models = [\"demo\"]\n}}\n"
        )
    };
    Walk {
        addr: "tollgate_user.u",
        create: user("ann", "Ann"),
        update: user("ann", "Annie"),
        replace: Some(user("bob", "Annie")),
        probe: |id| ("GET", format!("/v2/user/info?user_id={id}"), None),
        delete: |id| {
            (
                "POST",
                "/user/delete".into(),
                Some(json!({"user_ids": [id]})),
            )
        },
        change: |id| {
            (
                "POST",
                "/user/update".into(),
                Some(json!({"user_id": id, "max_budget": 1})),
            )
        },
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_lifecycle() {
    let org = |id: &str, alias: &str| {
        format!(
            "resource \"tollgate_organization\" \"o\" {{\n  organization_id = \"{id}\"\n  organization_alias = \"{alias}\"\n  max_budget = 1000\n  models = [\"demo\"]\n  metadata = {{ cost_center = \"42\" }}\n}}\n"
        )
    };
    Walk {
        addr: "tollgate_organization.o",
        create: org("acme", "Acme"),
        update: org("acme", "Acme Inc"),
        replace: Some(org("acme2", "Acme Inc")),
        probe: |id| {
            (
                "GET",
                format!("/organization/info?organization_id={id}"),
                None,
            )
        },
        delete: |id| {
            (
                "DELETE",
                "/organization/delete".into(),
                Some(json!({"organization_ids": [id]})),
            )
        },
        change: |id| {
            (
                "PATCH",
                "/organization/update".into(),
                Some(json!({"organization_id": id, "max_budget": 5})),
            )
        },
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_member_lifecycle() {
    let member = |user: &str, role: &str| {
        format!(
            "resource \"tollgate_organization\" \"o\" {{\n  organization_id = \"acme\"\n  organization_alias = \"Acme\"\n}}\nresource \"tollgate_user\" \"a\" {{\n  user_id = \"ann\"\n}}\nresource \"tollgate_user\" \"b\" {{\n  user_id = \"bob\"\n}}\n\
             resource \"tollgate_organization_member\" \"m\" {{\n  organization_id = tollgate_organization.o.organization_id\n  user_id = tollgate_user.{user}.user_id\n  role = \"{role}\"\n}}\n"
        )
    };
    Walk {
        addr: "tollgate_organization_member.m",
        create: member("a", "internal_user"),
        update: member("a", "org_admin"),
        replace: Some(member("b", "org_admin")),
        probe: |id| {
            let (o, u) = id.split_once(':').unwrap();
            (
                "PATCH",
                "/organization/member_update".into(),
                Some(json!({"organization_id": o, "user_id": u})),
            )
        },
        delete: |id| {
            let (o, u) = id.split_once(':').unwrap();
            (
                "DELETE",
                "/organization/member_delete".into(),
                Some(json!({"organization_id": o, "user_id": u})),
            )
        },
        change: |id| {
            let (o, u) = id.split_once(':').unwrap();
            (
                "PATCH",
                "/organization/member_update".into(),
                Some(json!({"organization_id": o, "user_id": u, "role": "internal_user_viewer"})),
            )
        },
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_lifecycle() {
    let budget = |id: &str, max: u32| {
        format!(
            "resource \"tollgate_budget\" \"b\" {{\n  budget_id = \"{id}\"\n  max_budget = {max}\n  budget_duration = \"30d\"\n  rpm_limit = 10\n}}\n"
        )
    };
    Walk {
        addr: "tollgate_budget.b",
        create: budget("gold", 100),
        update: budget("gold", 200),
        replace: Some(budget("platinum", 200)),
        probe: |id| {
            (
                "POST",
                "/budget/info".into(),
                Some(json!({"budgets": [id]})),
            )
        },
        delete: |id| ("POST", "/budget/delete".into(), Some(json!({"id": id}))),
        change: |id| {
            (
                "POST",
                "/budget/update".into(),
                Some(json!({"budget_id": id, "max_budget": 1})),
            )
        },
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_lifecycle() {
    let model = |name: &str, rpm: u32| {
        format!(
            "resource \"tollgate_model\" \"m\" {{\n  model_name = \"{name}\"\n  litellm_params {{\n    model = \"mock/demo\"\n    rpm = {rpm}\n    input_cost_per_token = 0.000001\n  }}\n  model_info = {{ mode = \"chat\" }}\n}}\n"
        )
    };
    Walk {
        addr: "tollgate_model.m",
        create: model("demo", 10),
        update: model("demo-2", 20),
        replace: None,
        probe: |id| ("GET", format!("/model/{id}/info"), None),
        delete: |id| ("POST", "/model/delete".into(), Some(json!({"id": id}))),
        change: |id| {
            (
                "PATCH",
                format!("/model/{id}/update"),
                Some(json!({"model_name": "renamed"})),
            )
        },
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_lifecycle() {
    let customer = |id: &str, alias: &str| {
        format!(
            "resource \"tollgate_customer\" \"c\" {{\n  user_id = \"{id}\"\n  alias = \"{alias}\"\n  max_budget = 5\n  rpm_limit = 3\n}}\n"
        )
    };
    Walk {
        addr: "tollgate_customer.c",
        create: customer("cust-1", "One"),
        update: customer("cust-1", "Uno"),
        replace: Some(customer("cust-2", "Uno")),
        probe: |id| ("GET", format!("/customer/info?end_user_id={id}"), None),
        delete: |id| {
            (
                "POST",
                "/customer/delete".into(),
                Some(json!({"user_ids": [id]})),
            )
        },
        change: |id| {
            (
                "POST",
                "/customer/update".into(),
                Some(json!({"user_id": id, "alias": "other"})),
            )
        },
    }
    .run()
    .await;
}
