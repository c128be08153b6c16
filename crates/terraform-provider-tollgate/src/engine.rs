//! The lifecycle every resource shares: plan (unknowns, replacements), create and update with a
//! read-back, read with drift detection ("gone" leaves the state), idempotent delete, import.
//! A resource supplies only its attributes and its calls to the gateway ([`Object`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value as Json};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::plugin::{ManagedResource, Val};
use crate::provider::Connection;
use crate::spec::{self, Attr, Mode};

/// How long a read right after a write may keep answering "not found" before we give up.
const READ_AFTER_WRITE: Duration = Duration::from_secs(5);

/// One kind of gateway object.
#[async_trait]
pub trait Object: Send + Sync + 'static {
    const DESCRIPTION: &'static str;
    /// Every attribute, `id` included.
    fn attrs() -> &'static [Attr];
    /// Creates the object from the request fields; answers a view with at least `id`.
    async fn create(api: &Client, planned: &Val, body: Map<String, Json>) -> Result<Json>;
    /// The object's view (attribute names as keys, `id` included); `Err(gone)` when missing.
    async fn read(api: &Client, id: &str) -> Result<Json>;
    /// Applies the changed fields; answers a view with at least `id`.
    async fn update(
        api: &Client,
        prior: &Val,
        planned: &Val,
        changes: Map<String, Json>,
    ) -> Result<Update>;
    async fn delete(api: &Client, state: &Val) -> Result<()>;
    /// Marks attributes unknown that an update will change (beyond what the user changed).
    fn plan_update(_prior: &Val, _planned: &mut BTreeMap<String, Val>) {}
    /// Checks the gateway when a plan finds no change: lets an object that vanished during this
    /// apply (deleted with an object it depended on) plan its re-creation.
    async fn recheck(
        _api: &Client,
        _prior: &Val,
        _planned: &mut BTreeMap<String, Val>,
    ) -> Result<()> {
        Ok(())
    }
    /// Marks attributes unknown on create beyond the computed ones.
    fn plan_create(_planned: &mut BTreeMap<String, Val>) {}
}

/// What an update did.
pub struct Update {
    pub view: Json,
    /// Shown to the user as a warning (e.g. the object had to be re-created).
    pub warning: Option<String>,
}

impl Update {
    pub fn plain(view: Json) -> Update {
        Update {
            view,
            warning: None,
        }
    }
}

/// The [`ManagedResource`] of an [`Object`].
pub struct Engine<O> {
    conn: Arc<Connection>,
    _object: std::marker::PhantomData<fn() -> O>,
}

impl<O: Object> Engine<O> {
    pub fn new(conn: Arc<Connection>) -> Engine<O> {
        Engine {
            conn,
            _object: std::marker::PhantomData,
        }
    }
}

fn map_of(v: Val) -> BTreeMap<String, Val> {
    match v {
        Val::Map(m) => m,
        _ => BTreeMap::new(),
    }
}

fn id_of(state: &Val) -> Result<String> {
    state
        .str_of("id")
        .ok_or_else(|| Error::Invalid("the state has no id".into()))
}

/// Reads an object that was just written, waiting a bounded time for it to show up.
pub async fn read_fresh<O: Object>(api: &Client, id: &str) -> Result<Json> {
    let start = std::time::Instant::now();
    let mut wait = Duration::from_millis(100);
    loop {
        match O::read(api, id).await {
            Err(e) if e.is_gone() && start.elapsed() < READ_AFTER_WRITE => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

/// The view read back after a write, plus what only the write's answer carries.
async fn view_after_write<O: Object>(api: &Client, written: Json) -> Result<Json> {
    let id = written
        .get("id")
        .and_then(Json::as_str)
        .ok_or_else(|| Error::Unexpected(format!("no id in {written}")))?
        .to_owned();
    let mut view = read_fresh::<O>(api, &id).await?;
    if let (Json::Object(v), Json::Object(w)) = (&mut view, written) {
        for (k, val) in w {
            v.entry(k).or_insert(val);
        }
    }
    Ok(view)
}

#[async_trait]
impl<O: Object> ManagedResource for Engine<O> {
    fn description(&self) -> &'static str {
        O::DESCRIPTION
    }

    fn attrs(&self) -> &'static [Attr] {
        O::attrs()
    }

    async fn read(&self, state: Val) -> Result<Option<Val>> {
        let api = self.conn.client()?;
        match O::read(&api, &id_of(&state)?).await {
            Ok(view) => Ok(Some(spec::refresh(O::attrs(), &state, &view))),
            Err(e) if e.is_gone() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn plan_create(&self, proposed: Val) -> Result<Val> {
        let mut planned = map_of(proposed);
        for a in O::attrs() {
            let unset = planned.get(a.name).is_none_or(Val::is_null);
            if a.mode == Mode::Computed || (a.mode == Mode::OptionalComputed && unset) {
                planned.insert(a.name.to_owned(), Val::Unknown);
            }
        }
        O::plan_create(&mut planned);
        Ok(Val::Map(planned))
    }

    async fn plan_update(&self, prior: Val, proposed: Val) -> Result<(Val, Vec<&'static str>)> {
        let replace: Vec<&'static str> = O::attrs()
            .iter()
            .filter(|a| a.force_new && prior.get(a.name) != proposed.get(a.name))
            .map(|a| a.name)
            .collect();
        let mut planned = map_of(proposed);
        let changed = O::attrs().iter().any(|a| {
            a.mode != Mode::Computed
                && prior.get(a.name) != planned.get(a.name).unwrap_or(&Val::Null)
        });
        if changed && replace.is_empty() {
            O::plan_update(&prior, &mut planned);
        } else if replace.is_empty() {
            O::recheck(&self.conn.client()?, &prior, &mut planned).await?;
        }
        Ok((Val::Map(planned), replace))
    }

    async fn create(&self, planned: Val) -> Result<Val> {
        let api = self.conn.client()?;
        let body = spec::body(O::attrs(), &planned);
        let written = O::create(&api, &planned, body).await?;
        let view = view_after_write::<O>(&api, written).await?;
        Ok(spec::settle(O::attrs(), &planned, &view))
    }

    async fn update(&self, prior: Val, planned: Val) -> Result<(Val, Option<String>)> {
        let api = self.conn.client()?;
        let changes = spec::changes(O::attrs(), &prior, &planned);
        let done = O::update(&api, &prior, &planned, changes).await?;
        let view = view_after_write::<O>(&api, done.view).await?;
        Ok((spec::settle(O::attrs(), &planned, &view), done.warning))
    }

    async fn destroy(&self, prior: Val) -> Result<()> {
        let api = self.conn.client()?;
        match O::delete(&api, &prior).await {
            Err(e) if e.is_gone() => Ok(()),
            other => other,
        }
    }

    async fn import(&self, id: String) -> Result<Val> {
        let api = self.conn.client()?;
        let view = O::read(&api, &id).await.map_err(|e| {
            if e.is_gone() {
                Error::Invalid(format!(
                    "cannot import {id}: the gateway has no such object"
                ))
            } else {
                e
            }
        })?;
        Ok(spec::refresh(O::attrs(), &Val::Null, &view))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    static READS: AtomicUsize = AtomicUsize::new(0);

    /// An object that shows up on the third read, as a lagging replica would.
    struct Lagging;

    #[async_trait]
    impl Object for Lagging {
        const DESCRIPTION: &'static str = "test";
        fn attrs() -> &'static [Attr] {
            &[]
        }
        async fn create(_: &Client, _: &Val, _: Map<String, Json>) -> Result<Json> {
            Ok(json!({"id": "x", "only_in_create": 1}))
        }
        async fn read(_: &Client, id: &str) -> Result<Json> {
            if READS.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err(Error::Gone(id.to_owned()));
            }
            Ok(json!({"id": id, "name": "n"}))
        }
        async fn update(_: &Client, _: &Val, _: &Val, _: Map<String, Json>) -> Result<Update> {
            Ok(Update::plain(json!({"id": "x"})))
        }
        async fn delete(_: &Client, _: &Val) -> Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn read_after_write_waits_for_the_object() {
        let api = Client::new("http://127.0.0.1:9", None).unwrap();
        let view = view_after_write::<Lagging>(&api, json!({"id": "x", "only_in_create": 1}))
            .await
            .unwrap();
        assert_eq!(READS.load(Ordering::SeqCst), 3);
        assert_eq!(view, json!({"id": "x", "name": "n", "only_in_create": 1}));
    }
}
