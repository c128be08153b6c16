//! `POST /responses`: a `response` object whose `output` holds one assistant message (or one
//! `function_call`), or the Responses event stream from `response.created` to
//! `response.completed`, which carries the usage. Responses streams have no `[DONE]`.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::server::{first_tool_name, last_user_text, now, Ctx};
use super::sse;

pub(crate) fn handle(ctx: &Ctx, body: &Value) -> Response {
    let item = match first_tool_name(body) {
        Some(name) if ctx.knobs.tool_calls => Item::Call {
            id: format!("fc_fake_{}", ctx.n),
            call_id: format!("call_fake_{}", ctx.n),
            name,
            arguments: ctx.knobs.tool_arguments.clone(),
        },
        _ => Item::Message {
            id: format!("msg_fake_{}", ctx.n),
            text: ctx.knobs.reply_text(last_user_text(body.get("input"))),
        },
    };
    let done = response(ctx, body, "completed", Some(&item));
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        stream(ctx, body, &item, done)
    } else {
        Json(done).into_response()
    }
}

/// The one output item.
enum Item {
    Message {
        id: String,
        text: String,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
}

impl Item {
    fn id(&self) -> &str {
        match self {
            Item::Message { id, .. } | Item::Call { id, .. } => id,
        }
    }

    /// The item as JSON: `done` when finished, else as first announced (empty).
    fn to_json(&self, done: bool) -> Value {
        let status = if done { "completed" } else { "in_progress" };
        match self {
            Item::Message { id, text } => {
                let content = if done { vec![part(text)] } else { Vec::new() };
                json!({
                    "id": id, "type": "message", "status": status,
                    "role": "assistant", "content": content
                })
            }
            Item::Call {
                id,
                call_id,
                name,
                arguments,
            } => json!({
                "id": id, "type": "function_call", "status": status,
                "call_id": call_id, "name": name,
                "arguments": if done { arguments.as_str() } else { "" }
            }),
        }
    }
}

fn part(text: &str) -> Value {
    json!({ "type": "output_text", "text": text, "annotations": [], "logprobs": [] })
}

/// The `response` object; with no item it is the in-progress shell the stream opens with.
fn response(ctx: &Ctx, body: &Value, status: &str, item: Option<&Item>) -> Value {
    let field = |name: &str| body.get(name).cloned().unwrap_or(Value::Null);
    let mut out = json!({
        "id": format!("resp_fake_{}", ctx.n),
        "object": "response",
        "created_at": now(),
        "status": status,
        "error": null,
        "incomplete_details": null,
        "instructions": field("instructions"),
        "max_output_tokens": field("max_output_tokens"),
        "model": field("model"),
        "output": item.map(|i| vec![i.to_json(true)]).unwrap_or_default(),
        "parallel_tool_calls": true,
        "previous_response_id": field("previous_response_id"),
        "reasoning": { "effort": null, "summary": null },
        "store": true,
        "temperature": 1.0,
        "text": { "format": { "type": "text" } },
        "tool_choice": "auto",
        "tools": body.get("tools").cloned().unwrap_or_else(|| json!([])),
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": null,
        "user": null,
        "metadata": {}
    });
    if item.is_some() {
        if ctx.knobs.omit_usage {
            if let Some(map) = out.as_object_mut() {
                map.remove("usage");
            }
        } else {
            out["usage"] = ctx.knobs.responses_usage();
        }
    }
    out
}

fn stream(ctx: &Ctx, body: &Value, item: &Item, done: Value) -> Response {
    let shell = response(ctx, body, "in_progress", None);
    let mut events: Vec<(&str, Value)> = vec![
        ("response.created", json!({ "response": shell })),
        ("response.in_progress", json!({ "response": shell })),
        (
            "response.output_item.added",
            json!({ "output_index": 0, "item": item.to_json(false) }),
        ),
    ];
    let at = json!({ "item_id": item.id(), "output_index": 0 });
    let with = |extra: Value| at.clone().merge(extra);
    match item {
        Item::Message { text, .. } => {
            let part_at = |extra: Value| with(json!({ "content_index": 0 })).merge(extra);
            events.push((
                "response.content_part.added",
                part_at(json!({ "part": part("") })),
            ));
            for piece in sse::split(text, ctx.knobs.chunks) {
                events.push((
                    "response.output_text.delta",
                    part_at(json!({ "delta": piece, "logprobs": [] })),
                ));
            }
            events.push((
                "response.output_text.done",
                part_at(json!({ "text": text, "logprobs": [] })),
            ));
            events.push((
                "response.content_part.done",
                part_at(json!({ "part": part(text) })),
            ));
        }
        Item::Call { arguments, .. } => {
            for piece in sse::split(arguments, ctx.knobs.chunks) {
                events.push((
                    "response.function_call_arguments.delta",
                    with(json!({ "delta": piece })),
                ));
            }
            events.push((
                "response.function_call_arguments.done",
                with(json!({ "arguments": arguments })),
            ));
        }
    }
    events.push((
        "response.output_item.done",
        json!({ "output_index": 0, "item": item.to_json(true) }),
    ));
    events.push(("response.completed", json!({ "response": done })));
    let frames = events
        .into_iter()
        .enumerate()
        .map(|(seq, (kind, mut data))| {
            data["type"] = json!(kind);
            data["sequence_number"] = json!(seq);
            sse::event(kind, &data)
        })
        .collect();
    sse::response(frames, ctx.pacing())
}

/// Object merge for building event payloads.
trait Merge {
    fn merge(self, other: Value) -> Value;
}

impl Merge for Value {
    fn merge(mut self, other: Value) -> Value {
        if let (Some(map), Value::Object(more)) = (self.as_object_mut(), other) {
            map.extend(more);
        }
        self
    }
}
