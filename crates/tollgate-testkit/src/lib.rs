//! Test helpers shared by Tollgate's test suites: throwaway PostgreSQL databases and SQLite
//! files, and fake upstreams that speak each provider's wire format. Every database a test makes
//! has a unique name and is dropped when the test ends; every fake stops when dropped.

#![expect(
    clippy::panic,
    clippy::print_stderr,
    reason = "a test helper: failing loudly, and saying why a suite is skipped, is its job"
)]

mod anthropic;
pub mod bedrock;
mod cohere;
mod cut;
mod db;
mod gemini;
pub mod openai;
mod vertex;

pub use bedrock::FakeBedrock;
pub use cut::CutProxy;
pub use db::{admin_url, postgres_required, TestDb};
pub use openai::{FakeOpenAi, Recorded, Wire, DEFAULT_REPLY};
pub use vertex::{FakeVertex, VERTEX_TOKEN};

/// A fake upstream of any wire format ([`FakeOpenAi::start_as`]).
pub type FakeUpstream = FakeOpenAi;
