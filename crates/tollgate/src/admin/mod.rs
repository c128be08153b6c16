//! The management API: keys, teams, users, organizations, customers, budgets and the audit log.
//! Handlers check what the caller may do, validate, and write one atomic batch per request
//! (the change and its audit entry together).

pub mod audit;
pub mod budgets;
pub mod common;
pub mod customers;
pub mod keys;
pub mod models;
pub mod orgs;
pub mod teams;
pub mod users;
