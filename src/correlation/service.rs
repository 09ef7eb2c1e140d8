//! [`Correlation`]: the server-side service.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::make::{MakeCorrelationId, UuidV7};
use super::part::{Config, CorrelationPart};
use crate::engine::{self, Unclassified};

/// Middleware that gives every request a correlation ID. Made by
/// [`CorrelationLayer`](super::CorrelationLayer).
#[derive(Debug)]
pub struct Correlation<S, M = UuidV7> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config<M>>,
}

impl<S: Clone, M> Clone for Correlation<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S, M> Correlation<S, M> {
    define_inner_service_accessors!();
}

impl<S, M, ReqBody, ResBody> Service<Request<ReqBody>> for Correlation<S, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: 'static,
    ResBody: http_body::Body,
    M: MakeCorrelationId,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        engine::call(&self.config, Unclassified, &mut self.inner, request)
    }
}

/// Response future of [`Correlation`].
pub type ResponseFuture<F> = engine::ResponseFuture<F, CorrelationPart, Unclassified>;

/// Response body of [`Correlation`]: passes every frame through unchanged, polls the inner
/// body inside the request span with the ID current (so events from a streaming body carry the
/// correlation ID), and writes the access log at the end of the stream, on a body error, or
/// when dropped before the end.
pub type ResponseBody<B> = engine::ResponseBody<B, CorrelationPart, Unclassified>;
