//! The one success/failure policy, shared by metrics and (through them) SLO rules.
//!
//! Policies are `tower_http::classify` classifiers, re-exported here: they already know HTTP
//! status codes and gRPC status in headers and trailers. This module adds what metrics need on
//! top: a bounded `error.type` label for each failure class ([`ErrorType`]), and a classifier
//! built from a closure over the status code ([`StatusClassifier`]).
//!
//! | policy | failures | use |
//! |---|---|---|
//! | [`ServerErrorsAsFailures`] | 5xx | servers (the default) |
//! | [`StatusInRangeAsFailures`] | a status range, e.g. 400–599 | clients (the default), or servers that count 4xx |
//! | [`StatusClassifier`] | whatever the closure says | anything else |
//!
//! The same policy decides metric outcomes (`MetricsLayer`) and span status (`TraceLayer`). A
//! service error (the inner service returned `Err`) is always a failure, with the error's type
//! name as `error.type`; a response dropped before its end is `error.type="cancelled"`
//! ([`CANCELLED`]).

use std::fmt;
use std::sync::Arc;

use http::{Response, StatusCode};
pub use tower_http::classify::{
    ClassifiedResponse, ClassifyEos, ClassifyResponse, GrpcErrorsAsFailures, GrpcFailureClass,
    MakeClassifier, NeverClassifyEos, ServerErrorsAsFailures, ServerErrorsFailureClass,
    SharedClassifier, StatusInRangeAsFailures, StatusInRangeFailureClass,
};

/// The `error.type` label of a failure: a short value from a bounded set.
pub trait ErrorType {
    /// The label value.
    fn error_type(&self) -> &str;
}

/// The value for failures whose detail is not a bounded label (an error message).
pub const OTHER: &str = "_OTHER";

/// The `error.type` of a request whose response future or body was dropped before the end:
/// the client went away.
pub const CANCELLED: &str = "cancelled";

impl ErrorType for ServerErrorsFailureClass {
    fn error_type(&self) -> &str {
        match self {
            Self::StatusCode(status) => status.as_str(),
            Self::Error(_) => OTHER,
        }
    }
}

impl ErrorType for StatusInRangeFailureClass {
    fn error_type(&self) -> &str {
        match self {
            Self::StatusCode(status) => status.as_str(),
            Self::Error(_) => OTHER,
        }
    }
}

impl ErrorType for GrpcFailureClass {
    fn error_type(&self) -> &str {
        match self {
            Self::Status(status) => grpc_code(status.code_raw()),
            // `Error(message)`, and any class a later tower-http adds.
            _ => OTHER,
        }
    }
}

/// The classification of one response, carried from its head to the end of its body: decided
/// by the head (HTTP statuses, gRPC trailers-only responses), or waiting for the trailers
/// (gRPC). Shared by the metrics and trace layers so that both reach the same outcome.
///
/// It appears in the response body types of those layers; it has no public methods.
pub struct Verdict<E: ClassifyEos> {
    state: Option<Pending<E>>,
}

impl<E: ClassifyEos> fmt::Debug for Verdict<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verdict").finish_non_exhaustive()
    }
}

enum Pending<E: ClassifyEos> {
    Failed(E::FailureClass),
    AtEnd(E),
}

impl<E: ClassifyEos> Verdict<E> {
    /// Classifies a response head.
    pub(crate) fn of_head<C, B>(classifier: C, response: &Response<B>) -> Self
    where
        C: ClassifyResponse<FailureClass = E::FailureClass, ClassifyEos = E>,
    {
        let state = match classifier.classify_response(response) {
            ClassifiedResponse::Ready(Ok(())) => None,
            ClassifiedResponse::Ready(Err(class)) => Some(Pending::Failed(class)),
            ClassifiedResponse::RequiresEos(eos) => Some(Pending::AtEnd(eos)),
        };
        Self { state }
    }

    /// At the end of the stream, with its trailers if any: the failure, if the response is one.
    pub(crate) fn at_end(&mut self, trailers: Option<&http::HeaderMap>) -> Option<E::FailureClass> {
        match self.state.take()? {
            Pending::Failed(class) => Some(class),
            Pending::AtEnd(eos) => eos.classify_eos(trailers).err(),
        }
    }
}

/// The policy of gRPC servers per the OpenTelemetry RPC conventions: failures are the codes
/// that mean the server failed (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
/// UNAVAILABLE, DATA_LOSS); OK and the caller-caused codes (CANCELLED, INVALID_ARGUMENT,
/// NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION,
/// ABORTED, OUT_OF_RANGE, UNAUTHENTICATED) are successes. Status in headers or trailers.
///
/// Clients use `GrpcErrorsAsFailures::make_classifier()`: any code but OK fails the call.
pub fn grpc_server_errors() -> SharedClassifier<GrpcErrorsAsFailures> {
    use tower_http::classify::GrpcCode;
    let caller_caused = [
        GrpcCode::Cancelled,
        GrpcCode::InvalidArgument,
        GrpcCode::NotFound,
        GrpcCode::AlreadyExists,
        GrpcCode::PermissionDenied,
        GrpcCode::ResourceExhausted,
        GrpcCode::FailedPrecondition,
        GrpcCode::Aborted,
        GrpcCode::OutOfRange,
        GrpcCode::Unauthenticated,
    ];
    SharedClassifier::new(caller_caused.into_iter().fold(
        GrpcErrorsAsFailures::new(),
        GrpcErrorsAsFailures::with_success,
    ))
}

/// gRPC status codes as text, without allocating.
pub(crate) fn grpc_code(code: i32) -> &'static str {
    const CODES: [&str; 17] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| CODES.get(i))
        .copied()
        .unwrap_or(OTHER)
}

/// A classifier from a closure that says which status codes are failures.
///
/// ```
/// use http::StatusCode;
/// use tower_telemetry::classify::StatusClassifier;
///
/// // 5xx, and 429 (we shed load), are failures; other 4xx are the client's business.
/// let policy = StatusClassifier::new(|status: StatusCode| {
///     status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
/// });
/// # let _ = policy;
/// ```
#[derive(Clone)]
pub struct StatusClassifier {
    is_failure: Arc<dyn Fn(StatusCode) -> bool + Send + Sync>,
}

impl StatusClassifier {
    /// A classifier for which `is_failure(status)` decides.
    pub fn new<F>(is_failure: F) -> Self
    where
        F: Fn(StatusCode) -> bool + Send + Sync + 'static,
    {
        Self {
            is_failure: Arc::new(is_failure),
        }
    }
}

impl fmt::Debug for StatusClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusClassifier").finish_non_exhaustive()
    }
}

/// The failure class of [`StatusClassifier`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusFailure {
    /// The response had a status the closure called a failure.
    StatusCode(StatusCode),
    /// The service failed with an error (its message).
    Error(String),
}

impl fmt::Display for StatusFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StatusCode(status) => write!(f, "status code {status}"),
            Self::Error(message) => write!(f, "error: {message}"),
        }
    }
}

impl ErrorType for StatusFailure {
    fn error_type(&self) -> &str {
        match self {
            Self::StatusCode(status) => status.as_str(),
            Self::Error(_) => OTHER,
        }
    }
}

impl ClassifyResponse for StatusClassifier {
    type FailureClass = StatusFailure;
    type ClassifyEos = NeverClassifyEos<StatusFailure>;

    fn classify_response<B>(
        self,
        response: &Response<B>,
    ) -> ClassifiedResponse<Self::FailureClass, Self::ClassifyEos> {
        let status = response.status();
        ClassifiedResponse::Ready(if (self.is_failure)(status) {
            Err(StatusFailure::StatusCode(status))
        } else {
            Ok(())
        })
    }

    fn classify_error<E>(self, error: &E) -> Self::FailureClass
    where
        E: fmt::Display + 'static,
    {
        StatusFailure::Error(error.to_string())
    }
}

impl MakeClassifier for StatusClassifier {
    type Classifier = Self;
    type FailureClass = StatusFailure;
    type ClassifyEos = NeverClassifyEos<StatusFailure>;

    fn make_classifier<B>(&self, _request: &http::Request<B>) -> Self::Classifier {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_policies_wait_for_the_trailers_when_the_head_has_no_status() {
        assert_eq!(
            classify(GrpcErrorsAsFailures::new(), 200),
            Some("eos".to_owned())
        );
        let response = Response::builder().status(200).body(()).unwrap();
        let mut verdict = Verdict::of_head(GrpcErrorsAsFailures::new(), &response);
        assert_eq!(format!("{verdict:?}"), "Verdict { .. }");
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", "14".parse().unwrap());
        let failure = verdict.at_end(Some(&trailers)).unwrap();
        assert_eq!(failure.error_type(), "14");
        assert!(verdict.at_end(Some(&trailers)).is_none(), "decided once");
    }

    fn classify<C: ClassifyResponse>(classifier: C, status: u16) -> Option<String>
    where
        C::FailureClass: ErrorType,
    {
        let response = Response::builder().status(status).body(()).unwrap();
        match classifier.classify_response(&response) {
            ClassifiedResponse::Ready(Ok(())) => None,
            ClassifiedResponse::Ready(Err(class)) => Some(class.error_type().to_owned()),
            ClassifiedResponse::RequiresEos(_) => Some("eos".to_owned()),
        }
    }

    #[test]
    fn policies_and_their_error_types() {
        assert_eq!(classify(ServerErrorsAsFailures::new(), 200), None);
        assert_eq!(classify(ServerErrorsAsFailures::new(), 404), None);
        assert_eq!(
            classify(ServerErrorsAsFailures::new(), 503).as_deref(),
            Some("503")
        );
        let client = StatusInRangeAsFailures::new_for_client_and_server_errors();
        assert_eq!(classify(client.clone(), 404).as_deref(), Some("404"));
        assert_eq!(classify(client, 302), None);
        let custom = StatusClassifier::new(|s| s == StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(classify(custom.clone(), 429).as_deref(), Some("429"));
        assert_eq!(classify(custom.clone(), 500), None);
        assert!(format!("{custom:?}").starts_with("StatusClassifier"));
        let made = custom.make_classifier(&http::Request::new(()));
        assert_eq!(classify(made, 429).as_deref(), Some("429"));
    }

    #[test]
    fn grpc_server_policy_fails_only_server_codes() {
        for code in 0..=16 {
            let response = Response::builder()
                .header("grpc-status", code.to_string())
                .body(())
                .unwrap();
            let failed = matches!(
                grpc_server_errors()
                    .make_classifier(&http::Request::new(()))
                    .classify_response(&response),
                ClassifiedResponse::Ready(Err(_))
            );
            assert_eq!(
                failed,
                [2, 4, 12, 13, 14, 15].contains(&code),
                "grpc-status {code}"
            );
        }
    }

    #[test]
    fn error_classes_map_to_bounded_values() {
        assert_eq!(
            ServerErrorsFailureClass::Error("boom".into()).error_type(),
            OTHER
        );
        assert_eq!(
            StatusInRangeFailureClass::Error("boom".into()).error_type(),
            OTHER
        );
        assert_eq!(
            StatusInRangeFailureClass::StatusCode(StatusCode::CONFLICT).error_type(),
            "409"
        );
        for (code, expected) in [("5", "5"), ("16", "16"), ("99", OTHER), ("-1", OTHER)] {
            let response = Response::builder()
                .header("grpc-status", code)
                .body(())
                .unwrap();
            let classified = GrpcErrorsAsFailures::new().classify_response(&response);
            let ClassifiedResponse::Ready(Err(class)) = classified else {
                panic!("grpc-status {code} in the head is a failure");
            };
            assert_eq!(class.error_type(), expected, "grpc-status {code}");
        }
        assert_eq!(GrpcFailureClass::Error("x".into()).error_type(), OTHER);
        let error = StatusClassifier::new(|_| false).classify_error(&"timed out");
        assert_eq!(error.error_type(), OTHER);
        assert_eq!(error.to_string(), "error: timed out");
        assert_eq!(
            StatusFailure::StatusCode(StatusCode::BAD_GATEWAY).to_string(),
            "status code 502 Bad Gateway"
        );
    }
}
