//! Test helpers shared by Tollgate's test suites: throwaway PostgreSQL databases and SQLite
//! files. Every database a test makes has a unique name and is dropped when the test ends.

mod db;

pub use db::{postgres_required, TestDb};
