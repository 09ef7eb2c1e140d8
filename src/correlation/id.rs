//! The [`CorrelationId`] type and the validation of inbound IDs.

use std::fmt;
use std::str::FromStr;

use http::HeaderValue;

/// Default upper bound, in bytes, on an inbound correlation ID.
///
/// Change it per layer with [`CorrelationLayer::max_len`](super::CorrelationLayer::max_len).
pub const DEFAULT_MAX_LEN: usize = 128;

/// The identifier of one request, shared by its logs, its response and its outbound calls.
///
/// A `CorrelationId` is always valid: 1 to [`CorrelationId::MAX_LEN`] bytes, each of them in
/// the allow-list below. Because it is checked once when it is made, every later use (a log
/// field, a response header, an outbound header) can rely on it without checking again.
///
/// # Allowed characters
///
/// `A`–`Z`, `a`–`z`, `0`–`9` and the six marks `-` `_` `.` `:` `+` `/` `=`.
///
/// That covers UUIDs, ULIDs, hex and decimal IDs, base64 and base64url, and the
/// `service:instance:counter` forms some proxies generate. It leaves out everything that could
/// forge or break a log line or a header: white space, control characters, quotes, backslash,
/// `;`, `,`, braces, and any byte outside ASCII.
///
/// # Where to get one
///
/// - In a handler behind [`CorrelationLayer`](super::CorrelationLayer): from the request
///   extensions, or with the axum extractor (feature `axum`).
/// - Anywhere inside such a request, including code that has no access to the request:
///   [`CorrelationId::current`].
/// - Made by you: [`CorrelationId::new`] or [`str::parse`].
///
/// # Example
///
/// ```
/// use tower_telemetry::correlation::CorrelationId;
///
/// let id: CorrelationId = "checkout-7f3a".parse().unwrap();
/// assert_eq!(id.as_str(), "checkout-7f3a");
/// assert!(CorrelationId::new("no spaces please").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CorrelationId {
    // Kept as a header value: echoing it in a response or sending it on an outbound call is a
    // clone (a reference count) rather than a copy and a second validation.
    value: HeaderValue,
}

impl CorrelationId {
    /// The largest correlation ID this type holds, in bytes.
    ///
    /// Inbound IDs are held to the smaller per-layer limit, [`DEFAULT_MAX_LEN`] unless set.
    pub const MAX_LEN: usize = 1024;

    /// Makes a correlation ID from a string, checking it against the allow-list and
    /// [`CorrelationId::MAX_LEN`].
    pub fn new(id: impl AsRef<str>) -> Result<Self, InvalidCorrelationId> {
        let id = id.as_ref();
        check(id.as_bytes(), Self::MAX_LEN)?;
        Ok(Self::from_checked(id.as_bytes()))
    }

    /// Makes a correlation ID from a UUID, in its lowercase hyphenated form.
    pub fn from_uuid(uuid: uuid::Uuid) -> Self {
        let mut buf = uuid::Uuid::encode_buffer();
        let text = uuid.hyphenated().encode_lower(&mut buf);
        // A hyphenated UUID is 36 bytes of lowercase hex digits and hyphens: all allowed.
        Self::from_checked(text.as_bytes())
    }

    /// Checks an inbound header value: the allow-list, and at most `max_len` bytes.
    pub(crate) fn from_header(
        value: &HeaderValue,
        max_len: usize,
    ) -> Result<Self, InvalidCorrelationId> {
        check(value.as_bytes(), max_len.min(Self::MAX_LEN))?;
        Ok(Self {
            value: value.clone(),
        })
    }

    fn from_checked(bytes: &[u8]) -> Self {
        let value = HeaderValue::from_bytes(bytes)
            // Every allowed byte is a visible ASCII character, which `HeaderValue` accepts, so
            // this fallback is never taken; it exists so that no path can panic.
            .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        Self { value }
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        // Allowed bytes are visible ASCII, so `to_str` always succeeds.
        self.value.to_str().unwrap_or_default()
    }

    /// The ID as a header value, ready to send.
    pub fn header_value(&self) -> &HeaderValue {
        &self.value
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CorrelationId")
            .field(&self.as_str())
            .finish()
    }
}

impl AsRef<str> for CorrelationId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl FromStr for CorrelationId {
    type Err = InvalidCorrelationId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for CorrelationId {
    type Error = InvalidCorrelationId;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for CorrelationId {
    type Error = InvalidCorrelationId;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<&HeaderValue> for CorrelationId {
    type Error = InvalidCorrelationId;

    fn try_from(value: &HeaderValue) -> Result<Self, Self::Error> {
        Self::from_header(value, Self::MAX_LEN)
    }
}

impl From<CorrelationId> for HeaderValue {
    fn from(id: CorrelationId) -> Self {
        id.value
    }
}

impl From<uuid::Uuid> for CorrelationId {
    fn from(uuid: uuid::Uuid) -> Self {
        Self::from_uuid(uuid)
    }
}

refusal_error!(
    /// Why a candidate correlation ID was refused.
    ///
    /// Its `Display` names the rule that was broken and never repeats the offending bytes, so it is
    /// safe to log.
    InvalidCorrelationId(CorrelationIdReason),
    "correlation ID"
);

/// The rule a refused correlation ID broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorrelationIdReason {
    /// The value was empty.
    Empty,
    /// The value was longer than the limit.
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The value held a control character (tab, DEL, or a byte below 0x20).
    ControlCharacter,
    /// The value held a byte outside ASCII (obs-text, UTF-8).
    NonAscii,
    /// The value held an ASCII character outside the allow-list (space, quote, `;`, ...).
    DisallowedCharacter,
    /// The header was sent more than once.
    MultipleValues,
}

impl fmt::Display for CorrelationIdReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorrelationIdReason::Empty => f.write_str("empty"),
            CorrelationIdReason::TooLong { len, max } => {
                write!(f, "{len} bytes, over the limit of {max}")
            }
            CorrelationIdReason::ControlCharacter => f.write_str("contains a control character"),
            CorrelationIdReason::NonAscii => f.write_str("contains a byte outside ASCII"),
            CorrelationIdReason::DisallowedCharacter => {
                f.write_str("contains a character outside the allow-list")
            }
            CorrelationIdReason::MultipleValues => {
                f.write_str("the header was sent more than once")
            }
        }
    }
}

/// `ALLOWED[b]` is true when byte `b` may appear in a correlation ID.
static ALLOWED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=');
        b += 1;
    }
    table
};

/// Checks `bytes` against the length limit and the allow-list.
pub(crate) fn check(bytes: &[u8], max_len: usize) -> Result<(), InvalidCorrelationId> {
    if bytes.is_empty() {
        return Err(InvalidCorrelationId::new(CorrelationIdReason::Empty));
    }
    if bytes.len() > max_len {
        return Err(InvalidCorrelationId::new(CorrelationIdReason::TooLong {
            len: bytes.len(),
            max: max_len,
        }));
    }
    match bytes.iter().find(|&&b| !ALLOWED[usize::from(b)]) {
        None => Ok(()),
        Some(&b) => Err(InvalidCorrelationId::new(if b < 0x20 || b == 0x7f {
            CorrelationIdReason::ControlCharacter
        } else if b >= 0x80 {
            CorrelationIdReason::NonAscii
        } else {
            CorrelationIdReason::DisallowedCharacter
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every row: input, length limit, expected outcome, and why.
    #[test]
    fn validation_table() {
        let long_ok = "a".repeat(128);
        let long_bad = "a".repeat(129);
        /// Input, length limit, expected outcome, why.
        type Case<'a> = (&'a [u8], usize, Result<(), CorrelationIdReason>, &'a str);
        let cases: &[Case<'_>] = &[
            (
                b"0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e",
                128,
                Ok(()),
                "UUID v7",
            ),
            (b"01ARZ3NDEKTSV4RRFFQ69G5FAV", 128, Ok(()), "ULID"),
            (b"a", 128, Ok(()), "one character is enough"),
            (long_ok.as_bytes(), 128, Ok(()), "exactly at the limit"),
            (b"dGVzdA==", 128, Ok(()), "base64 with padding"),
            (b"a_b-c.d:e/f+g", 128, Ok(()), "every allowed mark"),
            (b"", 128, Err(CorrelationIdReason::Empty), "empty"),
            (
                long_bad.as_bytes(),
                128,
                Err(CorrelationIdReason::TooLong { len: 129, max: 128 }),
                "one over",
            ),
            (
                b"abcdef",
                5,
                Err(CorrelationIdReason::TooLong { len: 6, max: 5 }),
                "custom limit",
            ),
            (
                b"a\tb",
                128,
                Err(CorrelationIdReason::ControlCharacter),
                "tab",
            ),
            (
                b"a\r\nlevel=error",
                128,
                Err(CorrelationIdReason::ControlCharacter),
                "CRLF log forging",
            ),
            (
                b"a\x00b",
                128,
                Err(CorrelationIdReason::ControlCharacter),
                "NUL",
            ),
            (
                b"a\x7fb",
                128,
                Err(CorrelationIdReason::ControlCharacter),
                "DEL",
            ),
            (
                b"caf\xc3\xa9",
                128,
                Err(CorrelationIdReason::NonAscii),
                "UTF-8",
            ),
            (
                b"a\xffb",
                128,
                Err(CorrelationIdReason::NonAscii),
                "obs-text",
            ),
            (
                b"a b",
                128,
                Err(CorrelationIdReason::DisallowedCharacter),
                "space",
            ),
            (
                b"a\"b",
                128,
                Err(CorrelationIdReason::DisallowedCharacter),
                "quote breaks JSON and logfmt",
            ),
            (
                b"a\\b",
                128,
                Err(CorrelationIdReason::DisallowedCharacter),
                "backslash",
            ),
            (
                b"a;b",
                128,
                Err(CorrelationIdReason::DisallowedCharacter),
                "semicolon",
            ),
            (
                b"a,b",
                128,
                Err(CorrelationIdReason::DisallowedCharacter),
                "comma joins header lists",
            ),
            (
                b"{a}",
                128,
                Err(CorrelationIdReason::DisallowedCharacter),
                "braces",
            ),
            (
                b"<script>",
                128,
                Err(CorrelationIdReason::DisallowedCharacter),
                "angle brackets",
            ),
        ];
        for (input, max, expected, why) in cases {
            let got = check(input, *max).map_err(|e| e.reason());
            assert_eq!(
                &got,
                expected,
                "{why}: {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn new_accepts_up_to_the_type_limit() {
        assert!(CorrelationId::new("a".repeat(CorrelationId::MAX_LEN)).is_ok());
        assert_eq!(
            CorrelationId::new("a".repeat(CorrelationId::MAX_LEN + 1))
                .unwrap_err()
                .reason(),
            CorrelationIdReason::TooLong {
                len: 1025,
                max: 1024
            }
        );
    }

    #[test]
    fn header_limit_cannot_exceed_the_type_limit() {
        let value = HeaderValue::from_str(&"a".repeat(2000)).unwrap();
        let err = CorrelationId::from_header(&value, usize::MAX).unwrap_err();
        assert_eq!(
            err.reason(),
            CorrelationIdReason::TooLong {
                len: 2000,
                max: 1024
            }
        );
    }

    #[test]
    fn uuid_form_is_lowercase_hyphenated() {
        let uuid = uuid::Uuid::from_u128(0x0190A5C8_4B7E_7C1A_9F3E_2D4B5A6C7D8E);
        let id = CorrelationId::from(uuid);
        assert_eq!(id.as_str(), "0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e");
        assert_eq!(
            HeaderValue::from(id),
            "0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e"
        );
    }

    #[test]
    fn display_debug_and_conversions() {
        let id = CorrelationId::try_from("abc").unwrap();
        assert_eq!(id.to_string(), "abc");
        assert_eq!(format!("{id:?}"), "CorrelationId(\"abc\")");
        assert_eq!(id.as_ref(), "abc");
        assert_eq!(id.header_value(), "abc");
        assert_eq!(CorrelationId::try_from(String::from("abc")).unwrap(), id);
        assert_eq!(
            CorrelationId::try_from(&HeaderValue::from_static("abc")).unwrap(),
            id
        );
        assert!("a b".parse::<CorrelationId>().is_err());
    }

    #[test]
    fn error_message_names_the_rule_and_not_the_bytes() {
        let err = CorrelationId::new("secret\"value").unwrap_err();
        let text = err.to_string();
        assert_eq!(
            text,
            "invalid correlation ID: contains a character outside the allow-list"
        );
        assert!(!text.contains("secret"));
        assert_eq!(
            CorrelationIdReason::TooLong { len: 9, max: 8 }.to_string(),
            "9 bytes, over the limit of 8"
        );
        for reason in [
            CorrelationIdReason::Empty,
            CorrelationIdReason::ControlCharacter,
            CorrelationIdReason::NonAscii,
            CorrelationIdReason::MultipleValues,
        ] {
            assert!(!reason.to_string().is_empty());
        }
    }

    proptest! {
        /// Arbitrary bytes never panic, and the verdict is exactly the documented rule.
        #[test]
        fn check_never_panics_and_matches_the_rule(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            max in 0usize..260,
        ) {
            let verdict = check(&bytes, max);
            let expected = !bytes.is_empty()
                && bytes.len() <= max
                && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(&b));
            prop_assert_eq!(verdict.is_ok(), expected);
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let parsed = CorrelationId::from_header(&value, max);
                prop_assert_eq!(parsed.is_ok(), expected);
                if let Ok(id) = parsed {
                    prop_assert_eq!(id.as_str().as_bytes(), &bytes[..]);
                }
            }
        }
    }
}
