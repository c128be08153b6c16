//! AWS Bedrock: SigV4 request signing, the binary event-stream framing of streamed answers, the
//! Converse / ConverseStream wire types, embeddings through InvokeModel, the signed transport,
//! and the adapter: canonical requests to Converse ([`request`]), Converse answers and stream
//! events to canonical ([`response`]), and the [`wire::BedrockWire`] with its SigV4
//! authorization that the gateway calls through.

pub mod converse;
pub mod embed;
pub mod eventstream;
pub mod request;
pub mod response;
pub mod sigv4;
pub mod transport;
pub mod wire;

pub use request::request_to_converse;
pub use response::{response_from_converse, BedrockStreamIn};
pub use transport::{Bedrock, BedrockParams, EventStream};
pub use wire::{provider, BedrockWire, SigV4};
