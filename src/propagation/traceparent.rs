//! The `traceparent` header, W3C Trace Context Level 2 §3.2.

use std::fmt;

use http::HeaderValue;
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};

/// The `random` trace flag of Trace Context Level 2: the trace ID's right-most 7 bytes are
/// random. (`TraceFlags` in OpenTelemetry names only `SAMPLED`.)
pub const RANDOM: TraceFlags = TraceFlags::new(0x02);

/// The flags this crate knows and forwards: `sampled` and `random`. Other bits are reserved;
/// the specification has vendors set them to zero when they propagate.
const KNOWN_FLAGS: u8 = 0x01 | 0x02;

/// Length of a version `00` header: `vv-` + 32 + `-` + 16 + `-` + 2.
const LEN_V00: usize = 55;

/// A parsed, valid `traceparent`.
///
/// ```
/// use tower_telemetry::propagation::TraceParent;
///
/// let parent = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03").unwrap();
/// assert!(parent.flags().is_sampled());
/// assert_eq!(parent.flags().to_u8() & 0x02, 0x02, "the random flag is kept");
/// assert!(TraceParent::parse(b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    version: u8,
    trace_id: TraceId,
    parent_id: SpanId,
    flags: TraceFlags,
}

impl TraceParent {
    /// Makes the `traceparent` of an outbound call: version `00`, with only the known flags.
    pub fn new(trace_id: TraceId, parent_id: SpanId, flags: TraceFlags) -> Self {
        Self {
            version: 0,
            trace_id,
            parent_id,
            flags: TraceFlags::new(flags.to_u8() & KNOWN_FLAGS),
        }
    }

    /// Parses one `traceparent` header value.
    ///
    /// Version `00` must be exactly 55 characters. A higher version (`01` to `fe`) is read by its
    /// first four fields, and anything after them must start with `-`. Version `ff` is invalid.
    /// Every hex digit must be lowercase; an all-zero trace ID or parent ID is invalid.
    pub fn parse(value: &[u8]) -> Result<Self, InvalidTraceParent> {
        use TraceParentReason as R;
        let err = |reason| Err(InvalidTraceParent { reason });
        if value.len() < LEN_V00 {
            return err(R::Length);
        }
        let Some(version) = hex_u8(&value[0..2]) else {
            return err(R::Version);
        };
        if version == 0xff {
            return err(R::ForbiddenVersion);
        }
        if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return err(R::Delimiter);
        }
        let Some(trace_id) = hex_bytes::<16>(&value[3..35]) else {
            return err(R::TraceId);
        };
        if trace_id == [0; 16] {
            return err(R::ZeroTraceId);
        }
        let Some(parent_id) = hex_bytes::<8>(&value[36..52]) else {
            return err(R::ParentId);
        };
        if parent_id == [0; 8] {
            return err(R::ZeroParentId);
        }
        let Some(flags) = hex_u8(&value[53..55]) else {
            return err(R::Flags);
        };
        if value.len() > LEN_V00 && (version == 0 || value[LEN_V00] != b'-') {
            return err(R::TrailingData);
        }
        Ok(Self {
            version,
            trace_id: TraceId::from_bytes(trace_id),
            parent_id: SpanId::from_bytes(parent_id),
            flags: TraceFlags::new(flags),
        })
    }

    /// The version the header was sent with.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The trace ID.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The ID of the caller's span: the parent of the span this request makes.
    pub fn parent_id(&self) -> SpanId {
        self.parent_id
    }

    /// The trace flags as sent, reserved bits included. `sampled` is bit 0, `random` bit 1.
    pub fn flags(&self) -> TraceFlags {
        self.flags
    }

    /// The header value to send: always version `00`, reserved flag bits cleared.
    pub fn to_header_value(&self) -> HeaderValue {
        let mut buf = [0u8; LEN_V00];
        buf[..3].copy_from_slice(b"00-");
        write_hex(&mut buf[3..35], &self.trace_id.to_bytes());
        buf[35] = b'-';
        write_hex(&mut buf[36..52], &self.parent_id.to_bytes());
        buf[52] = b'-';
        write_hex(&mut buf[53..55], &[self.flags.to_u8() & KNOWN_FLAGS]);
        HeaderValue::from_bytes(&buf)
            // Lowercase hex digits and hyphens are valid header bytes, so this never fails;
            // the fallback keeps the path panic-free.
            .unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

refusal_error!(
    /// Why a `traceparent` value was refused. Its `Display` names the rule, never the bytes.
    InvalidTraceParent(TraceParentReason),
    "traceparent"
);

/// The rule a refused `traceparent` broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceParentReason {
    /// Shorter than the 55 characters of the version `00` format.
    Length,
    /// The version is not two lowercase hex digits.
    Version,
    /// Version `ff`, which the specification forbids.
    ForbiddenVersion,
    /// A `-` is missing between the fields.
    Delimiter,
    /// The trace ID is not 32 lowercase hex digits.
    TraceId,
    /// The trace ID is all zeros.
    ZeroTraceId,
    /// The parent ID is not 16 lowercase hex digits.
    ParentId,
    /// The parent ID is all zeros.
    ZeroParentId,
    /// The flags are not two lowercase hex digits.
    Flags,
    /// Version `00` with content after the flags, or a higher version whose extra content does
    /// not start with `-`.
    TrailingData,
    /// The request carried more than one `traceparent` header.
    MultipleHeaders,
}

impl fmt::Display for TraceParentReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Length => "shorter than 55 characters",
            Self::Version => "the version is not two lowercase hex digits",
            Self::ForbiddenVersion => "version ff is forbidden",
            Self::Delimiter => "a field delimiter is missing",
            Self::TraceId => "the trace ID is not 32 lowercase hex digits",
            Self::ZeroTraceId => "the trace ID is all zeros",
            Self::ParentId => "the parent ID is not 16 lowercase hex digits",
            Self::ZeroParentId => "the parent ID is all zeros",
            Self::Flags => "the flags are not two lowercase hex digits",
            Self::TrailingData => "unexpected content after the flags",
            Self::MultipleHeaders => "the header was sent more than once",
        })
    }
}

/// The value of one lowercase hex digit.
fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Two lowercase hex digits.
fn hex_u8(digits: &[u8]) -> Option<u8> {
    match digits {
        [hi, lo] => Some(hex_digit(*hi)? << 4 | hex_digit(*lo)?),
        _ => None,
    }
}

/// `2 * N` lowercase hex digits.
fn hex_bytes<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = hex_u8(pair)?;
    }
    Some(out)
}

fn write_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";

    /// Every row: the header, the expected outcome, and the rule it shows.
    #[test]
    fn parse_table() {
        use TraceParentReason as R;
        let ok = |s: &str| format!("00-{TRACE}-{PARENT}-{s}");
        let cases: Vec<(String, Result<(), TraceParentReason>, &str)> = vec![
            (ok("01"), Ok(()), "sampled"),
            (ok("00"), Ok(()), "not sampled"),
            (ok("03"), Ok(()), "sampled and random"),
            (ok("ff"), Ok(()), "reserved flag bits are accepted on input"),
            (
                format!("01-{TRACE}-{PARENT}-01"),
                Ok(()),
                "a higher version, exact length",
            ),
            (
                format!("cc-{TRACE}-{PARENT}-01-what-the-future-holds"),
                Ok(()),
                "a higher version ignores extra fields",
            ),
            (
                format!("fe-{TRACE}-{PARENT}-01-"),
                Ok(()),
                "version fe, trailing delimiter",
            ),
            (
                format!("ff-{TRACE}-{PARENT}-01"),
                Err(R::ForbiddenVersion),
                "version ff",
            ),
            (
                format!("00-{TRACE}-{PARENT}-01-extra"),
                Err(R::TrailingData),
                "version 00 with extra content",
            ),
            (
                format!("00-{TRACE}-{PARENT}-01 "),
                Err(R::TrailingData),
                "version 00 with a trailing space",
            ),
            (
                format!("cc-{TRACE}-{PARENT}-01x"),
                Err(R::TrailingData),
                "higher version, extra content without -",
            ),
            (
                format!("0-{TRACE}-{PARENT}-01"),
                Err(R::Length),
                "one-digit version makes it short",
            ),
            (
                format!("00-{TRACE}-{PARENT}-1"),
                Err(R::Length),
                "one-digit flags",
            ),
            (String::new(), Err(R::Length), "empty"),
            (
                format!("0g-{TRACE}-{PARENT}-01"),
                Err(R::Version),
                "version not hex",
            ),
            (
                format!("0A-{TRACE}-{PARENT}-01"),
                Err(R::Version),
                "version uppercase",
            ),
            (
                format!("00_{TRACE}-{PARENT}-01"),
                Err(R::Delimiter),
                "wrong delimiter after version",
            ),
            (
                format!("00-{TRACE}_{PARENT}-01"),
                Err(R::Delimiter),
                "wrong delimiter after trace ID",
            ),
            (
                format!("00-{TRACE}-{PARENT}_01"),
                Err(R::Delimiter),
                "wrong delimiter after parent ID",
            ),
            (
                format!("00-{}-{PARENT}-01", TRACE.to_uppercase()),
                Err(R::TraceId),
                "uppercase trace ID",
            ),
            (
                format!("00-{}x-{PARENT}-01", &TRACE[..31]),
                Err(R::TraceId),
                "non-hex trace ID",
            ),
            (
                format!("00-{}-{PARENT}-01", "0".repeat(32)),
                Err(R::ZeroTraceId),
                "all-zero trace ID",
            ),
            (
                format!("00-{TRACE}-{}-01", PARENT.to_uppercase()),
                Err(R::ParentId),
                "uppercase parent ID",
            ),
            (
                format!("00-{TRACE}-{}-01", "0".repeat(16)),
                Err(R::ZeroParentId),
                "all-zero parent ID",
            ),
            (
                format!("00-{TRACE}-{PARENT}-0G"),
                Err(R::Flags),
                "flags not hex",
            ),
            (
                format!("00-{TRACE}-{PARENT}-A1"),
                Err(R::Flags),
                "flags uppercase",
            ),
            (
                format!("00-{TRACE}0-{PARENT}-1"),
                Err(R::Delimiter),
                "a 33-digit trace ID shifts the fields",
            ),
            (
                format!("00-{TRACE}-{PARENT}0-1"),
                Err(R::Delimiter),
                "a 17-digit parent ID shifts the fields",
            ),
        ];
        for (input, expected, why) in cases {
            let got = TraceParent::parse(input.as_bytes())
                .map(|_| ())
                .map_err(|e| e.reason());
            assert_eq!(got, expected, "{why}: {input:?}");
        }
    }

    #[test]
    fn fields_are_read_exactly() {
        let parent = TraceParent::parse(format!("cc-{TRACE}-{PARENT}-03-x").as_bytes()).unwrap();
        assert_eq!(parent.version(), 0xcc);
        assert_eq!(parent.trace_id(), TraceId::from_hex(TRACE).unwrap());
        assert_eq!(parent.parent_id(), SpanId::from_hex(PARENT).unwrap());
        assert_eq!(parent.flags(), TraceFlags::SAMPLED | RANDOM);
    }

    #[test]
    fn outbound_is_version_00_with_known_flags_only() {
        let parent = TraceParent::parse(format!("cc-{TRACE}-{PARENT}-ff-x").as_bytes()).unwrap();
        assert_eq!(
            parent.to_header_value(),
            format!("00-{TRACE}-{PARENT}-03").as_str()
        );
        let made = TraceParent::new(parent.trace_id(), parent.parent_id(), TraceFlags::new(0xfd));
        assert_eq!(made.version(), 0);
        assert_eq!(made.flags(), TraceFlags::SAMPLED);
    }

    #[test]
    fn messages_name_the_rule() {
        let err = TraceParent::parse(b"garbage").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid traceparent: shorter than 55 characters"
        );
        assert_eq!(
            InvalidTraceParent::new(TraceParentReason::MultipleHeaders).reason(),
            TraceParentReason::MultipleHeaders
        );
        for reason in [
            TraceParentReason::Version,
            TraceParentReason::ForbiddenVersion,
            TraceParentReason::Delimiter,
            TraceParentReason::TraceId,
            TraceParentReason::ZeroTraceId,
            TraceParentReason::ParentId,
            TraceParentReason::ZeroParentId,
            TraceParentReason::Flags,
            TraceParentReason::TrailingData,
            TraceParentReason::MultipleHeaders,
        ] {
            assert!(!reason.to_string().is_empty());
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = TraceParent::parse(&bytes);
        }

        /// Valid headers, however made, parse back to the same fields and print as version 00.
        #[test]
        fn round_trips(trace in 1u128.., parent in 1u64.., flags in any::<u8>()) {
            let text = format!("00-{trace:032x}-{parent:016x}-{flags:02x}");
            let parsed = TraceParent::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(parsed.trace_id(), TraceId::from(trace));
            prop_assert_eq!(parsed.parent_id(), SpanId::from(parent));
            prop_assert_eq!(parsed.flags().to_u8(), flags);
            let expected = format!("00-{trace:032x}-{parent:016x}-{:02x}", flags & 0x03);
            prop_assert_eq!(parsed.to_header_value(), expected.as_str());
        }

        /// Near-valid headers: one byte changed anywhere is either still valid or refused,
        /// never misread.
        #[test]
        fn a_changed_byte_is_never_misread(pos in 0usize..55, byte in any::<u8>()) {
            let mut text = format!("00-{TRACE}-{PARENT}-01").into_bytes();
            text[pos] = byte;
            if let Ok(parsed) = TraceParent::parse(&text) {
                let expected = String::from_utf8(text.clone()).unwrap();
                let version = &expected[..2];
                prop_assert_eq!(format!("{:02x}", parsed.version()), version);
                let written = parsed.to_header_value();
                prop_assert_eq!(&written.to_str().unwrap()[3..52], &expected[3..52]);
            }
        }
    }
}
