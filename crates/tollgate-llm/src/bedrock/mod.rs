//! AWS Bedrock: SigV4 request signing, the binary event-stream framing of streamed answers, the
//! Converse / ConverseStream wire types, and the signed transport (Converse, ConverseStream and
//! InvokeModel for embeddings). Translation to and from the canonical model lives elsewhere; this
//! module speaks only Bedrock's wire format.

pub mod eventstream;
pub mod sigv4;
