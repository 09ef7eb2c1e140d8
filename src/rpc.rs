//! One gRPC call as the OpenTelemetry RPC conventions describe it, shared by the span and the
//! metrics record so that both say the same: the method (`rpc.method`, or `_OTHER` for methods
//! the server does not know), the status (`rpc.status_code` as the status name), the deadline,
//! and how the call ended (`error.type` only when it failed).
//!
//! The conventions followed are those of semantic-conventions v1.44.0 (`model/rpc/`,
//! `docs/rpc/grpc.md`), where `rpc.status_code` replaced `rpc.response.status_code` and
//! `rpc.grpc.status_code`, `rpc.system.name` replaced `rpc.system`, and `rpc.method` is the
//! fully-qualified `package.Service/Method` (`rpc.service` is deprecated).

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode};

use crate::engine::End;

/// The names of the gRPC status codes, by code.
const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

pub(crate) const CANCELLED: i32 = 1;
pub(crate) const UNKNOWN: i32 = 2;
pub(crate) const DEADLINE_EXCEEDED: i32 = 4;
pub(crate) const UNIMPLEMENTED: i32 = 12;

/// The name of a status code; a code outside the 17 of the protocol is UNKNOWN, as gRPC
/// clients read it.
pub(crate) fn status_name(code: i32) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or(NAMES[2])
}

/// The code of a `grpc-status` value; one that is not a number is UNKNOWN.
pub(crate) fn parse_status(headers: &HeaderMap) -> Option<i32> {
    let value = headers.get(crate::semconv::GRPC_STATUS)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i32>().ok())
            .filter(|code| (0..17).contains(code))
            .unwrap_or(UNKNOWN),
    )
}

/// The status a response head gives: its `grpc-status` (a trailers-only response), or for a
/// head that is not a gRPC answer (no `grpc-status`, HTTP status other than 200: a proxy's
/// error page) the code of gRPC's HTTP-to-gRPC status mapping; `None` when the status is still
/// to come in the trailers.
pub(crate) fn head_status(status: StatusCode, headers: &HeaderMap) -> Option<i32> {
    if let Some(code) = parse_status(headers) {
        return Some(code);
    }
    (status != StatusCode::OK).then(|| match status.as_u16() {
        400 => 13,                   // INTERNAL
        401 => 16,                   // UNAUTHENTICATED
        403 => 7,                    // PERMISSION_DENIED
        404 => UNIMPLEMENTED,        // UNIMPLEMENTED
        429 | 502 | 503 | 504 => 14, // UNAVAILABLE
        _ => UNKNOWN,
    })
}

/// The deadline a call carries in `grpc-timeout` (`1*8DIGIT` and a unit of `H M S m u n`); a
/// malformed value is no deadline.
pub(crate) fn deadline(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// How close to its deadline a dropped call counts as having missed it.
const DEADLINE_SLACK: Duration = Duration::from_millis(5);

/// `package.Service/Method` of a gRPC request path (`/package.Service/Method`), when it has
/// that shape: two non-empty segments of `A-Z a-z 0-9 _ .`, at most 256 bytes in all.
/// Anything else is not a gRPC method name and must not become a label.
pub(crate) fn method_of(path: &str) -> Option<&str> {
    let name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    };
    let full = path.strip_prefix('/')?;
    let (service, method) = full.split_once('/')?;
    (path.len() <= 256 && name(service) && name(method)).then_some(full)
}

/// The most methods a server learns from its answers; past it, new ones are `_OTHER`.
pub(crate) const MAX_LEARNED_METHODS: usize = 1000;

/// Which methods are recognized, so that only those are named in `rpc.method`.
///
/// A configured list (full names `package.Service/Method`, or a service name for all its
/// methods) decides alone. Without one, a client recognizes every well-formed method its stubs
/// call, and a server recognizes a method once it has answered a call to it with a status
/// other than UNIMPLEMENTED (what tonic's router answers for a method it does not have), up to
/// [`MAX_LEARNED_METHODS`].
#[derive(Debug)]
pub(crate) struct Methods {
    configured: Option<HashSet<Box<str>>>,
    server: bool,
    learned: RwLock<HashSet<Box<str>>>,
}

impl Methods {
    pub(crate) fn new(server: bool, configured: Option<&[Box<str>]>) -> Arc<Self> {
        Arc::new(Self {
            configured: configured.map(|list| list.iter().cloned().collect()),
            server,
            learned: RwLock::new(HashSet::new()),
        })
    }

    /// Whether `method` (`package.Service/Method`) is recognized now.
    pub(crate) fn knows(&self, method: &str) -> bool {
        if let Some(list) = &self.configured {
            let service = method.split_once('/').map_or(method, |(s, _)| s);
            return list.contains(method) || list.contains(service);
        }
        !self.server
            || self
                .learned
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(method)
    }

    /// A server answered `method` with `status`: it knows the method unless it said
    /// UNIMPLEMENTED.
    fn learn(&self, method: &str, status: i32) {
        if !self.server || self.configured.is_some() || status == UNIMPLEMENTED {
            return;
        }
        let mut learned = self.learned.write().unwrap_or_else(PoisonError::into_inner);
        if learned.len() < MAX_LEARNED_METHODS && !learned.contains(method) {
            learned.insert(method.into());
        }
    }
}

/// The state of one call, from its request to its end.
#[derive(Debug)]
pub(crate) struct Call {
    methods: Arc<Methods>,
    path: http::uri::PathAndQuery,
    /// Recognized when the call arrived.
    known: bool,
    start: Instant,
    deadline: Option<Duration>,
    /// The status seen so far, in the head or the trailers.
    status: Option<i32>,
}

/// What a finished call records.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Outcome<'a> {
    /// `rpc.method`: the method, or `_OTHER`.
    pub(crate) method: &'a str,
    /// `rpc.method_original`, when `method` is `_OTHER` (spans only).
    pub(crate) original: Option<&'a str>,
    /// `rpc.status_code`, when known.
    pub(crate) status: Option<&'static str>,
    /// `error.type`, only when the call failed.
    pub(crate) error_type: Option<&'a str>,
}

impl Call {
    pub(crate) fn start<B>(
        methods: &Arc<Methods>,
        request: &http::Request<B>,
        start: Instant,
    ) -> Self {
        let path = request
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        let known = method_of(path.path()).is_some_and(|m| methods.knows(m));
        Self {
            methods: Arc::clone(methods),
            known,
            path,
            start,
            deadline: deadline(request.headers()),
            status: None,
        }
    }

    /// `rpc.method` as known when the call arrived: the method, or `None` when it is not (yet)
    /// recognized.
    pub(crate) fn method_at_start(&self) -> Option<&str> {
        if self.known {
            method_of(self.path.path())
        } else {
            None
        }
    }

    /// Whether the span recorded the method (`rpc.method`, and `rpc.method_original` for
    /// `_OTHER`) when the call arrived: a recognized method always, and on a client any method,
    /// since nothing later tells a client more.
    #[cfg(feature = "trace")]
    pub(crate) fn method_recorded_at_start(&self) -> bool {
        self.known || !self.methods.server
    }

    /// The label value of `rpc.method` when the call arrived.
    #[cfg(feature = "metrics")]
    pub(crate) fn method_label(&self) -> &str {
        self.method_at_start().unwrap_or(crate::classify::OTHER)
    }

    /// The response head arrived.
    pub(crate) fn head(&mut self, status: StatusCode, headers: &HeaderMap) {
        if let Some(code) = head_status(status, headers) {
            self.status = Some(code);
        }
    }

    /// The trailers arrived.
    pub(crate) fn trailers(&mut self, trailers: &HeaderMap) {
        if let Some(code) = parse_status(trailers) {
            self.status = Some(code);
        }
    }

    /// Whether the call's deadline has passed. The server's own timer (tonic's, outside our
    /// layers) started a moment before ours and fires on a millisecond tick, so a call within
    /// [`DEADLINE_SLACK`] of its deadline counts as past it.
    fn past_deadline(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| self.start.elapsed() + DEADLINE_SLACK >= deadline)
    }

    /// `rpc.method` as known now, and `rpc.method_original` when that is `_OTHER`.
    pub(crate) fn method(&self) -> (&str, Option<&str>) {
        let full = method_of(self.path.path());
        let known = self.known || full.is_some_and(|m| self.methods.knows(m));
        match full {
            Some(method) if known => (method, None),
            _ => (
                crate::classify::OTHER,
                Some(self.path.path().trim_start_matches('/')),
            ),
        }
    }

    /// The call ended as the exchange says. Dropped before its end, the caller went away
    /// (CANCELLED, not a failure of the call) or its deadline passed (DEADLINE_EXCEEDED, a
    /// failure).
    pub(crate) fn end<'a>(&'a self, end: End<'a>) -> Outcome<'a> {
        let (status, error_type) = match end {
            // tonic answers a call whose deadline passed with CANCELLED ("Timeout expired");
            // gRPC calls that DEADLINE_EXCEEDED, a failure.
            End::Failure(_) | End::Success
                if self.status == Some(CANCELLED) && self.past_deadline() =>
            {
                (Some(DEADLINE_EXCEEDED), Some(NAMES[4]))
            }
            // The stream ended: its status, and UNKNOWN when it ended without one.
            End::Success => (Some(self.status.unwrap_or(UNKNOWN)), None),
            End::Failure(error_type) => (Some(self.status.unwrap_or(UNKNOWN)), Some(error_type)),
            // It failed before any status, or was dropped: the deadline if it had passed, else
            // the error's type, or CANCELLED.
            _ if self.past_deadline() => (Some(DEADLINE_EXCEEDED), Some(NAMES[4])),
            End::ServiceError(error_type) | End::BodyError(error_type) => {
                (self.status, Some(error_type))
            }
            End::Cancelled => (Some(CANCELLED), None),
        };
        if let (Some(method), Some(code), false) = (
            method_of(self.path.path()),
            self.status,
            matches!(end, End::Cancelled),
        ) {
            self.methods.learn(method, code);
        }
        let (method, original) = self.method();
        Outcome {
            method,
            original,
            status: status.map(status_name),
            error_type,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_and_parsing() {
        assert_eq!(status_name(0), "OK");
        assert_eq!(status_name(14), "UNAVAILABLE");
        assert_eq!(status_name(16), "UNAUTHENTICATED");
        assert_eq!(status_name(17), "UNKNOWN");
        assert_eq!(status_name(-1), "UNKNOWN");
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("grpc-status", v.parse().unwrap());
            h
        };
        assert_eq!(parse_status(&headers("5")), Some(5));
        assert_eq!(parse_status(&headers("99")), Some(UNKNOWN));
        assert_eq!(parse_status(&headers("x")), Some(UNKNOWN));
        assert_eq!(parse_status(&HeaderMap::new()), None);
        assert_eq!(head_status(StatusCode::OK, &HeaderMap::new()), None);
        for (http, code) in [
            (400, 13),
            (401, 16),
            (403, 7),
            (404, 12),
            (503, 14),
            (500, 2),
        ] {
            assert_eq!(
                head_status(StatusCode::from_u16(http).unwrap(), &HeaderMap::new()),
                Some(code),
                "HTTP {http}"
            );
        }
        assert_eq!(
            head_status(StatusCode::SERVICE_UNAVAILABLE, &headers("0")),
            Some(0)
        );
    }

    #[test]
    fn deadlines_follow_the_grpc_timeout_grammar() {
        let of = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("grpc-timeout", v.parse().unwrap());
            deadline(&h)
        };
        assert_eq!(of("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(of("2M"), Some(Duration::from_secs(120)));
        assert_eq!(of("3S"), Some(Duration::from_secs(3)));
        assert_eq!(of("100m"), Some(Duration::from_millis(100)));
        assert_eq!(of("7u"), Some(Duration::from_micros(7)));
        assert_eq!(of("9n"), Some(Duration::from_nanos(9)));
        for bad in ["", "m", "123456789m", "10x", "-1S", "1.5S", "é"] {
            assert_eq!(of(bad), None, "{bad:?}");
        }
        assert_eq!(deadline(&HeaderMap::new()), None);
    }

    #[test]
    fn methods_are_named_only_when_well_formed() {
        assert_eq!(
            method_of("/inv.v1.Inventory/GetItem"),
            Some("inv.v1.Inventory/GetItem")
        );
        for bad in ["", "/", "/only", "//M", "/S/", "/a/b/c", "/s/m m", "x/y"] {
            assert_eq!(method_of(bad), None, "{bad:?}");
        }
        assert_eq!(method_of(&format!("/{}/M", "s".repeat(300))), None);
    }

    fn call(methods: &Arc<Methods>, path: &str, timeout: Option<&str>) -> Call {
        let mut request = http::Request::post(path);
        if let Some(timeout) = timeout {
            request = request.header("grpc-timeout", timeout);
        }
        Call::start(methods, &request.body(()).unwrap(), Instant::now())
    }

    #[test]
    fn a_server_learns_methods_from_answers_other_than_unimplemented() {
        let methods = Methods::new(true, None);
        let first = call(&methods, "/inv.v1.Inventory/GetItem", None);
        assert_eq!(first.method_label(), "_OTHER", "not known before an answer");
        let mut answered = first;
        answered.head(StatusCode::OK, &HeaderMap::new());
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "5".parse().unwrap());
        answered.trailers(&trailers);
        let outcome = answered.end(End::Success);
        assert_eq!(outcome.method, "inv.v1.Inventory/GetItem");
        assert_eq!(outcome.original, None);
        assert_eq!(outcome.status, Some("NOT_FOUND"));
        assert_eq!(
            call(&methods, "/inv.v1.Inventory/GetItem", None).method_label(),
            "inv.v1.Inventory/GetItem",
            "known from then on"
        );

        let mut scan = call(&methods, "/p1.S2/M3", None);
        let mut unimplemented = HeaderMap::new();
        unimplemented.insert("grpc-status", "12".parse().unwrap());
        scan.head(StatusCode::OK, &unimplemented);
        let outcome = scan.end(End::Failure("UNIMPLEMENTED"));
        assert_eq!(outcome.method, "_OTHER");
        assert_eq!(outcome.original, Some("p1.S2/M3"));
        assert_eq!(outcome.status, Some("UNIMPLEMENTED"));
        assert_eq!(call(&methods, "/p1.S2/M3", None).method_label(), "_OTHER");

        let garbage = call(&methods, "/not.a/grpc/method", None);
        assert_eq!(garbage.end(End::Success).method, "_OTHER");
    }

    #[test]
    fn a_configured_list_decides_alone() {
        let list: [Box<str>; 2] = ["inv.v1.Inventory".into(), "other.v1.Other/Get".into()];
        let server = Methods::new(true, Some(&list));
        assert!(
            server.knows("inv.v1.Inventory/ListItems"),
            "a whole service"
        );
        assert!(server.knows("other.v1.Other/Get"));
        assert!(!server.knows("other.v1.Other/Put"));
        let client = Methods::new(false, None);
        assert!(client.knows("anything.v1.Any/Thing"), "a client's stubs");
        let listed_client = Methods::new(false, Some(&list));
        assert!(!listed_client.knows("anything.v1.Any/Thing"));
    }

    #[test]
    fn ends_before_a_status_cancellation_and_deadlines() {
        let methods = Methods::new(false, None);
        let dropped = call(&methods, "/a.B/C", None);
        let cancelled = dropped.end(End::Cancelled);
        assert_eq!(
            (cancelled.status, cancelled.error_type),
            (Some("CANCELLED"), None),
            "the caller went away: not a failure"
        );
        let past = call(&methods, "/a.B/C", Some("0m"));
        let late = past.end(End::Cancelled);
        assert_eq!(
            (late.status, late.error_type),
            (Some("DEADLINE_EXCEEDED"), Some("DEADLINE_EXCEEDED"))
        );
        let broken = call(&methods, "/a.B/C", None);
        let outcome = broken.end(End::ServiceError("hyper::Error"));
        assert_eq!(
            (outcome.status, outcome.error_type),
            (None, Some("hyper::Error"))
        );
        let timed_out = call(&methods, "/a.B/C", Some("0n"));
        let outcome = timed_out.end(End::ServiceError("tonic::transport::Error"));
        assert_eq!(outcome.status, Some("DEADLINE_EXCEEDED"));
        let mut expired = call(&methods, "/a.B/C", Some("0m"));
        let mut cancelled = HeaderMap::new();
        cancelled.insert("grpc-status", "1".parse().unwrap());
        expired.head(StatusCode::OK, &cancelled);
        let outcome = expired.end(End::Failure("CANCELLED"));
        assert_eq!(
            (outcome.status, outcome.error_type),
            (Some("DEADLINE_EXCEEDED"), Some("DEADLINE_EXCEEDED")),
            "tonic's CANCELLED for a deadline"
        );
        let silent = call(&methods, "/a.B/C", None);
        assert_eq!(
            silent.end(End::Failure("UNKNOWN")).status,
            Some("UNKNOWN"),
            "a stream that ended without a status"
        );
    }
}
