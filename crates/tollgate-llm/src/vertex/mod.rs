//! Google Vertex AI: service-account authentication (JWT → cached OAuth token) and the URLs of
//! Gemini and Claude on Vertex. The request and answer bodies are Gemini's and Anthropic's own,
//! translated elsewhere.

pub mod auth;
pub mod endpoints;

pub use auth::{ServiceAccount, TokenSource};
pub use endpoints::VertexModel;
