//! HTTP-level tests of the gateway: a real server on loopback, a real SQLite file or PostgreSQL
//! database per test. Each scenario runs on both stores through the `both!` macro.

mod common;

mod access;
mod bad_input;
mod keys;
mod lifecycle;
mod teams;
mod users;
