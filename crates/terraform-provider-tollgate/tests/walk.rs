//! The lifecycle every resource goes through, as one reusable walk: create, update in place,
//! forced replacement, out-of-band delete and change, import by command and by block,
//! destroy.

use serde_json::Value;

use crate::harness::{terraform_available, Gateway, Tf};

/// A gateway call: method, path, body.
pub type Call = (&'static str, String, Option<Value>);

pub struct Walk {
    /// The resource under test, e.g. `tollgate_team.t`.
    pub addr: &'static str,
    /// Config of step 1, then an in-place update, then (optionally) a replacement.
    pub create: String,
    pub update: String,
    pub replace: Option<String>,
    /// Answers 200 while the object (by id) exists and 404 once it is gone.
    pub probe: fn(&str) -> Call,
    pub delete: fn(&str) -> Call,
    pub change: fn(&str) -> Call,
}

async fn call(gw: &Gateway, c: Call) -> (u16, Value) {
    gw.call(c.0, &c.1, c.2).await
}

async fn id_of(tf: &Tf, addr: &str) -> String {
    let s = tf.state(addr).await;
    s["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id for {addr}: {s}"))
        .to_owned()
}

impl Walk {
    pub async fn run(self) {
        if !terraform_available() {
            return;
        }
        let gw = Gateway::start(None).await;
        let tf = Tf::new(&gw);
        let config = self.create_update_replace(&gw, &tf).await;
        self.drift(&gw, &tf).await;
        let id = id_of(&tf, self.addr).await;
        self.import(&tf, &config, &id).await;
        // 7. destroy, then the gateway answers 404
        tf.destroy().await;
        assert_eq!(
            call(&gw, (self.probe)(&id)).await.0,
            404,
            "destroyed object is gone"
        );
        gw.stop().await;
    }

    /// Steps 1-3; answers the config in force afterwards.
    async fn create_update_replace(&self, gw: &Gateway, tf: &Tf) -> String {
        let addr = self.addr;
        // 1. create, then an empty plan
        tf.config(&self.create);
        tf.apply().await;
        let id = id_of(tf, addr).await;
        assert_eq!(
            call(gw, (self.probe)(&id)).await.0,
            200,
            "created object is there"
        );
        tf.plan().await.assert_empty();

        // 2. update in place, same id
        tf.config(&self.update);
        tf.plan().await.assert_action(addr, &["update"]);
        tf.apply().await;
        assert_eq!(id_of(tf, addr).await, id, "an update keeps the id");
        tf.plan().await.assert_empty();

        // 3. forced replacement
        let Some(replace) = &self.replace else {
            return self.update.clone();
        };
        tf.config(replace);
        tf.plan().await.assert_action(addr, &["delete", "create"]);
        tf.apply().await;
        let new_id = id_of(tf, addr).await;
        assert_ne!(new_id, id, "a replacement has a new id");
        assert_eq!(
            call(gw, (self.probe)(&id)).await.0,
            404,
            "the replaced object is gone"
        );
        tf.plan().await.assert_empty();
        replace.clone()
    }

    /// Steps 4-5: out-of-band delete and change.
    async fn drift(&self, gw: &Gateway, tf: &Tf) {
        let addr = self.addr;
        // 4. out-of-band delete: the plan shows a create, the apply converges
        let id = id_of(tf, addr).await;
        let (s, v) = call(gw, (self.delete)(&id)).await;
        assert_eq!(s, 200, "out-of-band delete: {v}");
        tf.plan().await.assert_action(addr, &["create"]);
        tf.apply().await;
        tf.plan().await.assert_empty();

        // 5. out-of-band change: the plan shows an update back to the config
        let id = id_of(tf, addr).await;
        let (s, v) = call(gw, (self.change)(&id)).await;
        assert_eq!(s, 200, "out-of-band change: {v}");
        tf.plan().await.assert_action(addr, &["update"]);
        tf.apply().await;
        tf.plan().await.assert_empty();
    }

    /// Step 6: import by command, then by block.
    async fn import(&self, tf: &Tf, config: &str, id: &str) {
        let addr = self.addr;
        let before = tf.state(addr).await;
        tf.must(&["state", "rm", addr]).await;
        tf.must(&["import", "-no-color", addr, id]).await;
        tf.plan().await.assert_empty();
        assert_eq!(tf.state(addr).await["id"], before["id"]);
        tf.must(&["state", "rm", addr]).await;
        tf.config(&format!(
            "{config}\nimport {{\n  to = {addr}\n  id = \"{id}\"\n}}\n"
        ));
        let plan = tf.plan().await;
        let importing = plan.json["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|rc| rc["address"] == addr && rc["change"]["importing"].is_object());
        assert!(importing, "the import block imports {addr}");
        assert!(
            !plan.actions.contains_key(addr),
            "import then no change: {:?}",
            plan.actions
        );
        tf.apply().await;
        tf.config(config);
        tf.plan().await.assert_empty();
    }
}
