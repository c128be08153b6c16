//! Tollgate, an LLM gateway: the HTTP server, its configuration, authentication, limits and the
//! management API. `app()` builds the router; `run()` serves it on a listener.

pub mod config;
pub mod limits;
