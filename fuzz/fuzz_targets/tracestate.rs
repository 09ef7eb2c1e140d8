//! `tracestate`: split the input into header lines at NUL bytes; each set of lines is
//! accepted within the W3C limits or refused; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_telemetry::propagation::{limits, parse_tracestate};

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = parse_tracestate(data.split(|&b| b == 0)) {
        let header = state.header();
        assert!(
            header.split(',').filter(|m| !m.is_empty()).count() <= limits::TRACESTATE_MAX_MEMBERS
        );
        assert!(header.len() <= limits::TRACESTATE_MAX_LEN);
    }
});
