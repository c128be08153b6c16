//! The provider: its arguments (`api_base`, `api_key`, with environment fallbacks), the shared
//! connection handed to every resource, and the table of resources and data sources.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use crate::client::Client;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::plugin::{DataRead, ManagedResource, ProviderSpec, Val};
use crate::spec::{Attr, Ty};
use crate::{data, resources};

/// The gateway connection, set once the provider is configured. Resources hold it from the
/// start (they exist before configuration).
#[derive(Debug, Default)]
pub struct Connection {
    client: OnceLock<Client>,
}

impl Connection {
    pub fn client(&self) -> Result<Client> {
        self.client
            .get()
            .cloned()
            .ok_or_else(|| Error::Config("the provider was used before it was configured".into()))
    }
}

const ATTRS: &[Attr] = &[
    Attr::opt(
        "api_base",
        Ty::Str,
        "Gateway URL, e.g. `http://127.0.0.1:4000`. Default: `TOLLGATE_API_BASE`, then `LITELLM_API_BASE`.",
    ),
    Attr::opt(
        "api_key",
        Ty::Str,
        "Admin key (the master key or a proxy-admin key). Default: `TOLLGATE_API_KEY`, then `LITELLM_API_KEY`.",
    )
    .sensitive(),
];

/// The Tollgate provider.
#[derive(Default)]
pub struct Tollgate {
    conn: Arc<Connection>,
}

/// The first non-empty value among the argument and the environment variables.
pub fn setting(
    given: Option<String>,
    vars: &[&str],
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    given
        .into_iter()
        .chain(vars.iter().filter_map(|v| env(v)))
        .find(|v| !v.trim().is_empty())
}

#[async_trait]
impl ProviderSpec for Tollgate {
    fn attrs(&self) -> &'static [Attr] {
        ATTRS
    }

    async fn configure(&self, config: Val) -> Result<()> {
        let env = |name: &str| std::env::var(name).ok();
        let base = setting(
            config.str_of("api_base"),
            &["TOLLGATE_API_BASE", "LITELLM_API_BASE"],
            &env,
        )
        .ok_or_else(|| {
            Error::Config("set api_base (or TOLLGATE_API_BASE / LITELLM_API_BASE)".into())
        })?;
        let key = setting(
            config.str_of("api_key"),
            &["TOLLGATE_API_KEY", "LITELLM_API_KEY"],
            &env,
        );
        let client = Client::new(&base, key)?;
        client.check().await?;
        // Configured twice in one process only by a confused caller; the first one stays.
        let _ = self.conn.client.set(client);
        Ok(())
    }

    fn resources(&self) -> Vec<(&'static str, Arc<dyn ManagedResource>)> {
        let c = || self.conn.clone();
        vec![
            ("key", Arc::new(Engine::<resources::key::Key>::new(c()))),
            ("team", Arc::new(Engine::<resources::team::Team>::new(c()))),
            (
                "team_member",
                Arc::new(Engine::<resources::team::TeamMember>::new(c())),
            ),
            ("user", Arc::new(Engine::<resources::user::User>::new(c()))),
            (
                "organization",
                Arc::new(Engine::<resources::org::Org>::new(c())),
            ),
            (
                "organization_member",
                Arc::new(Engine::<resources::org::OrgMember>::new(c())),
            ),
            (
                "budget",
                Arc::new(Engine::<resources::budget::Budget>::new(c())),
            ),
            (
                "model",
                Arc::new(Engine::<resources::model::Model>::new(c())),
            ),
            (
                "customer",
                Arc::new(Engine::<resources::customer::Customer>::new(c())),
            ),
        ]
    }

    fn data_sources(&self) -> Vec<(&'static str, Arc<dyn DataRead>)> {
        data::all(&self.conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_then_tollgate_then_litellm_environment() {
        let env = |name: &str| match name {
            "TOLLGATE_API_BASE" => Some("http://t".to_owned()),
            "LITELLM_API_BASE" => Some("http://l".to_owned()),
            "LITELLM_API_KEY" => Some("sk-l".to_owned()),
            _ => None,
        };
        let vars = ["TOLLGATE_API_BASE", "LITELLM_API_BASE"];
        assert_eq!(
            setting(Some("http://a".into()), &vars, &env).as_deref(),
            Some("http://a")
        );
        assert_eq!(setting(None, &vars, &env).as_deref(), Some("http://t"));
        assert_eq!(
            setting(Some(String::new()), &["LITELLM_API_BASE"], &env).as_deref(),
            Some("http://l")
        );
        let keys = ["TOLLGATE_API_KEY", "LITELLM_API_KEY"];
        assert_eq!(setting(None, &keys, &env).as_deref(), Some("sk-l"));
        assert_eq!(setting(None, &["NOTHING"], &env), None);
    }

    /// Every resource and data source has a page under docs/terraform naming each attribute.
    #[test]
    fn docs_cover_every_attribute() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/terraform");
        let p = Tollgate::default();
        let pages = p
            .resources()
            .into_iter()
            .map(|(n, r)| (format!("resource_{n}.md"), r.attrs()))
            .chain(
                p.data_sources()
                    .into_iter()
                    .map(|(n, d)| (format!("data_{n}.md"), d.attrs())),
            );
        for (page, attrs) in pages {
            let text =
                std::fs::read_to_string(docs.join(&page)).unwrap_or_else(|e| panic!("{page}: {e}"));
            for a in attrs {
                assert!(
                    text.contains(&format!("`{}`", a.name)),
                    "{page} lacks {}",
                    a.name
                );
                if let crate::spec::Ty::Block(inner) = a.ty {
                    for i in inner {
                        assert!(
                            text.contains(&format!("`{}`", i.name)),
                            "{page} lacks {}",
                            i.name
                        );
                    }
                }
            }
            assert!(text.contains("## Example"), "{page} has no example");
        }
    }
}
