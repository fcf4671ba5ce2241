//! A deadline on a gRPC request's body: a client that opens a call and
//! trickles (or never finishes) its request message must not hold the
//! call, its buffer and its connection's stream slot without end.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;
use tonic::server::NamedService;
use tower::{BoxError, Service};

use crate::error::GatewayError;

/// Wraps a gRPC service: the request body of each call must arrive within
/// `timeout` of the first wait for it, or the call fails with
/// DEADLINE_EXCEEDED (reason `REQUEST_BODY_TIMEOUT`).
#[derive(Clone)]
pub struct BodyDeadline<S> {
    inner: S,
    timeout: Duration,
}

impl<S> BodyDeadline<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

impl<S: NamedService> NamedService for BodyDeadline<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<Request<B>> for BodyDeadline<S>
where
    S: Service<Request<TimedBody<B>>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let timeout = self.timeout;
        self.inner.call(request.map(|body| TimedBody {
            body,
            timeout,
            sleep: None,
        }))
    }
}

/// A request body that fails if it has not ended `timeout` after it was
/// first waited for.
pub struct TimedBody<B> {
    body: B,
    timeout: Duration,
    /// Made only when the body first has to be waited for: a request that
    /// arrived whole (the usual case) never touches the timer.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let timeout = this.timeout;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(sleep.as_mut().poll(cx));
        let status = super::status(GatewayError::RequestBodyTimeout { timeout });
        Poll::Ready(Some(Err(Box::new(status))))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
