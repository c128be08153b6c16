//! Integration tests of tollgate-llm over real HTTP on loopback: the upstream client's pool,
//! the Bedrock transport against the test kit's fake Bedrock runtime (which checks every SigV4
//! signature), and Vertex service-account auth against a small token endpoint.

#[cfg(test)]
mod bedrock_transport;
#[cfg(test)]
mod transport;
#[cfg(test)]
mod vertex_auth;
