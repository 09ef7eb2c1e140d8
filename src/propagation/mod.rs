#![doc = include_str!("../docs/propagation.md")]

mod baggage;
mod traceparent;
mod tracestate;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::trace::{SpanContext, TraceContextExt};

pub use self::baggage::{BaggageReason, InvalidBaggage, parse_baggage};
pub use self::traceparent::{InvalidTraceParent, RANDOM, TraceParent, TraceParentReason};
pub use self::tracestate::{InvalidTraceState, TraceStateList, TraceStateReason, parse_tracestate};

/// The limits of the parsers, for documentation and tests.
pub mod limits {
    pub use super::baggage::{MAX_LEN as BAGGAGE_MAX_LEN, MAX_MEMBERS as BAGGAGE_MAX_MEMBERS};
    pub use super::tracestate::{
        MAX_LEN as TRACESTATE_MAX_LEN, MAX_MEMBERS as TRACESTATE_MAX_MEMBERS,
    };
}

/// `traceparent`, W3C Trace Context.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate`, W3C Trace Context.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// `baggage`, W3C Baggage.
pub const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// What the trace-context headers of one request carried, after strict validation.
///
/// Made by [`extract`]. Invalid headers are treated as absent, as the specifications require,
/// and the reason is kept so the caller can log it.
#[derive(Debug, Default)]
pub struct Extracted {
    parent: Option<TraceParent>,
    trace_state: TraceStateList,
    baggage: Baggage,
    traceparent_error: Option<InvalidTraceParent>,
    tracestate_error: Option<InvalidTraceState>,
    baggage_error: Option<InvalidBaggage>,
}

impl Extracted {
    /// The caller's `traceparent`, when it sent exactly one valid header.
    pub fn parent(&self) -> Option<&TraceParent> {
        self.parent.as_ref()
    }

    /// The caller's span as a remote OpenTelemetry span context, with its `tracestate`.
    ///
    /// The trace flags are kept as sent (`sampled` and Level 2's `random` included), unlike
    /// the OpenTelemetry SDK's propagator, which keeps only `sampled`.
    pub fn span_context(&self) -> Option<SpanContext> {
        self.parent.map(|parent| {
            SpanContext::new(
                parent.trace_id(),
                parent.parent_id(),
                parent.flags(),
                true,
                self.trace_state.trace_state().clone(),
            )
        })
    }

    /// The `tracestate` list; empty without a valid `traceparent`.
    pub fn trace_state(&self) -> &TraceStateList {
        &self.trace_state
    }

    /// The caller's baggage; empty when absent or invalid.
    pub fn baggage(&self) -> &Baggage {
        &self.baggage
    }

    /// Why `traceparent` was refused, if it was.
    pub fn traceparent_error(&self) -> Option<&InvalidTraceParent> {
        self.traceparent_error.as_ref()
    }

    /// Why `tracestate` was refused, if it was.
    pub fn tracestate_error(&self) -> Option<&InvalidTraceState> {
        self.tracestate_error.as_ref()
    }

    /// Why `baggage` was refused, if it was.
    pub fn baggage_error(&self) -> Option<&InvalidBaggage> {
        self.baggage_error.as_ref()
    }

    /// An OpenTelemetry context holding the remote span context (if any) and the baggage (if
    /// any), to parent a server span on.
    pub fn to_context(&self) -> opentelemetry::Context {
        let mut context = opentelemetry::Context::new();
        if let Some(span_context) = self.span_context() {
            context = context.with_remote_span_context(span_context);
            // The list as it came, for the calls this request makes (see `inject_in`).
            if !self.trace_state.is_empty() {
                context = context.with_value(InboundTraceState(self.trace_state.clone()));
            }
        }
        if !self.baggage.is_empty() {
            context = context.with_baggage(self.baggage.iter().map(|(key, (value, metadata))| {
                opentelemetry::baggage::KeyValueMetadata::new(
                    key.clone(),
                    value.clone(),
                    metadata.clone(),
                )
            }));
        }
        context
    }
}

/// Reads `traceparent`, `tracestate` and `baggage` from a request's headers, strictly.
///
/// - `traceparent`: exactly one header line, valid by [`TraceParent::parse`]; otherwise there
///   is no parent, and a new trace starts.
/// - `tracestate`: read only with a valid `traceparent`; all its lines combined, valid by
///   [`parse_tracestate`]; otherwise empty.
/// - `baggage`: all its lines combined, valid by [`parse_baggage`]; otherwise empty. Baggage is
///   independent of the trace context.
///
/// ```
/// use http::HeaderMap;
/// use tower_telemetry::propagation::extract;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// headers.insert("tracestate", "rojo=00f067aa0ba902b7".parse().unwrap());
/// let extracted = extract(&headers);
/// let parent = extracted.span_context().unwrap();
/// assert!(parent.is_remote() && parent.is_sampled());
/// assert_eq!(parent.trace_state().get("rojo"), Some("00f067aa0ba902b7"));
/// ```
pub fn extract(headers: &HeaderMap) -> Extracted {
    let mut extracted = Extracted::default();
    let mut lines = headers.get_all(TRACEPARENT).iter();
    match (lines.next(), lines.next()) {
        (None, _) => {}
        (Some(_), Some(_)) => {
            extracted.traceparent_error =
                Some(InvalidTraceParent::new(TraceParentReason::MultipleHeaders));
        }
        (Some(value), None) => match TraceParent::parse(value.as_bytes()) {
            Ok(parent) => extracted.parent = Some(parent),
            Err(err) => extracted.traceparent_error = Some(err),
        },
    }
    if extracted.parent.is_some() {
        match parse_tracestate(
            headers
                .get_all(TRACESTATE)
                .iter()
                .map(HeaderValue::as_bytes),
        ) {
            Ok(state) => extracted.trace_state = state,
            Err(err) => extracted.tracestate_error = Some(err),
        }
    }
    match parse_baggage(headers.get_all(BAGGAGE).iter().map(HeaderValue::as_bytes)) {
        Ok(baggage) => extracted.baggage = baggage,
        Err(err) => extracted.baggage_error = Some(err),
    }
    extracted
}

/// The inbound `tracestate` of the request being handled, in its OpenTelemetry context.
#[derive(Debug)]
#[cfg_attr(not(feature = "trace"), allow(dead_code))]
pub(crate) struct InboundTraceState(TraceStateList);

/// Writes the context `cx` holds, a span's and its baggage, into an outbound request's headers,
/// as [`inject`]; `tracestate` is the inbound list as it came when the span still carries it
/// unchanged (OpenTelemetry's `TraceState` may hold only part of it), else the span's.
#[cfg_attr(not(feature = "trace"), allow(dead_code))]
pub(crate) fn inject_in(
    cx: &opentelemetry::Context,
    span_context: &SpanContext,
    baggage: &Baggage,
    headers: &mut HeaderMap,
) {
    let inbound = cx
        .get::<InboundTraceState>()
        .map(|InboundTraceState(list)| list)
        .filter(|list| list.trace_state() == span_context.trace_state());
    write(
        span_context,
        inbound.map(TraceStateList::header),
        baggage,
        headers,
    );
}

/// Writes a span context and baggage into an outbound request's headers.
///
/// `traceparent` is written in version `00` with the `sampled` and `random` flags as they are
/// in `span_context`, and `tracestate` when it is not empty; both are skipped when the headers
/// already hold a `traceparent` (the caller set its own context) or when `span_context` is
/// invalid. `baggage` is written when not empty and not already present.
///
/// ```
/// use http::HeaderMap;
/// use opentelemetry::baggage::Baggage;
/// use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// use tower_telemetry::propagation::{inject, RANDOM};
///
/// let context = SpanContext::new(
///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
///     SpanId::from_hex("00f067aa0ba902b7").unwrap(),
///     TraceFlags::SAMPLED | RANDOM,
///     false,
///     TraceState::default(),
/// );
/// let mut headers = HeaderMap::new();
/// inject(&context, &Baggage::new(), &mut headers);
/// assert_eq!(headers["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
/// ```
pub fn inject(span_context: &SpanContext, baggage: &Baggage, headers: &mut HeaderMap) {
    write(span_context, None, baggage, headers);
}

fn write(
    span_context: &SpanContext,
    inbound_state: Option<&str>,
    baggage: &Baggage,
    headers: &mut HeaderMap,
) {
    if span_context.is_valid() && !headers.contains_key(TRACEPARENT) {
        let parent = TraceParent::new(
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags(),
        );
        headers.insert(TRACEPARENT, parent.to_header_value());
        // Bounded: the inbound list by our parser's limits, OpenTelemetry's `TraceState` by
        // its type (at most 32 members of 256-byte keys and values).
        let state = match inbound_state {
            Some(state) => std::borrow::Cow::Borrowed(state),
            None => std::borrow::Cow::Owned(span_context.trace_state().header()),
        };
        if !state.is_empty()
            && let Ok(value) = HeaderValue::from_str(&state)
        {
            headers.insert(TRACESTATE, value);
        }
    }
    if !headers.contains_key(BAGGAGE)
        && let Some(value) = baggage::encode_baggage(baggage)
            .and_then(|encoded| HeaderValue::from_str(&encoded).ok())
    {
        headers.insert(BAGGAGE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tracestate_built_in_code_is_bounded_by_its_type() {
        let members = (0..40).map(|i| (format!("k{i}"), "v".repeat(256)));
        let state = TraceState::from_key_value(members).unwrap();
        let context = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            state,
        );
        let mut headers = HeaderMap::new();
        inject(&context, &Baggage::new(), &mut headers);
        let sent = headers[TRACESTATE].as_bytes();
        assert_eq!(
            sent.split(|&b| b == b',').count(),
            limits::TRACESTATE_MAX_MEMBERS
        );
        assert!(sent.len() <= limits::TRACESTATE_MAX_LEN);
    }
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_valid_context_keeps_both_flags_and_the_state() {
        let extracted = extract(&headers(&[
            ("traceparent", TP),
            ("tracestate", "rojo=1"),
            ("tracestate", "congo=2"),
        ]));
        let context = extracted.span_context().unwrap();
        assert!(context.is_remote() && context.is_valid());
        assert_eq!(context.trace_flags(), TraceFlags::SAMPLED | RANDOM);
        assert_eq!(context.trace_state().header(), "rojo=1,congo=2");
        assert_eq!(extracted.parent().unwrap().version(), 0);
        assert!(extracted.traceparent_error().is_none());
        assert!(extracted.tracestate_error().is_none());
        assert!(extracted.baggage_error().is_none());
    }

    #[test]
    fn several_traceparent_lines_start_a_new_trace() {
        let extracted = extract(&headers(&[("traceparent", TP), ("traceparent", TP)]));
        assert!(extracted.span_context().is_none());
        assert_eq!(
            extracted.traceparent_error().unwrap().reason(),
            TraceParentReason::MultipleHeaders
        );
    }

    #[test]
    fn tracestate_is_ignored_without_a_valid_traceparent() {
        let extracted = extract(&headers(&[
            ("traceparent", &TP.to_uppercase()),
            ("tracestate", "rojo=1"),
        ]));
        assert!(extracted.span_context().is_none());
        assert!(extracted.trace_state().header().is_empty());
        assert!(extracted.tracestate_error().is_none(), "not even parsed");
        let only_state = extract(&headers(&[("tracestate", "rojo=1")]));
        assert!(only_state.span_context().is_none());
        assert!(only_state.trace_state().header().is_empty());
    }

    #[test]
    fn an_invalid_tracestate_keeps_the_parent_and_drops_the_state() {
        let extracted = extract(&headers(&[
            ("traceparent", TP),
            ("tracestate", "rojo=1,Rojo=2"),
        ]));
        let context = extracted.span_context().unwrap();
        assert!(context.trace_state().header().is_empty());
        assert_eq!(
            extracted.tracestate_error().unwrap().reason(),
            TraceStateReason::Key
        );
    }

    #[test]
    fn a_list_opentelemetry_refuses_in_part_is_sent_on_whole() {
        let extracted = extract(&headers(&[
            ("traceparent", TP),
            ("tracestate", "rojo=1,foo@@bar=2,rojo=3"),
        ]));
        assert_eq!(extracted.trace_state().header(), "rojo=1,foo@@bar=2");
        assert_eq!(extracted.trace_state().len(), 2);
        // OpenTelemetry's `TraceState` holds what its older key check accepts.
        let context = extracted.span_context().unwrap();
        assert_eq!(context.trace_state().header(), "rojo=1");
        // A call made in this context sends the list as it came, with a new parent ID...
        let cx = extracted.to_context();
        let mut sent = HeaderMap::new();
        inject_in(&cx, &context, &Baggage::new(), &mut sent);
        assert_eq!(sent[TRACESTATE], "rojo=1,foo@@bar=2");
        // ...unless the span's own state changed (a sampler or the application wrote to it).
        let changed = SpanContext::new(
            context.trace_id(),
            context.span_id(),
            context.trace_flags(),
            false,
            context.trace_state().insert("congo", "9").unwrap(),
        );
        let mut sent = HeaderMap::new();
        inject_in(&cx, &changed, &Baggage::new(), &mut sent);
        assert_eq!(sent[TRACESTATE], "congo=9,rojo=1");
        let mut plain = HeaderMap::new();
        inject(&context, &Baggage::new(), &mut plain);
        assert_eq!(plain[TRACESTATE], "rojo=1");
    }

    #[test]
    fn baggage_is_independent_of_the_trace_context() {
        let extracted = extract(&headers(&[("traceparent", "garbage"), ("baggage", "k=v")]));
        assert_eq!(extracted.baggage().get("k").unwrap().as_str(), "v");
        let bad = extract(&headers(&[("traceparent", TP), ("baggage", "bad key=v")]));
        assert!(bad.span_context().is_some());
        assert!(bad.baggage().is_empty());
        assert_eq!(bad.baggage_error().unwrap().reason(), BaggageReason::Key);
    }

    #[test]
    fn to_context_carries_span_context_and_baggage() {
        let extracted = extract(&headers(&[("traceparent", TP), ("baggage", "k=v;p=1")]));
        let context = extracted.to_context();
        let span = context.span();
        assert_eq!(
            span.span_context().trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
        );
        let (value, metadata) = context.baggage().get_with_metadata("k").unwrap();
        assert_eq!((value.as_str(), metadata.as_str()), ("v", "p=1"));
        let empty = extract(&HeaderMap::new()).to_context();
        assert!(!empty.has_active_span());
        assert!(empty.baggage().is_empty());
    }

    #[test]
    fn inject_writes_the_context_and_respects_the_callers_headers() {
        let context = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::new(0xff),
            false,
            "rojo=1".parse().unwrap(),
        );
        let mut baggage = Baggage::new();
        baggage.insert("k", "a b");

        let mut out = HeaderMap::new();
        inject(&context, &baggage, &mut out);
        assert_eq!(out[TRACEPARENT], TP);
        assert_eq!(out[TRACESTATE], "rojo=1");
        assert_eq!(out[BAGGAGE], "k=a%20b");

        let mut own = headers(&[
            (
                "traceparent",
                "00-11111111111111111111111111111111-2222222222222222-00",
            ),
            ("baggage", "mine=1"),
        ]);
        inject(&context, &baggage, &mut own);
        assert_eq!(
            own[TRACEPARENT],
            "00-11111111111111111111111111111111-2222222222222222-00"
        );
        assert!(!own.contains_key(TRACESTATE));
        assert_eq!(own[BAGGAGE], "mine=1");

        let mut none = HeaderMap::new();
        inject(&SpanContext::empty_context(), &Baggage::new(), &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn extract_then_inject_round_trips() {
        let inbound = headers(&[
            ("traceparent", TP),
            ("tracestate", "a@b=1,c=2"),
            ("baggage", "k=%E2%82%AC"),
        ]);
        let extracted = extract(&inbound);
        let mut outbound = HeaderMap::new();
        inject(
            &extracted.span_context().unwrap(),
            extracted.baggage(),
            &mut outbound,
        );
        assert_eq!(outbound[TRACEPARENT], TP);
        assert_eq!(outbound[TRACESTATE], "a@b=1,c=2");
        assert_eq!(outbound[BAGGAGE], "k=%E2%82%AC");
    }
}
