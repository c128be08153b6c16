//! The routes around chat: `POST /completions` (`text_completion`, streamed or not),
//! `POST /embeddings` and `GET /models`.

use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};

use super::server::{now, Ctx};
use super::sse;

pub(crate) fn completions(ctx: &Ctx, body: &Value) -> Response {
    let prompt = match body.get("prompt") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => items.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    let text = ctx.knobs.reply_text(prompt);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let id = format!("cmpl-{}", ctx.n);
    let created = now();
    let object = |choices: Value| {
        json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": choices
        })
    };
    let choice = |text: &str, finish: Value| json!([{ "text": text, "index": 0, "logprobs": null, "finish_reason": finish }]);
    if body.get("stream").and_then(Value::as_bool) != Some(true) {
        let mut out = object(choice(&text, json!("stop")));
        if !ctx.knobs.omit_usage {
            out["usage"] = ctx.knobs.completion_usage();
        }
        return Json(out).into_response();
    }
    let include_usage = !ctx.knobs.omit_usage
        && body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
    let with_usage = |mut chunk: Value, usage: Value| {
        if include_usage {
            chunk["usage"] = usage;
        }
        sse::data(&chunk)
    };
    let mut frames: Vec<String> = sse::split(&text, ctx.knobs.chunks)
        .iter()
        .map(|piece| with_usage(object(choice(piece, Value::Null)), Value::Null))
        .collect();
    frames.push(with_usage(object(choice("", json!("stop"))), Value::Null));
    if include_usage {
        frames.push(with_usage(object(json!([])), ctx.knobs.completion_usage()));
    }
    frames.push(sse::done());
    sse::response(frames, ctx.pacing())
}

pub(crate) fn embeddings(ctx: &Ctx, body: &Value) -> Response {
    let items: Vec<Value> = match body.get("input") {
        Some(Value::Array(items)) if items.iter().all(Value::is_number) && !items.is_empty() => {
            vec![Value::Array(items.clone())]
        }
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
        None => Vec::new(),
    };
    let dims = body
        .get("dimensions")
        .and_then(Value::as_u64)
        .and_then(|d| usize::try_from(d).ok())
        .unwrap_or(ctx.knobs.embedding_dims);
    let base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let vector = vector_for(&item.to_string(), dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    let mut out = json!({
        "object": "list",
        "data": data,
        "model": body.get("model").cloned().unwrap_or(Value::Null)
    });
    if !ctx.knobs.omit_usage {
        out["usage"] = json!({
            "prompt_tokens": ctx.knobs.prompt_tokens,
            "total_tokens": ctx.knobs.prompt_tokens
        });
    }
    Json(out).into_response()
}

/// A deterministic vector in [-1, 1] for `text` (FNV-1a seeded, then a xorshift per element).
fn vector_for(text: &str, dims: usize) -> Vec<f32> {
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (0..dims)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = f64::from(u32::try_from(state >> 40).unwrap_or(0)) / f64::from(1_u32 << 24);
            (unit * 2.0 - 1.0) as f32
        })
        .collect()
}

pub(crate) fn models(ctx: &Ctx) -> Response {
    let data: Vec<Value> = ctx
        .knobs
        .models
        .iter()
        .map(|id| json!({ "id": id, "object": "model", "created": 1_686_935_002, "owned_by": "openai" }))
        .collect();
    Json(json!({ "object": "list", "data": data })).into_response()
}

#[cfg(test)]
mod tests {
    use super::vector_for;

    #[test]
    fn vectors_are_deterministic_and_bounded() {
        let a = vector_for("\"hello\"", 16);
        assert_eq!(a, vector_for("\"hello\"", 16));
        assert_ne!(a, vector_for("\"world\"", 16));
        assert!(a.iter().all(|x| (-1.0..=1.0).contains(x)));
    }
}
