//! `context_window_fallbacks` and `content_policy_fallbacks`: each fires for its own kind of
//! upstream error (by error code, or by message as LiteLLM matches it), not for the others; the
//! ordinary `fallbacks` keep serving the errors a retry could fix.

use serde_json::{json, Value};
use tollgate_testkit::{FakeOpenAi, TestDb};

use crate::common::{Gateway, MASTER};

/// `primary` with one fake per kind of fallback group.
struct Setup {
    primary: FakeOpenAi,
    backup: FakeOpenAi,
    long: FakeOpenAi,
    safe: FakeOpenAi,
    gw: Gateway,
}

async fn setup(db: &TestDb, settings: &str) -> Setup {
    let fakes = [
        FakeOpenAi::start().await,
        FakeOpenAi::start().await,
        FakeOpenAi::start().await,
        FakeOpenAi::start().await,
    ];
    let mut yaml = String::from("model_list:\n");
    for (name, f) in ["primary", "backup", "long", "safe"].iter().zip(&fakes) {
        yaml.push_str(&format!(
            "  - model_name: {name}\n    litellm_params: {{model: openai/{name}-model, api_base: \"{}\", api_key: k}}\n",
            f.url()
        ));
    }
    yaml.push_str(settings);
    let gw = Gateway::with_config(db, &yaml).await;
    let [primary, backup, long, safe] = fakes;
    Setup {
        primary,
        backup,
        long,
        safe,
        gw,
    }
}

const ALL_KINDS: &str = "router_settings:\n  fallbacks: [{primary: [backup]}]\n\
    \x20 context_window_fallbacks: [{primary: [long]}]\n\
    litellm_settings:\n  content_policy_fallbacks: [{primary: [safe]}]\n";

fn error(message: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}})
}

impl Setup {
    /// Sends one chat call; returns the status, the attempted-fallbacks header and which fakes
    /// were called (backup, long, safe).
    async fn call(&self) -> (u16, String, [usize; 3]) {
        let before = self.counts();
        let resp = self
            .gw
            .request("/v1/chat/completions")
            .bearer_auth(MASTER)
            .json(&json!({"model": "primary", "messages": [{"role": "user", "content": "x"}]}))
            .send()
            .await
            .unwrap();
        let header = resp
            .headers()
            .get("x-litellm-attempted-fallbacks")
            .map_or(String::new(), |v| v.to_str().unwrap().to_owned());
        let after = self.counts();
        let delta = [0, 1, 2].map(|i| after[i] - before[i]);
        (resp.status().as_u16(), header, delta)
    }

    fn counts(&self) -> [usize; 3] {
        [self.backup.calls(), self.long.calls(), self.safe.calls()]
    }
}

#[tokio::test]
async fn each_fallback_kind_fires_for_its_own_errors() {
    let db = TestDb::sqlite();
    let s = setup(&db, ALL_KINDS).await;
    // OpenAI's code for a prompt over the context window.
    let too_long = error(
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
        Some("context_length_exceeded"),
    );
    s.primary.fail_next_with(400, too_long, 1);
    assert_eq!(s.call().await, (200, "1".into(), [0, 1, 0]));
    assert_eq!(s.long.last_request().unwrap().body["model"], "long-model");
    // Anthropic's wording, without a code: matched by message.
    let anthropic = json!({"type": "error", "error": {"type": "invalid_request_error",
        "message": "prompt is too long: 210000 tokens > 200000 maximum"}});
    s.primary.fail_next_with(400, anthropic, 1);
    assert_eq!(s.call().await, (200, "1".into(), [0, 1, 0]));
    // Content filters.
    for code in ["content_policy_violation", "content_filter"] {
        s.primary
            .fail_next_with(400, error("Your request was rejected.", Some(code)), 1);
        assert_eq!(s.call().await, (200, "1".into(), [0, 0, 1]), "{code}");
    }
    // A 500 takes the ordinary fallbacks, not the special ones.
    s.primary.fail_next(500, 1);
    assert_eq!(s.call().await, (200, "1".into(), [1, 0, 0]));
    // Any other 400 is the answer: no fallback at all.
    s.primary
        .fail_next_with(400, error("Invalid 'temperature': above maximum.", None), 1);
    assert_eq!(s.call().await, (400, String::new(), [0, 0, 0]));
    s.gw.stop().await;
}

#[tokio::test]
async fn special_errors_without_their_fallbacks_are_answered_as_they_are() {
    let db = TestDb::sqlite();
    // Only ordinary fallbacks: a context-window error does not take them.
    let s = setup(
        &db,
        "router_settings:\n  fallbacks: [{primary: [backup]}]\n",
    )
    .await;
    let too_long = error("too many tokens", Some("context_length_exceeded"));
    s.primary.fail_next_with(400, too_long, 1);
    let (status, _, called) = s.call().await;
    assert_eq!((status, called), (400, [0, 0, 0]));
    // When the context-window fallback fails too, the call ends with its error.
    s.gw.stop().await;
    let db = TestDb::sqlite();
    let s = setup(&db, ALL_KINDS).await;
    s.primary
        .fail_next_with(400, error("x", Some("context_length_exceeded")), 1);
    s.long.fail_next_with(
        400,
        error("still too long", Some("context_length_exceeded")),
        1,
    );
    let (status, _, called) = s.call().await;
    assert_eq!((status, called), (400, [0, 1, 0]));
    s.gw.stop().await;
}
