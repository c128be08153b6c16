//! The one middleware, around the whole route table: authentication (the public allowlist
//! aside), errors of Anthropic-format routes in Anthropic's envelope, and the request's log line.
//!
//! It wraps the router as a whole rather than each route (`Router::layer`): layered per route,
//! every call cloned and boxed the route's service twice and boxed its future twice more, on
//! top of what the router itself does. Here a call is one boxed future around the router's.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use tower::Service;

use super::{dialect, log};
use crate::auth;
use crate::state::AppState;

/// The gateway's HTTP service: [`front`] around the route table.
#[derive(Clone)]
pub struct Front {
    state: AppState,
    routes: Router,
}

impl Front {
    pub fn new(state: AppState, routes: Router) -> Self {
        Self { state, routes }
    }
}

impl<B> Service<axum::http::Request<B>> for Front
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        let (state, routes) = (self.state.clone(), self.routes.clone());
        Box::pin(async move { Ok(front(state, routes, req.map(Body::new)).await) })
    }
}

async fn front(state: AppState, mut routes: Router, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let response = match auth::authenticate(&state, req).await {
        Ok(req) => match routes.call(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        Err(e) => e.into_response(),
    };
    let response = if dialect::is_anthropic(uri.path()) {
        dialect::anthropic_errors(response)
    } else {
        response
    };
    log::record(&method, uri.path(), started, &response);
    response
}
