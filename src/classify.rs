//! The one success/failure policy, shared by metrics and (through them) SLO rules.
//!
//! Policies are `tower_http::classify` classifiers, re-exported here: they already know HTTP
//! status codes and gRPC status in headers and trailers. This module adds what metrics need on
//! top: a bounded `error.type` label for each failure class ([`ErrorType`]), a classifier
//! built from a closure over the status code ([`StatusClassifier`]), and the gRPC classifier of
//! the gRPC presets ([`GrpcStatusClassifier`]), which also judges responses that carry no
//! `grpc-status`.
//!
//! | policy | failures | use |
//! |---|---|---|
//! | [`ServerErrorsAsFailures`] | 5xx | servers (the default) |
//! | [`StatusInRangeAsFailures`] | a status range, e.g. 400–599 | clients (the default), or servers that count 4xx |
//! | [`StatusClassifier`] | whatever the closure says | anything else |
//! | [`GrpcStatusClassifier::for_server`] | the gRPC codes the RPC conventions call server errors | gRPC servers |
//! | [`GrpcStatusClassifier::for_client`] | every gRPC code but OK | gRPC clients |
//!
//! [`OperationLayer`](crate::OperationLayer), which wraps any `tower::Service`, takes a
//! [`ClassifyOutcome`]: [`OnlyErrors`] (the default), the HTTP policies above for services that
//! answer `http::Response`, or a closure returning a [`Failure`].
//!
//! The same policy decides metric outcomes (`MetricsLayer`) and span status (`TraceLayer`). A
//! service error (the inner service returned `Err`) is always a failure, named by
//! [`error_type_of`] (`connect`, `timeout`, an `io::ErrorKind`, the error type's own name,
//! `_OTHER`; a layer's `error_types` mapping first); an HTTP response dropped before its end is `error.type="cancelled"`
//! ([`CANCELLED`]). A gRPC call dropped before its end is `rpc.status_code="CANCELLED"`, not a
//! failure, unless its deadline had passed (DEADLINE_EXCEEDED, a failure).

use std::fmt;
use std::sync::Arc;

use http::{Response, StatusCode};

pub use crate::error_type::{ErrorRef, ErrorTypeFn, error_type_of};
pub use tower_http::classify::{
    ClassifiedResponse, ClassifyEos, ClassifyResponse, GrpcErrorsAsFailures, GrpcFailureClass,
    MakeClassifier, NeverClassifyEos, ServerErrorsAsFailures, ServerErrorsFailureClass,
    SharedClassifier, StatusInRangeAsFailures, StatusInRangeFailureClass,
};

/// Decides whether a successful outcome of type `R` is a failure: the policy of
/// [`OperationLayer`](crate::OperationLayer), which wraps any `tower::Service`, not only HTTP.
///
/// Implemented by [`OnlyErrors`] (every `Ok` is a success), by the HTTP policies the other
/// layers use, for `http::Response` outcomes ([`ServerErrorsAsFailures`],
/// [`StatusInRangeAsFailures`], [`StatusClassifier`]: the same statuses fail an operation as
/// fail the request's metrics and span), and by closures `Fn(&R) -> Option<Failure>`.
pub trait ClassifyOutcome<R> {
    /// `None` for a success, else why it failed.
    fn classify_outcome(&self, outcome: &R) -> Option<Failure>;
}

/// Why a successful outcome counts as a failure: its `error.type` label.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// An HTTP status, recorded as its three digits.
    Status(StatusCode),
    /// A fixed name from a bounded set, such as `timeout` or `rejected`.
    Named(&'static str),
}

impl Failure {
    /// The `error.type` label.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Status(status) => status.as_str(),
            Self::Named(name) => name,
        }
    }
}

/// Every `Ok` outcome is a success; only `Err` fails (named by [`error_type_of`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct OnlyErrors;

impl<R> ClassifyOutcome<R> for OnlyErrors {
    fn classify_outcome(&self, _outcome: &R) -> Option<Failure> {
        None
    }
}

impl<R, F> ClassifyOutcome<R> for F
where
    F: Fn(&R) -> Option<Failure>,
{
    fn classify_outcome(&self, outcome: &R) -> Option<Failure> {
        self(outcome)
    }
}

/// A failed status of an HTTP policy, as an operation's failure.
fn status_failure<C, B>(policy: C, response: &Response<B>) -> Option<Failure>
where
    C: ClassifyResponse,
{
    match policy.classify_response(response) {
        ClassifiedResponse::Ready(Err(_)) => Some(Failure::Status(response.status())),
        ClassifiedResponse::Ready(Ok(())) | ClassifiedResponse::RequiresEos(_) => None,
    }
}

impl<B> ClassifyOutcome<Response<B>> for ServerErrorsAsFailures {
    fn classify_outcome(&self, response: &Response<B>) -> Option<Failure> {
        status_failure(self.clone(), response)
    }
}

impl<B> ClassifyOutcome<Response<B>> for StatusInRangeAsFailures {
    fn classify_outcome(&self, response: &Response<B>) -> Option<Failure> {
        status_failure(self.clone(), response)
    }
}

impl<B> ClassifyOutcome<Response<B>> for StatusClassifier {
    fn classify_outcome(&self, response: &Response<B>) -> Option<Failure> {
        status_failure(self.clone(), response)
    }
}

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
            Self::Status(status) => crate::rpc::status_name(status.code_raw()),
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

/// The policy of gRPC servers per the OpenTelemetry RPC conventions:
/// [`GrpcStatusClassifier::for_server`], shared.
pub fn grpc_server_errors() -> SharedClassifier<GrpcStatusClassifier> {
    SharedClassifier::new(GrpcStatusClassifier::for_server())
}

/// The policy of gRPC clients per the OpenTelemetry RPC conventions:
/// [`GrpcStatusClassifier::for_client`], shared.
pub fn grpc_client_errors() -> SharedClassifier<GrpcStatusClassifier> {
    SharedClassifier::new(GrpcStatusClassifier::for_client())
}

pub use tower_http::classify::GrpcCode;

/// Which gRPC status codes fail a call, read from the response head (trailers-only
/// responses) or the trailers, with `error.type` the status name (`UNAVAILABLE`).
///
/// Unlike `tower_http`'s `GrpcErrorsAsFailures`, a response that is not a gRPC answer is not a
/// success: a head without `grpc-status` and with an HTTP status other than 200 (a proxy's
/// 503) has the code of gRPC's HTTP-to-gRPC mapping (UNAVAILABLE for 429, 502, 503, 504;
/// UNIMPLEMENTED for 404; ...), and a stream that ends without a `grpc-status` is UNKNOWN, as
/// gRPC clients report them.
///
/// ```
/// use tower_telemetry::classify::{GrpcCode, GrpcStatusClassifier};
///
/// use tower_telemetry::classify::{ClassifiedResponse, ClassifyResponse, ErrorType};
///
/// // A server that also counts RESOURCE_EXHAUSTED (it sheds load) against its availability.
/// let policy = GrpcStatusClassifier::for_server().with_failure(GrpcCode::ResourceExhausted);
/// let answer = |code: &'static str| {
///     // A trailers-only answer: the status in the head.
///     let response = http::Response::builder().header("grpc-status", code).body(()).unwrap();
///     match policy.clone().classify_response(&response) {
///         ClassifiedResponse::Ready(Err(failure)) => Some(failure.error_type().to_owned()),
///         _ => None,
///     }
/// };
/// assert_eq!(answer("8").as_deref(), Some("RESOURCE_EXHAUSTED"));
/// assert_eq!(answer("14").as_deref(), Some("UNAVAILABLE"));
/// assert_eq!(answer("5"), None, "NOT_FOUND is the caller's business");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrpcStatusClassifier {
    /// Bit `n` set: code `n` is a failure.
    failures: u32,
}

impl GrpcStatusClassifier {
    /// The codes the conventions call server errors fail a call: UNKNOWN, DEADLINE_EXCEEDED,
    /// UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS. OK and the caller-caused codes
    /// (CANCELLED, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
    /// RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, UNAUTHENTICATED) are
    /// successes.
    pub fn for_server() -> Self {
        Self {
            failures: [2, 4, 12, 13, 14, 15]
                .iter()
                .fold(0, |bits, code| bits | 1 << code),
        }
    }

    /// Every code but OK fails a call, as the conventions have it for clients.
    pub fn for_client() -> Self {
        Self {
            failures: ((1 << 17) - 1) & !1,
        }
    }

    /// Makes `code` a failure.
    pub fn with_failure(mut self, code: GrpcCode) -> Self {
        self.failures |= 1 << code_number(code);
        self
    }

    /// Makes `code` a success.
    pub fn with_success(mut self, code: GrpcCode) -> Self {
        self.failures &= !(1 << code_number(code));
        self
    }

    fn decide(self, code: i32) -> Result<(), GrpcFailure> {
        let failed = u32::try_from(code)
            .ok()
            .and_then(|bit| 1_u32.checked_shl(bit))
            .is_some_and(|bit| self.failures & bit != 0);
        if failed {
            Err(GrpcFailure::Status(code))
        } else {
            Ok(())
        }
    }
}

fn code_number(code: GrpcCode) -> i32 {
    match code {
        GrpcCode::Ok => 0,
        GrpcCode::Cancelled => 1,
        GrpcCode::InvalidArgument => 3,
        GrpcCode::DeadlineExceeded => 4,
        GrpcCode::NotFound => 5,
        GrpcCode::AlreadyExists => 6,
        GrpcCode::PermissionDenied => 7,
        GrpcCode::ResourceExhausted => 8,
        GrpcCode::FailedPrecondition => 9,
        GrpcCode::Aborted => 10,
        GrpcCode::OutOfRange => 11,
        GrpcCode::Unimplemented => 12,
        GrpcCode::Internal => 13,
        GrpcCode::Unavailable => 14,
        GrpcCode::DataLoss => 15,
        GrpcCode::Unauthenticated => 16,
        // UNKNOWN, and any code a later tower-http names.
        _ => 2,
    }
}

/// The failure class of [`GrpcStatusClassifier`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrpcFailure {
    /// The call ended with this status code (a number of the gRPC protocol).
    Status(i32),
    /// The service failed with an error (its message).
    Error(String),
}

impl fmt::Display for GrpcFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(code) => write!(f, "gRPC status {}", crate::rpc::status_name(*code)),
            Self::Error(message) => write!(f, "error: {message}"),
        }
    }
}

impl ErrorType for GrpcFailure {
    fn error_type(&self) -> &str {
        match self {
            Self::Status(code) => crate::rpc::status_name(*code),
            Self::Error(_) => OTHER,
        }
    }
}

impl ClassifyResponse for GrpcStatusClassifier {
    type FailureClass = GrpcFailure;
    type ClassifyEos = GrpcStatusEos;

    fn classify_response<B>(
        self,
        response: &Response<B>,
    ) -> ClassifiedResponse<Self::FailureClass, Self::ClassifyEos> {
        match crate::rpc::head_status(response.status(), response.headers()) {
            Some(code) => ClassifiedResponse::Ready(self.decide(code)),
            None => ClassifiedResponse::RequiresEos(GrpcStatusEos(self)),
        }
    }

    fn classify_error<E>(self, error: &E) -> Self::FailureClass
    where
        E: fmt::Display + 'static,
    {
        GrpcFailure::Error(error.to_string())
    }
}

/// The end-of-stream half of [`GrpcStatusClassifier`]: the status in the trailers, UNKNOWN
/// when there is none.
#[derive(Clone, Copy, Debug)]
pub struct GrpcStatusEos(GrpcStatusClassifier);

impl ClassifyEos for GrpcStatusEos {
    type FailureClass = GrpcFailure;

    fn classify_eos(self, trailers: Option<&http::HeaderMap>) -> Result<(), Self::FailureClass> {
        let code = trailers
            .and_then(crate::rpc::parse_status)
            .unwrap_or(crate::rpc::UNKNOWN);
        self.0.decide(code)
    }

    fn classify_error<E>(self, error: &E) -> Self::FailureClass
    where
        E: fmt::Display + 'static,
    {
        GrpcFailure::Error(error.to_string())
    }
}

/// A classifier from a closure that says which status codes are failures.
///
/// ```
/// use http::StatusCode;
/// use tower_telemetry::classify::StatusClassifier;
///
/// use tower_telemetry::classify::{ClassifiedResponse, ClassifyResponse, ErrorType};
///
/// // 5xx, and 429 (we shed load), are failures; other 4xx are the client's business.
/// let policy = StatusClassifier::new(|status: StatusCode| {
///     status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
/// });
/// let answer = |status: u16| {
///     let response = http::Response::builder().status(status).body(()).unwrap();
///     match policy.clone().classify_response(&response) {
///         ClassifiedResponse::Ready(Err(failure)) => Some(failure.error_type().to_owned()),
///         _ => None,
///     }
/// };
/// assert_eq!(answer(429).as_deref(), Some("429"));
/// assert_eq!(answer(503).as_deref(), Some("503"));
/// assert_eq!(answer(404), None);
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
        assert_eq!(failure.error_type(), "UNAVAILABLE");
        assert!(verdict.at_end(Some(&trailers)).is_none(), "decided once");

        // Ours: the same, and a stream that ends without a status is UNKNOWN, a failure.
        let ours = GrpcStatusClassifier::for_client();
        assert_eq!(classify(ours, 200), Some("eos".to_owned()));
        let mut verdict = Verdict::of_head(ours, &response);
        assert_eq!(
            verdict.at_end(None).unwrap().to_string(),
            "gRPC status UNKNOWN"
        );
        let mut verdict = Verdict::of_head(GrpcStatusClassifier::for_server(), &response);
        assert_eq!(
            verdict.at_end(Some(&trailers)).unwrap().error_type(),
            "UNAVAILABLE"
        );
    }

    #[test]
    fn a_head_that_is_not_a_grpc_answer_has_the_mapped_code() {
        let client = GrpcStatusClassifier::for_client();
        assert_eq!(classify(client, 503).as_deref(), Some("UNAVAILABLE"));
        assert_eq!(classify(client, 404).as_deref(), Some("UNIMPLEMENTED"));
        assert_eq!(classify(client, 401).as_deref(), Some("UNAUTHENTICATED"));
        let server = GrpcStatusClassifier::for_server();
        assert_eq!(classify(server, 401), None, "the caller's doing");
        let shedding = server.with_failure(GrpcCode::Unauthenticated);
        assert_eq!(classify(shedding, 401).as_deref(), Some("UNAUTHENTICATED"));
        let lenient = client.with_success(GrpcCode::Unavailable);
        assert_eq!(classify(lenient, 503), None);
        let error = client.classify_error(&"boom");
        assert_eq!(
            (error.error_type(), error.to_string()),
            (OTHER, "error: boom".to_owned())
        );
        let eos = GrpcStatusEos(client).classify_error(&"boom");
        assert_eq!(eos, GrpcFailure::Error("boom".into()));
        assert_eq!(code_number(GrpcCode::Unknown), 2);
        for (code, number) in [
            (GrpcCode::Ok, 0),
            (GrpcCode::Cancelled, 1),
            (GrpcCode::InvalidArgument, 3),
            (GrpcCode::DeadlineExceeded, 4),
            (GrpcCode::NotFound, 5),
            (GrpcCode::AlreadyExists, 6),
            (GrpcCode::PermissionDenied, 7),
            (GrpcCode::ResourceExhausted, 8),
            (GrpcCode::FailedPrecondition, 9),
            (GrpcCode::Aborted, 10),
            (GrpcCode::OutOfRange, 11),
            (GrpcCode::Unimplemented, 12),
            (GrpcCode::Internal, 13),
            (GrpcCode::Unavailable, 14),
            (GrpcCode::DataLoss, 15),
            (GrpcCode::Unauthenticated, 16),
        ] {
            assert_eq!(code_number(code), number, "{code:?}");
        }
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
    fn grpc_server_policy_fails_only_server_codes_and_the_client_policy_all_but_ok() {
        for code in 0..=17 {
            let response = Response::builder()
                .header("grpc-status", code.to_string())
                .body(())
                .unwrap();
            let failed = |policy: SharedClassifier<GrpcStatusClassifier>| {
                matches!(
                    policy
                        .make_classifier(&http::Request::new(()))
                        .classify_response(&response),
                    ClassifiedResponse::Ready(Err(_))
                )
            };
            assert_eq!(
                failed(grpc_server_errors()),
                // 17 is no code of the protocol: UNKNOWN.
                [2, 4, 12, 13, 14, 15, 17].contains(&code),
                "grpc-status {code}"
            );
            assert_eq!(
                failed(grpc_client_errors()),
                code != 0,
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
        for (code, expected) in [
            ("5", "NOT_FOUND"),
            ("16", "UNAUTHENTICATED"),
            ("99", "UNKNOWN"),
            ("-1", "UNKNOWN"),
        ] {
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
