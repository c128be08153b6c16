//! HTTP-level tests of the gateway: a real server on loopback, a real SQLite file or PostgreSQL
//! database per test. Each scenario runs on both stores through the `both!` macro.

#[cfg(test)]
mod common;

#[cfg(test)]
mod access;
#[cfg(test)]
mod audit;
#[cfg(test)]
mod bad_input;
#[cfg(test)]
mod budgets;
#[cfg(test)]
mod cli;
#[cfg(test)]
mod cloud;
#[cfg(test)]
mod conformance;
#[cfg(test)]
mod cooldowns;
#[cfg(test)]
mod crash;
#[cfg(test)]
mod customers;
#[cfg(test)]
mod fallback_kinds;
#[cfg(test)]
mod inference;
#[cfg(test)]
mod keys;
#[cfg(test)]
mod lifecycle;
#[cfg(test)]
mod messages;
#[cfg(test)]
mod models;
#[cfg(test)]
mod orgs;
#[cfg(test)]
mod outage;
#[cfg(test)]
mod propagation;
#[cfg(test)]
mod redis_link;
#[cfg(test)]
mod replicas;
#[cfg(test)]
mod reports;
#[cfg(test)]
mod retries;
#[cfg(test)]
mod routing;
#[cfg(test)]
mod shutdown;
#[cfg(test)]
mod soak;
#[cfg(test)]
mod spend;
#[cfg(test)]
mod teams;
#[cfg(test)]
mod users;
