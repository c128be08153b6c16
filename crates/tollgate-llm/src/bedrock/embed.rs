//! Embedding models on Bedrock, called through InvokeModel with each model family's own body:
//! Amazon Titan (`amazon.titan-embed-text-v1`/`-v2`) and Cohere (`cohere.embed-*`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Titan text embeddings: one input per call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TitanEmbedRequest {
    pub input_text: String,
    /// v2 only: 256, 512 or 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// v2 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TitanEmbedResponse {
    pub embedding: Vec<f64>,
    pub input_text_token_count: u64,
}

/// Cohere embeddings on Bedrock: many texts per call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohereEmbedRequest {
    pub texts: Vec<String>,
    /// `search_document`, `search_query`, `classification` or `clustering`.
    pub input_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_types: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohereEmbedResponse {
    /// A list of float vectors, or (with `embedding_types`) an object keyed by type.
    pub embeddings: Value,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub response_type: Option<String>,
    #[serde(default)]
    pub texts: Vec<String>,
}

/// Which InvokeModel body an embedding model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedFamily {
    Titan,
    Cohere,
}

impl EmbedFamily {
    /// The family of a Bedrock model id (cross-region prefixes like `us.` are allowed).
    pub fn of(model_id: &str) -> Option<Self> {
        let base = model_id.rsplit('/').next().unwrap_or(model_id);
        if base.contains("amazon.titan-embed") {
            Some(Self::Titan)
        } else if base.contains("cohere.embed") {
            Some(Self::Cohere)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn titan_wire_shapes() {
        let req = TitanEmbedRequest {
            input_text: "hi".into(),
            dimensions: Some(256),
            normalize: Some(true),
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"inputText": "hi", "dimensions": 256, "normalize": true})
        );
        let resp: TitanEmbedResponse =
            serde_json::from_value(json!({"embedding": [0.5, -1.0], "inputTextTokenCount": 3}))
                .unwrap();
        assert_eq!(resp.embedding, [0.5, -1.0]);
        assert_eq!(resp.input_text_token_count, 3);
    }

    #[test]
    fn cohere_wire_shapes_and_family() {
        let req = CohereEmbedRequest {
            texts: vec!["a".into()],
            input_type: "search_document".into(),
            truncate: None,
            embedding_types: None,
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"texts": ["a"], "input_type": "search_document"})
        );
        let resp: CohereEmbedResponse = serde_json::from_value(json!({
            "embeddings": [[0.1]], "id": "x", "response_type": "embeddings_floats", "texts": ["a"]
        }))
        .unwrap();
        assert_eq!(resp.embeddings, json!([[0.1]]));
        assert_eq!(
            EmbedFamily::of("amazon.titan-embed-text-v2:0"),
            Some(EmbedFamily::Titan)
        );
        assert_eq!(
            EmbedFamily::of("cohere.embed-english-v3"),
            Some(EmbedFamily::Cohere)
        );
        assert_eq!(EmbedFamily::of("anthropic.claude-v2"), None);
    }
}
