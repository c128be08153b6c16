//! Singular data sources: each finds one object by its id or its alias and reads it as the
//! resource does.

use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value as Json;

use super::data_attrs;
use crate::client::Client;
use crate::engine::Object;
use crate::error::{Error, Result};
use crate::plugin::{DataRead, Val};
use crate::provider::Connection;
use crate::resources::{budget, customer, key, model, org, team, user};
use crate::spec::{self, Attr};

/// Which object a data source finds, and by what.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup {
    Key,
    Team,
    TeamMember,
    User,
    Org,
    OrgMember,
    Budget,
    Model,
    Customer,
}

impl Lookup {
    pub const ALL: [Lookup; 9] = [
        Lookup::Key,
        Lookup::Team,
        Lookup::TeamMember,
        Lookup::User,
        Lookup::Org,
        Lookup::OrgMember,
        Lookup::Budget,
        Lookup::Model,
        Lookup::Customer,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Lookup::Key => "key",
            Lookup::Team => "team",
            Lookup::TeamMember => "team_member",
            Lookup::User => "user",
            Lookup::Org => "organization",
            Lookup::OrgMember => "organization_member",
            Lookup::Budget => "budget",
            Lookup::Model => "model",
            Lookup::Customer => "customer",
        }
    }

    /// The arguments: the first that is set decides.
    fn args(self) -> &'static [&'static str] {
        match self {
            Lookup::Key => &["id", "key_alias"],
            Lookup::Team => &["team_id", "team_alias"],
            Lookup::TeamMember => &["team_id", "user_id"],
            Lookup::User => &["user_id", "user_email"],
            Lookup::Org => &["organization_id", "organization_alias"],
            Lookup::OrgMember => &["organization_id", "user_id"],
            Lookup::Budget => &["budget_id"],
            Lookup::Model => &["model_id", "model_name"],
            Lookup::Customer => &["user_id", "alias"],
        }
    }
}

pub fn source(l: Lookup, conn: Arc<Connection>) -> Arc<dyn DataRead> {
    match l {
        Lookup::Key => Single::<key::Key>::shared(l, conn),
        Lookup::Team => Single::<team::Team>::shared(l, conn),
        Lookup::TeamMember => Single::<team::TeamMember>::shared(l, conn),
        Lookup::User => Single::<user::User>::shared(l, conn),
        Lookup::Org => Single::<org::Org>::shared(l, conn),
        Lookup::OrgMember => Single::<org::OrgMember>::shared(l, conn),
        Lookup::Budget => Single::<budget::Budget>::shared(l, conn),
        Lookup::Model => Single::<model::Model>::shared(l, conn),
        Lookup::Customer => Single::<customer::Customer>::shared(l, conn),
    }
}

struct Single<O> {
    lookup: Lookup,
    attrs: &'static [Attr],
    conn: Arc<Connection>,
    _o: PhantomData<fn() -> O>,
}

impl<O: Object> Single<O> {
    fn shared(lookup: Lookup, conn: Arc<Connection>) -> Arc<dyn DataRead> {
        Arc::new(Single::<O> {
            lookup,
            attrs: data_attrs(O::attrs(), lookup.args()),
            conn,
            _o: PhantomData,
        })
    }
}

fn text<'a>(j: &'a Json, field: &str) -> Option<&'a str> {
    j.get(field).and_then(Json::as_str)
}

/// The one object in `items` whose `field` equals `wanted`, by its `id_field`.
fn exact(items: &[Json], field: &str, wanted: &str, id_field: &str) -> Result<String> {
    let found: Vec<&Json> = items
        .iter()
        .filter(|i| text(i, field) == Some(wanted))
        .collect();
    match found.as_slice() {
        [one] => text(one, id_field)
            .map(str::to_owned)
            .ok_or_else(|| Error::Unexpected(format!("no {id_field} in {one}"))),
        [] => Err(Error::Invalid(format!(
            "no object has {field} = \"{wanted}\""
        ))),
        _ => Err(Error::Invalid(format!(
            "{} objects have {field} = \"{wanted}\"; look it up by id",
            found.len()
        ))),
    }
}

fn array(j: &Json, field: Option<&str>) -> Vec<Json> {
    let arr = match field {
        Some(f) => j.get(f),
        None => Some(j),
    };
    arr.and_then(Json::as_array).cloned().unwrap_or_default()
}

/// The id to read, from the first argument given.
async fn find_id(l: Lookup, api: &Client, config: &Val) -> Result<String> {
    let args = l.args();
    let given = |i: usize| config.str_of(args[i]);
    let need =
        |i: usize| given(i).ok_or_else(|| Error::Invalid(format!("set {}", args.join(" or "))));
    match l {
        Lookup::TeamMember | Lookup::OrgMember => Ok(format!("{}:{}", need(0)?, need(1)?)),
        Lookup::Budget => need(0),
        _ if given(0).is_some() => need(0),
        Lookup::Key => {
            let alias = need(1)?;
            let v = api
                .get(
                    "/key/list",
                    &[
                        ("key_alias", alias.as_str()),
                        ("return_full_object", "true"),
                    ],
                )
                .await?;
            exact(&array(&v, Some("keys")), "key_alias", &alias, "token")
        }
        Lookup::Team => {
            let alias = need(1)?;
            let v = api
                .get("/team/list", &[("team_alias", alias.as_str())])
                .await?;
            exact(&array(&v, None), "team_alias", &alias, "team_id")
        }
        Lookup::User => {
            let email = need(1)?;
            let v = api
                .get("/user/list", &[("user_email", email.as_str())])
                .await?;
            exact(&array(&v, Some("users")), "user_email", &email, "user_id")
        }
        Lookup::Org => {
            let alias = need(1)?;
            let v = api
                .get("/organization/list", &[("org_alias", alias.as_str())])
                .await?;
            exact(
                &array(&v, None),
                "organization_alias",
                &alias,
                "organization_id",
            )
        }
        Lookup::Model => {
            let name = need(1)?;
            let v = api.get("/model/info", &[]).await?;
            let stored: Vec<Json> = array(&v, Some("data"))
                .into_iter()
                .filter(|m| m["model_info"]["db_model"] == Json::Bool(true))
                .map(|m| serde_json::json!({"model_name": m["model_name"], "id": m["model_info"]["id"]}))
                .collect();
            exact(&stored, "model_name", &name, "id")
        }
        Lookup::Customer => {
            let alias = need(1)?;
            let v = api.get("/customer/list", &[]).await?;
            exact(&array(&v, None), "alias", &alias, "user_id")
        }
    }
}

#[async_trait]
impl<O: Object> DataRead for Single<O> {
    fn description(&self) -> &'static str {
        O::DESCRIPTION
    }

    fn attrs(&self) -> &'static [Attr] {
        self.attrs
    }

    async fn read(&self, config: Val) -> Result<Val> {
        let api = self.conn.client()?;
        let id = find_id(self.lookup, &api, &config).await?;
        let view = O::read(&api, &id).await.map_err(|e| {
            if e.is_gone() {
                Error::Invalid(format!("{} {id} does not exist", self.lookup.name()))
            } else {
                e
            }
        })?;
        Ok(spec::refresh(self.attrs, &Val::Null, &view))
    }
}
