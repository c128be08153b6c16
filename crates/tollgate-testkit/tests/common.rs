//! Helpers: a client, JSON posts and an SSE frame parser.

use serde_json::Value;
use tollgate_testkit::FakeOpenAi;

/// One SSE frame: its `event:` name, if any, and its `data:`.
#[derive(Debug)]
pub struct Frame {
    pub event: Option<String>,
    pub data: String,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("frame {:?}: {e}", self.data))
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// POST `body` to `path` under the fake's `/v1` base.
pub async fn post(fake: &FakeOpenAi, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}{path}", fake.url()))
        .bearer_auth("sk-test")
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// POST and parse a JSON answer, asserting the status.
pub async fn post_json(fake: &FakeOpenAi, path: &str, body: Value) -> Value {
    let resp = post(fake, path, body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    resp.json().await.unwrap()
}

/// POST and read a whole SSE stream.
pub async fn post_sse(fake: &FakeOpenAi, path: &str, body: Value) -> Vec<Frame> {
    let resp = post(fake, path, body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream; charset=utf-8"
    );
    parse_sse(&resp.text().await.unwrap())
}

/// Splits an SSE body into frames; every frame must end with a blank line.
pub fn parse_sse(text: &str) -> Vec<Frame> {
    assert!(
        text.ends_with("\n\n"),
        "stream must end with a complete frame: {text:?}"
    );
    text.split_terminator("\n\n")
        .map(|block| {
            let mut frame = Frame {
                event: None,
                data: String::new(),
            };
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    frame.event = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    frame.data = v.to_owned();
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            frame
        })
        .collect()
}

/// The JSON chunks of a chat or completions stream, checking it ends with `data: [DONE]`.
pub fn chunks_before_done(frames: &[Frame]) -> Vec<Value> {
    let (last, rest) = frames.split_last().unwrap();
    assert_eq!(last.data, "[DONE]");
    assert!(frames.iter().all(|f| f.event.is_none()));
    rest.iter().map(Frame::json).collect()
}
