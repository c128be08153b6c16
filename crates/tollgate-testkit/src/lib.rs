//! Test helpers shared by Tollgate's test suites: throwaway PostgreSQL databases and SQLite
//! files, and fake upstreams that speak each provider's wire format. Every database a test makes
//! has a unique name and is dropped when the test ends; every fake stops when dropped.

#![expect(
    clippy::panic,
    clippy::print_stderr,
    reason = "a test helper: failing loudly, and saying why a suite is skipped, is its job"
)]

pub mod bedrock;
mod cut;
mod db;
pub mod openai;

pub use bedrock::FakeBedrock;
pub use cut::CutProxy;
pub use db::{admin_url, postgres_required, TestDb};
pub use openai::{FakeOpenAi, Recorded};
