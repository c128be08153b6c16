//! List data sources: every key, team, user or model (optionally filtered).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value as Json};

use super::data_attrs;
use crate::client::Client;
use crate::engine::Object;
use crate::error::Result;
use crate::plugin::{DataRead, Val};
use crate::provider::Connection;
use crate::resources::{key, model, pick, team, user};
use crate::spec::{self, Attr, Mode, Ty};

#[derive(Clone, Copy)]
enum Kind {
    Keys,
    Teams,
    Users,
    Models,
}

struct List {
    kind: Kind,
    attrs: &'static [Attr],
    conn: Arc<Connection>,
}

/// Filters, then the result attribute (a list of the resource's readable attributes).
fn attrs(filters: &[&'static str], result: &'static str, item: &[Attr]) -> &'static [Attr] {
    let item = data_attrs(item, &[]);
    let mut out: Vec<Attr> = filters
        .iter()
        .map(|f| Attr::opt(f, Ty::Str, "Filter."))
        .collect();
    out.push(Attr::computed(
        result,
        Ty::Objects(item),
        "The objects found.",
    ));
    out.push(Attr::computed("id", Ty::Str, "Always `list`."));
    Box::leak(out.into_boxed_slice())
}

pub fn all(conn: &Arc<Connection>) -> Vec<(&'static str, Arc<dyn DataRead>)> {
    let make = |kind, attrs| -> Arc<dyn DataRead> {
        Arc::new(List {
            kind,
            attrs,
            conn: conn.clone(),
        })
    };
    vec![
        (
            "keys",
            make(
                Kind::Keys,
                attrs(&["team_id", "user_id"], "keys", key::Key::attrs()),
            ),
        ),
        (
            "teams",
            make(
                Kind::Teams,
                attrs(&["organization_id"], "teams", team::Team::attrs()),
            ),
        ),
        (
            "users",
            make(Kind::Users, attrs(&["role"], "users", user::User::attrs())),
        ),
        (
            "models",
            make(Kind::Models, attrs(&[], "models", model::Model::attrs())),
        ),
    ]
}

fn items(j: &Json, field: Option<&str>) -> Vec<Json> {
    let arr = field.map_or(Some(j), |f| j.get(f));
    arr.and_then(Json::as_array).cloned().unwrap_or_default()
}

/// Every page of a paginated list (`total_pages` in each answer).
async fn paged(
    api: &Client,
    path: &str,
    size_param: &str,
    mut query: Vec<(&str, String)>,
    field: &str,
) -> Result<Vec<Json>> {
    query.push((size_param, "100".to_owned()));
    let mut out = Vec::new();
    let mut page = 1u64;
    loop {
        let mut q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let p = page.to_string();
        q.push(("page", &p));
        let v = api.get(path, &q).await?;
        out.extend(items(&v, Some(field)));
        if page >= v["total_pages"].as_u64().unwrap_or(0) {
            return Ok(out);
        }
        page += 1;
    }
}

async fn fetch(kind: Kind, api: &Client, config: &Val) -> Result<Vec<Json>> {
    let filters = |names: &[&'static str]| -> Vec<(&'static str, String)> {
        names
            .iter()
            .filter_map(|n| config.str_of(n).map(|v| (*n, v)))
            .collect()
    };
    Ok(match kind {
        Kind::Keys => {
            let mut q = filters(&["team_id", "user_id"]);
            q.push(("return_full_object", "true".to_owned()));
            let keys = paged(api, "/key/list", "size", q, "keys").await?;
            keys.iter().map(|k| pick(k, "token", KEY_FIELDS)).collect()
        }
        Kind::Teams => {
            let q = filters(&["organization_id"]);
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let v = api.get("/team/list", &q).await?;
            items(&v, None).iter().map(team::team_view).collect()
        }
        Kind::Users => {
            let users = paged(api, "/user/list", "page_size", filters(&["role"]), "users").await?;
            users.iter().map(user::user_view).collect()
        }
        Kind::Models => {
            let v = api.get("/model/info", &[]).await?;
            items(&v, Some("data"))
                .iter()
                .map(|m| {
                    model::model_view(&json!({
                        "model_id": m["model_info"]["id"], "model_name": m["model_name"],
                        "litellm_params": m["litellm_params"], "model_info": {},
                    }))
                })
                .collect()
        }
    })
}

const KEY_FIELDS: &[&str] = &[
    "token",
    "spend",
    "expires",
    "key_alias",
    "team_id",
    "user_id",
    "models",
    "max_budget",
    "soft_budget",
    "budget_duration",
    "tpm_limit",
    "rpm_limit",
    "max_parallel_requests",
    "metadata",
    "tags",
    "blocked",
];

#[async_trait]
impl DataRead for List {
    fn description(&self) -> &'static str {
        match self.kind {
            Kind::Keys => "Every key, optionally of one team or user.",
            Kind::Teams => "Every team, optionally of one organization.",
            Kind::Users => "Every user, optionally with one role.",
            Kind::Models => "Every model deployment (config file and stored).",
        }
    }

    fn attrs(&self) -> &'static [Attr] {
        self.attrs
    }

    async fn read(&self, config: Val) -> Result<Val> {
        let api = self.conn.client()?;
        let found = fetch(self.kind, &api, &config).await?;
        let mut view = serde_json::Map::new();
        for a in self.attrs {
            match a.mode {
                Mode::Optional => {
                    view.insert(
                        a.name.into(),
                        config.str_of(a.name).map_or(Json::Null, Json::from),
                    );
                }
                _ if a.name == "id" => {
                    view.insert("id".into(), Json::from("list"));
                }
                _ => {
                    view.insert(a.name.into(), Json::Array(found.clone()));
                }
            }
        }
        Ok(spec::refresh(self.attrs, &Val::Null, &Json::Object(view)))
    }
}
