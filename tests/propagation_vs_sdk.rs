//! The measured reason for the strict parser (docs/adr/0005-strict-w3c-parser.md): inputs that
//! W3C Trace Context Level 2 makes invalid or lossy, run through the OpenTelemetry SDK's
//! `TraceContextPropagator` and through this crate's `extract`. Each case asserts both sides,
//! so a change in the SDK's behaviour shows up here and the decision can be revisited.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

use std::collections::HashMap;

use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TraceFlags};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tower_telemetry::propagation::{RANDOM, extract};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// What the SDK makes of the headers: the remote span context, if it accepted one.
fn sdk(pairs: &[(&str, &str)]) -> Option<opentelemetry::trace::SpanContext> {
    let carrier: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let context = TraceContextPropagator::new().extract(&carrier);
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

fn ours(pairs: &[(&str, &str)]) -> Option<opentelemetry::trace::SpanContext> {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    extract(&headers).span_context()
}

#[test]
fn malformed_traceparents_the_sdk_accepts_and_we_refuse() {
    let cases = [
        (format!("0-{TRACE}-{PARENT}-01"), "one-digit version"),
        (format!("000-{TRACE}-{PARENT}-01"), "three-digit version"),
        (format!("00-{TRACE}-{PARENT}0-01"), "17-digit parent ID"),
        (format!("00-{TRACE}-{PARENT}-001"), "three-digit flags"),
    ];
    for (traceparent, why) in cases {
        let pairs = [("traceparent", traceparent.as_str())];
        assert!(sdk(&pairs).is_some(), "the SDK accepts: {why}");
        assert!(ours(&pairs).is_none(), "we refuse: {why}");
    }
}

#[test]
fn the_sdk_clears_the_random_flag_and_we_keep_it() {
    let traceparent = format!("00-{TRACE}-{PARENT}-03");
    let pairs = [("traceparent", traceparent.as_str())];
    assert_eq!(sdk(&pairs).unwrap().trace_flags(), TraceFlags::SAMPLED);
    assert_eq!(
        ours(&pairs).unwrap().trace_flags(),
        TraceFlags::SAMPLED | RANDOM
    );
}

#[test]
fn the_sdk_forwards_oversized_and_empty_valued_tracestate_and_we_drop_it() {
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let long: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
    let long = long.join(",");
    for (tracestate, why) in [(long.as_str(), "33 members"), ("k=", "an empty value")] {
        let pairs = [
            ("traceparent", traceparent.as_str()),
            ("tracestate", tracestate),
        ];
        let sdk_state = sdk(&pairs).unwrap().trace_state().header();
        assert!(
            !sdk_state.is_empty(),
            "the SDK forwards a tracestate with {why}: {sdk_state:?}"
        );
        let our_state = ours(&pairs).unwrap().trace_state().header();
        assert!(our_state.is_empty(), "we drop a tracestate with {why}");
    }
}
