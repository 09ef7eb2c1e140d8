//! The axum extractor for [`CorrelationId`].

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use super::CorrelationId;

/// Takes the request's correlation ID in an axum handler.
///
/// Extracting `CorrelationId` fails with [`MissingCorrelationId`] (a 500) when no
/// [`CorrelationLayer`](super::CorrelationLayer) ran before the handler, which is a wiring
/// mistake worth seeing; extract `Option<CorrelationId>` to accept both.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_telemetry::correlation::{CorrelationId, CorrelationLayer};
///
/// async fn handler(id: CorrelationId) -> String {
///     format!("your request is {id}")
/// }
///
/// let app: Router = Router::new()
///     .route("/", get(handler))
///     .layer(CorrelationLayer::new());
/// ```
impl<S: Send + Sync> FromRequestParts<S> for CorrelationId {
    type Rejection = MissingCorrelationId;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CorrelationId>()
            .cloned()
            .ok_or(MissingCorrelationId)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CorrelationId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<CorrelationId>().cloned())
    }
}

/// Rejection of the [`CorrelationId`] extractor: no `CorrelationLayer` ran before the handler.
///
/// Responds `500 Internal Server Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingCorrelationId;

impl std::fmt::Display for MissingCorrelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no correlation ID on this request: add `CorrelationLayer` to the router")
    }
}

impl std::error::Error for MissingCorrelationId {}

impl IntoResponse for MissingCorrelationId {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum::response::IntoResponse;
    use http::{Request, StatusCode};

    use super::*;

    #[tokio::test]
    async fn the_optional_extractor_and_the_rejection() {
        let (mut parts, ()) = Request::new(()).into_parts();
        let missing =
            <CorrelationId as OptionalFromRequestParts<()>>::from_request_parts(&mut parts, &())
                .await
                .unwrap();
        assert_eq!(missing, None);
        let rejection =
            <CorrelationId as FromRequestParts<()>>::from_request_parts(&mut parts, &())
                .await
                .unwrap_err();
        assert!(rejection.to_string().contains("CorrelationLayer"));
        assert_eq!(
            rejection.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );

        let id: CorrelationId = "req-7".parse().unwrap();
        parts.extensions.insert(id.clone());
        let found =
            <CorrelationId as OptionalFromRequestParts<()>>::from_request_parts(&mut parts, &())
                .await
                .unwrap();
        assert_eq!(found, Some(id));
    }
}
