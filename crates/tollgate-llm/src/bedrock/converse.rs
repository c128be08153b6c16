//! Bedrock's Converse and ConverseStream wire types, as AWS's API reference gives them: the
//! request (messages of content blocks, system, inferenceConfig, toolConfig), the answer
//! (output.message, stopReason, usage with cache tokens) and the stream events, plus the
//! runtime endpoint paths. Plain serde structs: an adapter builds a [`ConverseRequest`] and reads
//! a [`ConverseResponse`] or a series of [`StreamEvent`]s.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::eventstream::{HeaderValue, Message as Frame};
use super::sigv4::uri_encode;
use crate::LlmError;

/// `https://bedrock-runtime.{region}.amazonaws.com`.
pub fn runtime_base(region: &str) -> String {
    format!("https://bedrock-runtime.{region}.amazonaws.com")
}

/// `/model/{modelId}/converse`, the model id URL-encoded (`:` and the `/` of ARNs included).
pub fn converse_path(model_id: &str) -> String {
    format!("/model/{}/converse", uri_encode(model_id.as_bytes()))
}

/// `/model/{modelId}/converse-stream`.
pub fn converse_stream_path(model_id: &str) -> String {
    format!("/model/{}/converse-stream", uri_encode(model_id.as_bytes()))
}

/// `/model/{modelId}/invoke` (InvokeModel, used for embeddings).
pub fn invoke_path(model_id: &str) -> String {
    format!("/model/{}/invoke", uri_encode(model_id.as_bytes()))
}

/// An empty JSON object, for union members that carry nothing (`{"auto": {}}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Empty {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// The body of `POST /model/{modelId}/converse` (and `/converse-stream`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemContentBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Model-specific fields (e.g. Claude's `thinking`, `top_k`), passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_field_paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

/// One content block: a union with exactly one member set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlock {
    Text(String),
    Image(ImageBlock),
    Document(Value),
    ToolUse(ToolUseBlock),
    ToolResult(ToolResultBlock),
    ReasoningContent(ReasoningContentBlock),
    CachePoint(CachePoint),
    GuardContent(Value),
    CitationsContent(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageBlock {
    /// `png`, `jpeg`, `gif` or `webp`.
    pub format: String,
    pub source: ImageSource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageSource {
    /// Base64 of the image bytes.
    Bytes(String),
    S3Location(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock {
    pub tool_use_id: String,
    pub name: String,
    pub input: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock {
    pub tool_use_id: String,
    pub content: Vec<ToolResultContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ToolResultStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolResultContent {
    Json(Value),
    Text(String),
    Image(ImageBlock),
    Document(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolResultStatus {
    Success,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningContentBlock {
    ReasoningText(ReasoningText),
    /// Base64 of encrypted reasoning.
    RedactedContent(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasoningText {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A prompt-cache checkpoint (`{"type": "default"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachePoint {
    #[serde(rename = "type")]
    pub kind: String,
}

impl Default for CachePoint {
    fn default() -> Self {
        Self {
            kind: "default".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SystemContentBlock {
    Text(String),
    CachePoint(CachePoint),
    GuardContent(Value),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    pub tools: Vec<Tool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Tool {
    ToolSpec(ToolSpec),
    CachePoint(CachePoint),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: ToolInputSchema,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolInputSchema {
    /// A JSON Schema object.
    Json(Value),
}

/// `{"auto": {}}`, `{"any": {}}` (some tool must be called) or `{"tool": {"name": …}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolChoice {
    Auto(Empty),
    Any(Empty),
    Tool { name: String },
}

/// The answer to Converse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    pub output: ConverseOutput,
    pub stop_reason: StopReason,
    pub usage: TokenUsage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConverseOutput {
    pub message: Message,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    StopSequence,
    GuardrailIntervened,
    ContentFiltered,
    ModelContextWindowExceeded,
    /// A reason this gateway does not know yet.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    pub latency_ms: u64,
}

/// One ConverseStream event. On the wire the variant name is the frame's `:event-type` header
/// and the payload is the variant's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StreamEvent {
    MessageStart(MessageStart),
    ContentBlockStart(ContentBlockStart),
    ContentBlockDelta(ContentBlockDelta),
    ContentBlockStop(ContentBlockStop),
    MessageStop(MessageStop),
    Metadata(StreamMetadata),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageStart {
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStart {
    pub content_block_index: u32,
    pub start: BlockStart,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BlockStart {
    ToolUse(ToolUseStart),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseStart {
    pub tool_use_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDelta {
    pub content_block_index: u32,
    pub delta: Delta,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Delta {
    Text(String),
    /// A piece of the tool call's input JSON, as a string.
    ToolUse {
        input: String,
    },
    ReasoningContent(ReasoningDelta),
    Citation(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningDelta {
    Text(String),
    Signature(String),
    RedactedContent(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStop {
    pub content_block_index: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStop {
    pub stop_reason: StopReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamMetadata {
    pub usage: TokenUsage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Value>,
}

/// The HTTP status an AWS error type stands for (`ValidationException` → 400, …).
pub fn exception_status(kind: &str) -> u16 {
    let kind = kind.split(':').next().unwrap_or(kind);
    let kind = kind.trim_end_matches("Exception").to_ascii_lowercase();
    match kind.as_str() {
        "validation" => 400,
        "unrecognizedclient" | "invalidsignature" | "expiredtoken" => 401,
        "accessdenied" => 403,
        "resourcenotfound" => 404,
        "modeltimeout" => 408,
        "throttling" | "servicequotaexceeded" | "modelnotready" => 429,
        "modelstreamerror" | "modelerror" => 424,
        "serviceunavailable" => 503,
        _ => 500,
    }
}

impl StreamEvent {
    /// Reads one event-stream frame. Exception and error frames become the error they carry.
    pub fn from_frame(frame: &Frame) -> Result<Self, LlmError> {
        let payload: Value = if frame.payload.is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&frame.payload)
                .map_err(|e| LlmError::Protocol(format!("bedrock stream: payload: {e}")))?
        };
        match frame.header_str(":message-type") {
            Some("event") => {}
            Some("exception") => {
                let kind = frame.header_str(":exception-type").unwrap_or("unknown");
                return Err(stream_error(kind, &payload));
            }
            Some("error") => {
                let kind = frame.header_str(":error-code").unwrap_or("unknown");
                let message = frame.header_str(":error-message").unwrap_or_default();
                return Err(stream_error(
                    kind,
                    &serde_json::json!({ "message": message }),
                ));
            }
            other => {
                return Err(LlmError::Protocol(format!(
                    "bedrock stream: unexpected :message-type {other:?}"
                )))
            }
        }
        let kind = frame
            .header_str(":event-type")
            .ok_or_else(|| LlmError::Protocol("bedrock stream: no :event-type".into()))?;
        let mut wrapped = serde_json::Map::new();
        wrapped.insert(kind.to_owned(), payload);
        serde_json::from_value(Value::Object(wrapped))
            .map_err(|e| LlmError::Protocol(format!("bedrock stream: {kind} event: {e}")))
    }

    /// The event as a frame, as Bedrock sends it.
    pub fn to_frame(&self) -> Result<Frame, LlmError> {
        let value = serde_json::to_value(self)
            .map_err(|e| LlmError::Protocol(format!("bedrock stream: {e}")))?;
        let Value::Object(map) = value else {
            return Err(LlmError::Protocol(
                "bedrock stream: event is not an object".into(),
            ));
        };
        let Some((kind, payload)) = map.into_iter().next() else {
            return Err(LlmError::Protocol("bedrock stream: empty event".into()));
        };
        Ok(Frame {
            headers: vec![
                (":event-type".into(), HeaderValue::String(kind)),
                (
                    ":content-type".into(),
                    HeaderValue::String("application/json".into()),
                ),
                (":message-type".into(), HeaderValue::String("event".into())),
            ],
            payload: payload.to_string().into_bytes().into(),
        })
    }
}

/// An exception frame (`kind` like `throttlingException`) with `{"message": …}`.
pub fn exception_frame(kind: &str, message: &str) -> Frame {
    Frame {
        headers: vec![
            (":exception-type".into(), HeaderValue::String(kind.into())),
            (
                ":content-type".into(),
                HeaderValue::String("application/json".into()),
            ),
            (
                ":message-type".into(),
                HeaderValue::String("exception".into()),
            ),
        ],
        payload: serde_json::json!({ "message": message })
            .to_string()
            .into_bytes()
            .into(),
    }
}

pub(crate) fn stream_error(kind: &str, payload: &Value) -> LlmError {
    let message = payload
        .get("message")
        .or_else(|| payload.get("Message"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let status = payload
        .get("originalStatusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or_else(|| exception_status(kind));
    LlmError::Status {
        status,
        message: format!("{kind}: {message}"),
        body: Some(payload.clone()),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_encode_the_model_id() {
        assert_eq!(
            converse_path("anthropic.claude-3-5-sonnet-20240620-v1:0"),
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
        );
        assert_eq!(
            converse_stream_path("arn:aws:bedrock:us-east-1:123:inference-profile/us.x"),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.x/converse-stream"
        );
        assert_eq!(
            invoke_path("amazon.titan-embed-text-v2:0"),
            "/model/amazon.titan-embed-text-v2%3A0/invoke"
        );
        assert_eq!(
            runtime_base("eu-west-1"),
            "https://bedrock-runtime.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn request_serializes_in_bedrock_shape() {
        let req = ConverseRequest {
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![
                        ContentBlock::Text("What is in this image?".into()),
                        ContentBlock::Image(ImageBlock {
                            format: "png".into(),
                            source: ImageSource::Bytes("aGk=".into()),
                        }),
                        ContentBlock::CachePoint(CachePoint::default()),
                    ],
                },
                Message {
                    role: Role::Assistant,
                    content: vec![ContentBlock::ToolUse(ToolUseBlock {
                        tool_use_id: "t1".into(),
                        name: "weather".into(),
                        input: json!({"city": "Paris"}),
                    })],
                },
                Message {
                    role: Role::User,
                    content: vec![ContentBlock::ToolResult(ToolResultBlock {
                        tool_use_id: "t1".into(),
                        content: vec![ToolResultContent::Json(json!({"t": 20}))],
                        status: Some(ToolResultStatus::Success),
                    })],
                },
            ],
            system: vec![SystemContentBlock::Text("Be brief.".into())],
            inference_config: Some(InferenceConfig {
                max_tokens: Some(100),
                temperature: Some(0.5),
                top_p: None,
                stop_sequences: Some(vec!["END".into()]),
            }),
            tool_config: Some(ToolConfig {
                tools: vec![Tool::ToolSpec(ToolSpec {
                    name: "weather".into(),
                    description: Some("Weather".into()),
                    input_schema: ToolInputSchema::Json(json!({"type": "object"})),
                })],
                tool_choice: Some(ToolChoice::Tool {
                    name: "weather".into(),
                }),
            }),
            ..Default::default()
        };
        let want = json!({
            "messages": [
                {"role": "user", "content": [
                    {"text": "What is in this image?"},
                    {"image": {"format": "png", "source": {"bytes": "aGk="}}},
                    {"cachePoint": {"type": "default"}}
                ]},
                {"role": "assistant", "content": [
                    {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Paris"}}}
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "t1", "content": [{"json": {"t": 20}}], "status": "success"}}
                ]}
            ],
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 100, "temperature": 0.5, "stopSequences": ["END"]},
            "toolConfig": {
                "tools": [{"toolSpec": {"name": "weather", "description": "Weather", "inputSchema": {"json": {"type": "object"}}}}],
                "toolChoice": {"tool": {"name": "weather"}}
            }
        });
        assert_eq!(serde_json::to_value(&req).unwrap(), want);
        assert_eq!(
            serde_json::from_value::<ConverseRequest>(want).unwrap(),
            req
        );
        let auto = serde_json::to_value(ToolChoice::Auto(Empty {})).unwrap();
        assert_eq!(auto, json!({"auto": {}}));
        assert_eq!(
            serde_json::to_value(ToolChoice::Any(Empty {})).unwrap(),
            json!({"any": {}})
        );
    }

    #[test]
    fn response_parses_with_cache_usage_and_reasoning() {
        let resp: ConverseResponse = serde_json::from_value(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
                {"text": "Hello"},
                {"toolUse": {"toolUseId": "t9", "name": "f", "input": {}}}
            ]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15,
                      "cacheReadInputTokens": 3, "cacheWriteInputTokens": 2},
            "metrics": {"latencyMs": 120}
        }))
        .unwrap();
        assert_eq!(resp.stop_reason, StopReason::ToolUse);
        assert_eq!(resp.usage.cache_read_input_tokens, Some(3));
        assert_eq!(resp.usage.cache_write_input_tokens, Some(2));
        assert_eq!(
            resp.output.message.content[1],
            ContentBlock::Text("Hello".into())
        );
        let odd: StopReason = serde_json::from_value(json!("something_new")).unwrap();
        assert_eq!(odd, StopReason::Unknown);
    }

    #[test]
    fn stream_events_round_trip_through_frames() {
        let events = [
            json!({"messageStart": {"role": "assistant"}}),
            json!({"contentBlockStart": {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "f"}}}}),
            json!({"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hi"}}}),
            json!({"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"a\":"}}}}),
            json!({"contentBlockDelta": {"contentBlockIndex": 2, "delta": {"reasoningContent": {"text": "think"}}}}),
            json!({"contentBlockStop": {"contentBlockIndex": 0}}),
            json!({"messageStop": {"stopReason": "end_turn"}}),
            json!({"metadata": {"usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}, "metrics": {"latencyMs": 9}}}),
        ];
        for e in events {
            let event: StreamEvent = serde_json::from_value(e.clone()).unwrap();
            let frame = event.to_frame().unwrap();
            let (kind, inner) = e.as_object().unwrap().iter().next().unwrap();
            assert_eq!(frame.header_str(":event-type"), Some(kind.as_str()));
            assert_eq!(
                serde_json::from_slice::<Value>(&frame.payload).unwrap(),
                *inner
            );
            let wire = frame.encode().unwrap();
            let decoded = super::super::eventstream::Decoder::new()
                .feed(&wire)
                .unwrap();
            assert_eq!(StreamEvent::from_frame(&decoded[0]).unwrap(), event);
        }
    }

    #[test]
    fn unknown_payload_fields_are_ignored() {
        // Bedrock pads events with a random "p" field.
        let frame = Frame {
            headers: vec![
                (
                    ":event-type".into(),
                    HeaderValue::String("contentBlockDelta".into()),
                ),
                (":message-type".into(), HeaderValue::String("event".into())),
            ],
            payload: br#"{"contentBlockIndex":0,"delta":{"text":"x"},"p":"abcdef"}"#
                .to_vec()
                .into(),
        };
        assert!(matches!(
            StreamEvent::from_frame(&frame).unwrap(),
            StreamEvent::ContentBlockDelta(_)
        ));
    }

    #[test]
    fn exception_frames_become_errors_with_their_status() {
        let err = StreamEvent::from_frame(&exception_frame("throttlingException", "slow down"))
            .unwrap_err();
        assert_eq!(err.status(), 429);
        assert!(err.to_string().contains("slow down"));
        let err =
            StreamEvent::from_frame(&exception_frame("validationException", "bad")).unwrap_err();
        assert_eq!(err.status(), 400);
        let err =
            StreamEvent::from_frame(&exception_frame("internalServerException", "x")).unwrap_err();
        assert_eq!(err.status(), 500);
        assert_eq!(
            exception_status("ThrottlingException:http://internal.amazon.com/coral/"),
            429
        );
        assert_eq!(exception_status("modelStreamErrorException"), 424);
    }
}
