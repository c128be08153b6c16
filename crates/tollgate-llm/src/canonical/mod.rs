//! The canonical model every format crosses through: a chat request, its answer, the chunks of a
//! streamed answer, embeddings, and token usage. Client formats (OpenAI chat, Anthropic
//! Messages) and provider formats convert to and from these types only, so N providers and M
//! client formats cost N + M translations.
//!
//! Conventions: the system prompt is apart from the messages; tool results are parts of a user
//! message (as Anthropic has them; OpenAI's `tool` messages become such parts); tool-call
//! arguments are kept as JSON text, as they stream.

mod usage;

use serde_json::Value;

pub use usage::Usage;

/// A chat request in no provider's format.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The model the upstream expects.
    pub model: String,
    /// System instructions, joined when the client sent several.
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: Option<ToolChoice>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Vec<String>,
    pub stream: bool,
    /// Extended thinking / reasoning, with a token budget.
    pub thinking: Option<Thinking>,
    /// The end user, for providers that take one.
    pub user: Option<String>,
}

/// Who speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

/// A piece of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(Image),
    /// The assistant calls a tool; `arguments` is JSON text.
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    /// The result of a tool call, sent back by the user side.
    ToolResult {
        id: String,
        content: String,
        is_error: bool,
    },
    /// Visible reasoning, with the provider's signature when it gave one.
    Thinking {
        text: String,
        signature: Option<String>,
    },
    /// Reasoning the provider encrypted.
    RedactedThinking(String),
}

/// An image, by URL or inline.
#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    Url(String),
    Base64 { media_type: String, data: String },
}

impl Image {
    /// Reads an OpenAI-style `image_url.url`: a `data:` URL becomes inline data.
    pub fn from_url(url: &str) -> Self {
        if let Some(rest) = url.strip_prefix("data:") {
            if let Some((media_type, data)) = rest.split_once(";base64,") {
                return Image::Base64 {
                    media_type: media_type.to_owned(),
                    data: data.to_owned(),
                };
            }
        }
        Image::Url(url.to_owned())
    }

    /// The image as a URL (`data:` URL for inline data).
    pub fn to_url(&self) -> String {
        match self {
            Image::Url(u) => u.clone(),
            Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

/// How the model must use the tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool, the model chooses which.
    Required,
    Tool(String),
}

/// Extended thinking with a token budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thinking {
    pub budget_tokens: u64,
}

impl Thinking {
    /// OpenAI's `reasoning_effort`, as a budget.
    pub fn from_effort(effort: &str) -> Option<Self> {
        let budget_tokens = match effort {
            "minimal" => 1024,
            "low" => 1024,
            "medium" => 2048,
            "high" => 4096,
            _ => return None,
        };
        Some(Thinking { budget_tokens })
    }

    /// The effort closest to this budget.
    pub fn effort(self) -> &'static str {
        match self.budget_tokens {
            0..=1024 => "low",
            1025..=2048 => "medium",
            _ => "high",
        }
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopReason {
    #[default]
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

/// A finished chat answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    pub model: String,
    pub content: Vec<Part>,
    pub stop: StopReason,
    pub usage: Usage,
}

/// One piece of a streamed answer. Translators from provider events emit these; encoders into
/// client events consume them. Indices count tool calls (0, 1, ...) of the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// The answer begins; providers that say nothing at the start get one synthesized.
    Start {
        id: String,
        model: String,
    },
    Text(String),
    Thinking(String),
    /// The signature that closes a thinking block.
    ThinkingSignature(String),
    RedactedThinking(String),
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    /// More of a tool call's JSON arguments.
    ToolCallArgs {
        index: usize,
        json: String,
    },
    /// The usage as known so far (each field a running total: later chunks win).
    Usage(Usage),
    Stop(StopReason),
}

/// Texts to embed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbedRequest {
    pub model: String,
    pub inputs: Vec<String>,
    pub dimensions: Option<u64>,
}

/// Embeddings, one per input, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbedResponse {
    pub model: String,
    pub vectors: Vec<Vec<f64>>,
    pub usage: Usage,
}
