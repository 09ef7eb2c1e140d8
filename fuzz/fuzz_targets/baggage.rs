//! `baggage`: split the input into header lines at NUL bytes; accepted within the parser's
//! limits or refused; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_telemetry::propagation::{limits, parse_baggage};

fuzz_target!(|data: &[u8]| {
    if let Ok(baggage) = parse_baggage(data.split(|&b| b == 0)) {
        assert!(baggage.len() <= limits::BAGGAGE_MAX_MEMBERS);
        for (key, (value, _)) in baggage.iter() {
            assert!(!key.as_str().is_empty());
            let _ = value.as_str();
        }
    }
});
