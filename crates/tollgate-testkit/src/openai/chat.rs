//! `POST /chat/completions`: a `chat.completion` object, or a stream of `chat.completion.chunk`s
//! ending in `data: [DONE]`, with a usage-only chunk (`"choices": []`) before it when the request
//! asks for `stream_options.include_usage`.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::server::{first_tool_name, last_user_text, now, Ctx};
use super::sse;

/// What the assistant says: text, or one call of the named tool.
enum Answer {
    Text(String),
    Tool { name: String, arguments: String },
}

pub(crate) fn handle(ctx: &Ctx, body: &Value) -> Response {
    let answer = match first_tool_name(body) {
        Some(name) if ctx.knobs.tool_calls => Answer::Tool {
            name,
            arguments: ctx.knobs.tool_arguments.clone(),
        },
        _ => Answer::Text(ctx.knobs.reply_text(last_user_text(body.get("messages")))),
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        let include_usage = body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        stream(ctx, model, &answer, include_usage)
    } else {
        Json(completion(ctx, model, &answer)).into_response()
    }
}

fn call_id(ctx: &Ctx) -> String {
    format!("call_fake_{}", ctx.n)
}

fn completion(ctx: &Ctx, model: &str, answer: &Answer) -> Value {
    let (message, finish) = match answer {
        Answer::Text(text) => (
            json!({ "role": "assistant", "content": text, "refusal": null, "annotations": [] }),
            "stop",
        ),
        Answer::Tool { name, arguments } => (
            json!({
                "role": "assistant",
                "content": null,
                "refusal": null,
                "annotations": [],
                "tool_calls": [{
                    "id": call_id(ctx),
                    "type": "function",
                    "function": { "name": name, "arguments": arguments }
                }]
            }),
            "tool_calls",
        ),
    };
    let mut out = json!({
        "id": format!("chatcmpl-{}", ctx.n),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish }],
        "service_tier": "default",
        "system_fingerprint": "fp_fake"
    });
    if !ctx.knobs.omit_usage {
        out["usage"] = ctx.knobs.chat_usage();
    }
    out
}

fn stream(ctx: &Ctx, model: &str, answer: &Answer, include_usage: bool) -> Response {
    let include_usage = include_usage && !ctx.knobs.omit_usage;
    let id = format!("chatcmpl-{}", ctx.n);
    let created = now();
    let chunk = |choices: Value, usage: Value| {
        let mut c = Map::new();
        c.insert("id".into(), json!(id));
        c.insert("object".into(), json!("chat.completion.chunk"));
        c.insert("created".into(), json!(created));
        c.insert("model".into(), json!(model));
        c.insert("service_tier".into(), json!("default"));
        c.insert("system_fingerprint".into(), json!("fp_fake"));
        c.insert("choices".into(), choices);
        if include_usage {
            c.insert("usage".into(), usage);
        }
        sse::data(&Value::Object(c))
    };
    let delta = |delta: Value, finish: Value| {
        chunk(
            json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]),
            Value::Null,
        )
    };
    let mut frames = Vec::new();
    let finish = match answer {
        Answer::Text(text) => {
            frames.push(delta(
                json!({ "role": "assistant", "content": "", "refusal": null }),
                Value::Null,
            ));
            for piece in sse::split(text, ctx.knobs.chunks) {
                frames.push(delta(json!({ "content": piece }), Value::Null));
            }
            "stop"
        }
        Answer::Tool { name, arguments } => {
            frames.push(delta(
                json!({
                    "role": "assistant",
                    "content": null,
                    "refusal": null,
                    "tool_calls": [{
                        "index": 0,
                        "id": call_id(ctx),
                        "type": "function",
                        "function": { "name": name, "arguments": "" }
                    }]
                }),
                Value::Null,
            ));
            for piece in sse::split(arguments, ctx.knobs.chunks) {
                frames.push(delta(
                    json!({ "tool_calls": [{ "index": 0, "function": { "arguments": piece } }] }),
                    Value::Null,
                ));
            }
            "tool_calls"
        }
    };
    frames.push(delta(json!({}), json!(finish)));
    if include_usage {
        frames.push(chunk(json!([]), ctx.knobs.chat_usage()));
    }
    frames.push(sse::done());
    sse::response(frames, ctx.pacing())
}
