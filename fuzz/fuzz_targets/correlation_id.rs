//! Inbound correlation IDs: any bytes a header can carry are accepted as an ID that
//! round-trips, or refused with a reason; never a panic.
#![no_main]

use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use tower_telemetry::CorrelationId;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    match CorrelationId::try_from(&value) {
        Ok(id) => {
            // An accepted ID is the header's bytes, unchanged, and fits the documented bounds.
            assert_eq!(id.as_str().as_bytes(), data);
            assert!(!id.as_str().is_empty() && id.as_str().len() <= CorrelationId::MAX_LEN);
            assert_eq!(id.header_value(), &value);
            assert_eq!(id.as_str().parse::<CorrelationId>().ok(), Some(id.clone()));
        }
        Err(err) => {
            // The message names the rule, never the bytes.
            let _ = err.to_string();
        }
    }
});
