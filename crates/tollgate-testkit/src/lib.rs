//! Test helpers shared by Tollgate's test suites: throwaway PostgreSQL databases and SQLite
//! files. Every database a test makes has a unique name and is dropped when the test ends.

#![expect(
    clippy::panic,
    clippy::print_stderr,
    reason = "a test helper: failing loudly, and saying why a suite is skipped, is its job"
)]

mod db;

pub use db::{postgres_required, TestDb};
