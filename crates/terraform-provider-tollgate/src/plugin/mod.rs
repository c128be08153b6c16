//! The only module that knows the plugin-protocol crate (`tf-provider`). Everything else talks
//! in [`Val`] values, our [`Attr`] specs and our error type, so the protocol implementation can
//! be swapped (a fork, or our own tonic server) by rewriting this module alone.

mod value;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tf_provider::schema::{
    Attribute, AttributeConstraint, AttributeType, Block, Description, NestedBlock, Schema,
};
use tf_provider::{
    AttributePath, DataSource, Diagnostics, DynamicDataSource, DynamicResource, Provider, Resource,
};

pub use value::Val;

use crate::error::{Error, Result};
use crate::spec::{Attr, Mode, Ty};

/// A managed resource, in our terms.
#[async_trait]
pub trait ManagedResource: Send + Sync {
    fn description(&self) -> &'static str;
    fn attrs(&self) -> &'static [Attr];
    /// `None`: the object is gone and leaves the state.
    async fn read(&self, state: Val) -> Result<Option<Val>>;
    async fn plan_create(&self, proposed: Val) -> Result<Val>;
    /// The planned state and the attributes whose change replaces the object.
    async fn plan_update(&self, prior: Val, proposed: Val) -> Result<(Val, Vec<&'static str>)>;
    async fn create(&self, planned: Val) -> Result<Val>;
    /// The new state, and a warning to show the user, if any.
    async fn update(&self, prior: Val, planned: Val) -> Result<(Val, Option<String>)>;
    async fn destroy(&self, prior: Val) -> Result<()>;
    async fn import(&self, id: String) -> Result<Val>;
}

/// A data source, in our terms.
#[async_trait]
pub trait DataRead: Send + Sync {
    fn description(&self) -> &'static str;
    /// The attributes; `Optional` ones are the lookup arguments, the rest computed.
    fn attrs(&self) -> &'static [Attr];
    async fn read(&self, config: Val) -> Result<Val>;
}

/// The provider, in our terms.
#[async_trait]
pub trait ProviderSpec: Send + Sync + 'static {
    fn attrs(&self) -> &'static [Attr];
    async fn configure(&self, config: Val) -> Result<()>;
    fn resources(&self) -> Vec<(&'static str, Arc<dyn ManagedResource>)>;
    fn data_sources(&self) -> Vec<(&'static str, Arc<dyn DataRead>)>;
}

/// Runs the plugin server for `provider` (prints the handshake line, serves until stopped).
pub async fn serve(name: &str, provider: impl ProviderSpec) -> anyhow::Result<()> {
    tf_provider::serve(name, ProviderAdapter(Arc::new(provider))).await
}

fn tf_type(ty: Ty) -> AttributeType {
    match ty {
        Ty::Str => AttributeType::String,
        Ty::Int | Ty::Float => AttributeType::Number,
        Ty::Bool => AttributeType::Bool,
        Ty::StrList => AttributeType::List(Box::new(AttributeType::String)),
        Ty::StrMap => AttributeType::Map(Box::new(AttributeType::String)),
        Ty::Block(attrs) => AttributeType::Object(
            attrs
                .iter()
                .map(|a| (a.name.to_owned(), tf_type(a.ty)))
                .collect(),
        ),
        Ty::Objects(attrs) => AttributeType::List(Box::new(tf_type(Ty::Block(attrs)))),
    }
}

fn attribute(a: &Attr, lookup: bool) -> Attribute {
    let constraint = match (lookup, a.mode) {
        // A data source's arguments may also be filled in from what it finds.
        (true, Mode::Optional) => AttributeConstraint::OptionalComputed,
        (true, Mode::Required) => AttributeConstraint::Required,
        (true, _) | (_, Mode::Computed) => AttributeConstraint::Computed,
        (_, Mode::Required) => AttributeConstraint::Required,
        (_, Mode::Optional) => AttributeConstraint::Optional,
        (_, Mode::OptionalComputed) => AttributeConstraint::OptionalComputed,
    };
    Attribute {
        attr_type: tf_type(a.ty),
        description: Description::markdown(a.doc),
        constraint,
        sensitive: a.sensitive,
        deprecated: false,
    }
}

/// A schema block. `lookup`: data-source mode, where `Optional` attributes are the arguments
/// and everything else (blocks included) is a computed attribute.
fn block(attrs: &[Attr], description: &str, lookup: bool) -> Block {
    let mut attributes = HashMap::new();
    let mut blocks = HashMap::new();
    for a in attrs {
        match a.ty {
            Ty::Block(inner) if !lookup => {
                blocks.insert(
                    a.name.to_owned(),
                    NestedBlock::Single(block(inner, a.doc, false)),
                );
            }
            _ => {
                attributes.insert(a.name.to_owned(), attribute(a, lookup));
            }
        }
    }
    Block {
        version: 1,
        attributes,
        blocks,
        description: Description::markdown(description),
        deprecated: false,
    }
}

fn schema(attrs: &[Attr], description: &str, lookup: bool) -> Schema {
    Schema {
        version: 0,
        block: block(attrs, description, lookup),
    }
}

fn report<T>(diags: &mut Diagnostics, r: Result<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            diags.root_error(summary(&e), e.to_string());
            None
        }
    }
}

fn summary(e: &Error) -> &'static str {
    match e {
        Error::Api { .. } => "The gateway refused the request",
        Error::Gone(_) => "Object not found",
        Error::Transport { .. } => "Cannot reach the gateway",
        Error::Config(_) => "Provider configuration",
        Error::Invalid(_) => "Invalid value",
        Error::Unexpected(_) => "Unexpected answer from the gateway",
    }
}

struct ResourceAdapter(Arc<dyn ManagedResource>);

#[async_trait]
impl Resource for ResourceAdapter {
    type State<'a> = Val;
    type PrivateState<'a> = Val;
    type ProviderMetaState<'a> = Val;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(schema(self.0.attrs(), self.0.description(), false))
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        state: Val,
        private: Val,
        _meta: Val,
    ) -> Option<(Val, Val)> {
        let new = report(diags, self.0.read(state).await)??;
        Some((new, private))
    }

    async fn plan_create<'a>(
        &self,
        diags: &mut Diagnostics,
        proposed: Val,
        _config: Val,
        _meta: Val,
    ) -> Option<(Val, Val)> {
        let planned = report(diags, self.0.plan_create(proposed).await)?;
        Some((planned, Val::Null))
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Val,
        proposed: Val,
        _config: Val,
        prior_private: Val,
        _meta: Val,
    ) -> Option<(Val, Val, Vec<AttributePath>)> {
        let (planned, replace) = report(diags, self.0.plan_update(prior, proposed).await)?;
        let paths = replace.into_iter().map(AttributePath::new).collect();
        Some((planned, prior_private, paths))
    }

    async fn plan_destroy<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior: Val,
        prior_private: Val,
        _meta: Val,
    ) -> Option<Val> {
        Some(prior_private)
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned: Val,
        _config: Val,
        _private: Val,
        _meta: Val,
    ) -> Option<(Val, Val)> {
        let state = report(diags, self.0.create(planned).await)?;
        Some((state, Val::Null))
    }

    async fn update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Val,
        planned: Val,
        _config: Val,
        private: Val,
        _meta: Val,
    ) -> Option<(Val, Val)> {
        let (state, warning) = report(diags, self.0.update(prior, planned).await)?;
        if let Some(w) = warning {
            diags.root_warning("Object re-created", w);
        }
        Some((state, private))
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior: Val,
        _private: Val,
        _meta: Val,
    ) -> Option<()> {
        report(diags, self.0.destroy(prior).await)
    }

    async fn import<'a>(&self, diags: &mut Diagnostics, id: String) -> Option<(Val, Val)> {
        let state = report(diags, self.0.import(id).await)?;
        Some((state, Val::Null))
    }
}

struct DataAdapter(Arc<dyn DataRead>);

#[async_trait]
impl DataSource for DataAdapter {
    type State<'a> = Val;
    type ProviderMetaState<'a> = Val;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(schema(self.0.attrs(), self.0.description(), true))
    }

    async fn read<'a>(&self, diags: &mut Diagnostics, config: Val, _meta: Val) -> Option<Val> {
        report(diags, self.0.read(config).await)
    }
}

struct ProviderAdapter<P>(Arc<P>);

#[async_trait]
impl<P: ProviderSpec> Provider for ProviderAdapter<P> {
    type Config<'a> = Val;
    type MetaState<'a> = Val;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(schema(self.0.attrs(), "Tollgate gateway connection", false))
    }

    async fn configure<'a>(
        &self,
        diags: &mut Diagnostics,
        _version: String,
        config: Val,
    ) -> Option<()> {
        report(diags, self.0.configure(config).await)
    }

    fn get_resources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicResource>>> {
        Some(
            self.0
                .resources()
                .into_iter()
                .map(|(n, r)| {
                    let b: Box<dyn DynamicResource> = Box::new(ResourceAdapter(r));
                    (n.to_owned(), b)
                })
                .collect(),
        )
    }

    fn get_data_sources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicDataSource>>> {
        Some(
            self.0
                .data_sources()
                .into_iter()
                .map(|(n, d)| {
                    let b: Box<dyn DynamicDataSource> = Box::new(DataAdapter(d));
                    (n.to_owned(), b)
                })
                .collect(),
        )
    }
}
