//! HTTP plumbing: the route table, error rendering, extractors and request logging.

pub mod dialect;
pub mod error;
pub mod extract;
pub mod fallback;
pub mod health;
pub mod layer;
pub mod log;
pub mod patch;
pub mod routes;
pub mod serve;

pub use error::{Error, Result};
pub use extract::{Body, Params};
pub use patch::Patch;
