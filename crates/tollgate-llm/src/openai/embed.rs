//! OpenAI embeddings to and from the canonical model.

use serde_json::{json, Value};

use crate::canonical::{EmbedRequest, EmbedResponse, Usage};
use crate::LlmError;

/// Reads an OpenAI embeddings request: `input` is a string or a list of strings.
pub fn request_from_openai(body: &Value) -> Result<EmbedRequest, LlmError> {
    let inputs = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    LlmError::Invalid(format!("input[{i}]: this provider takes text inputs only"))
                })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(LlmError::Invalid(
                "input: a string or a list of strings is required".into(),
            ))
        }
    };
    Ok(EmbedRequest {
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        inputs,
        dimensions: body.get("dimensions").and_then(Value::as_u64),
    })
}

pub fn request_to_openai(req: &EmbedRequest) -> Value {
    let mut v = json!({"model": req.model, "input": req.inputs});
    if let Some(d) = req.dimensions {
        v["dimensions"] = json!(d);
    }
    v
}

pub fn response_from_openai(body: &Value) -> Result<EmbedResponse, LlmError> {
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| LlmError::Protocol("embeddings answer without data".into()))?;
    let vectors = data
        .iter()
        .map(|d| {
            d.get("embedding")
                .and_then(Value::as_array)
                .map(|e| e.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default()
        })
        .collect();
    Ok(EmbedResponse {
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        vectors,
        usage: body
            .get("usage")
            .map(Usage::from_openai)
            .unwrap_or_default(),
    })
}

/// Writes an OpenAI embeddings answer (`object: list`).
pub fn response_to_openai(r: &EmbedResponse) -> Value {
    let data: Vec<Value> = r
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": r.model,
        "usage": {"prompt_tokens": r.usage.input_tokens, "total_tokens": r.usage.input_tokens},
    })
}
