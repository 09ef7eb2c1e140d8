//! `traceparent`: a value is accepted and re-encodes to a valid version-00 header carrying
//! the same IDs and known flags, or is refused; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_telemetry::propagation::TraceParent;

fuzz_target!(|data: &[u8]| {
    if let Ok(parent) = TraceParent::parse(data) {
        let encoded = parent.to_header_value();
        let again = TraceParent::parse(encoded.as_bytes()).expect("our encoding parses");
        assert_eq!(again.trace_id(), parent.trace_id());
        assert_eq!(again.parent_id(), parent.parent_id());
        // Version 00 carries only the flags Level 2 defines (sampled 0x01, random 0x02); the
        // others are set to zero on the way out, as the specification requires.
        assert_eq!(again.flags().to_u8(), parent.flags().to_u8() & 0x03);
    }
});
