//! AWS Bedrock: SigV4 request signing, the binary event-stream framing of streamed answers, the
//! Converse / ConverseStream wire types, embeddings through InvokeModel, and the signed
//! transport. Translation to and from the canonical model lives elsewhere; this module speaks
//! only Bedrock's wire format.

pub mod converse;
pub mod embed;
pub mod eventstream;
pub mod sigv4;
pub mod transport;

pub use transport::{Bedrock, BedrockParams, EventStream};
