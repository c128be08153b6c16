//! HTTP-level tests of the gateway: a real server on loopback, a real SQLite file or PostgreSQL
//! database per test. Each scenario runs on both stores through the `both!` macro.

mod common;

mod access;
mod audit;
mod bad_input;
mod budgets;
mod customers;
mod keys;
mod lifecycle;
mod orgs;
mod teams;
mod users;
