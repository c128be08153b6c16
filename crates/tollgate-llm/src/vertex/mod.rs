//! Google Vertex AI: service-account authentication (JWT → cached OAuth token), the URLs of
//! Gemini and Claude on Vertex, and the adapter ([`wire::VertexWire`] with its bearer-token
//! authorization) that reuses the Gemini and Anthropic translations for the bodies.

pub mod auth;
pub mod endpoints;
pub mod wire;

pub use auth::{ServiceAccount, TokenSource};
pub use endpoints::VertexModel;
pub use wire::{provider, VertexAuth, VertexParams, VertexWire};
