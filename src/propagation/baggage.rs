//! The `baggage` header, W3C Baggage.

use std::fmt::{self, Write as _};

use opentelemetry::baggage::Baggage;

use super::tracestate::trim_ows;

/// The longest combined `baggage` read, in bytes, as the W3C limits section sets it.
pub const MAX_LEN: usize = 8192;

/// The most list members read. W3C asks for at least 64; it is also the most OpenTelemetry's
/// `Baggage` holds.
pub const MAX_MEMBERS: usize = 64;

/// Parses the `baggage` header lines of one request, combined in order as one list.
///
/// Each member is `key=value` with optional properties (`;prop` or `;prop=value`). Keys and
/// property names are HTTP tokens; values are `baggage-octet`s and are percent-decoded as UTF-8.
/// Optional white space around members, `=` and `;` is ignored, and empty members are skipped.
/// A header longer than 8,192 bytes, with more than 64 members, or with any malformed member is
/// refused whole. When a key repeats, the last value wins.
///
/// ```
/// use tower_telemetry::propagation::parse_baggage;
///
/// let baggage = parse_baggage([&b"userId=alice, serverNode=DF%2028;ttl=60"[..]]).unwrap();
/// assert_eq!(baggage.get("serverNode").map(|v| v.as_str()), Some("DF 28"));
/// assert!(parse_baggage([&b"bad key=1"[..]]).is_err());
/// ```
pub fn parse_baggage<'a, I>(lines: I) -> Result<Baggage, InvalidBaggage>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    use BaggageReason as R;
    let err = |reason| Err(InvalidBaggage { reason });
    let mut baggage = Baggage::new();
    let mut members = 0usize;
    // The combined length (commas between lines included) is checked before each line is
    // scanned, so no more than the limit is ever read.
    let mut total = 0usize;
    for line in lines {
        total = total.saturating_add(line.len() + 1);
        if total > MAX_LEN + 1 {
            return err(R::TooLong);
        }
        for member in line.split(|&b| b == b',') {
            let member = trim_ows(member);
            if member.is_empty() {
                continue;
            }
            members += 1;
            if members > MAX_MEMBERS {
                return err(R::TooManyMembers);
            }
            let mut parts = member.split(|&b| b == b';');
            let pair = parts.next().unwrap_or_default();
            let Some((key, value)) = split_pair(pair) else {
                return err(R::MissingEquals);
            };
            if !is_token(key) {
                return err(R::Key);
            }
            let Some(value) = decode_value(value) else {
                return err(R::Value);
            };
            let mut properties = Vec::new();
            for property in parts {
                let property = trim_ows(property);
                let valid = match split_pair(property) {
                    Some((name, value)) => is_token(name) && value.iter().all(|&b| is_octet(b)),
                    None => is_token(property),
                };
                if !valid {
                    return err(R::Property);
                }
                properties.push(String::from_utf8_lossy(property));
            }
            // The key is an ASCII token, within the 8 KiB total: OpenTelemetry's own checks pass.
            let key = String::from_utf8_lossy(key).into_owned();
            baggage.insert_with_metadata(key, value, properties.join(";"));
        }
    }
    Ok(baggage)
}

/// Encodes baggage as a header value: `key=value` members, values percent-encoded, properties
/// kept. `None` for empty baggage.
pub(crate) fn encode_baggage(baggage: &Baggage) -> Option<String> {
    if baggage.is_empty() {
        return None;
    }
    // Held to the limits the parser enforces on the way in ([`MAX_MEMBERS`], [`MAX_LEN`]):
    // a member that would cross them is left out, so no call sends an unbounded header.
    let mut out = String::new();
    let mut member = String::new();
    let mut members = 0usize;
    for (key, (value, metadata)) in baggage {
        if members == MAX_MEMBERS {
            break;
        }
        member.clear();
        member.push_str(key.as_str());
        member.push('=');
        for &b in value.as_str().as_bytes() {
            if is_octet(b) && b != b'%' {
                member.push(char::from(b));
            } else {
                // Writing to a `String` cannot fail.
                let _ = write!(member, "%{b:02X}");
            }
        }
        if !metadata.as_str().is_empty() {
            member.push(';');
            member.push_str(metadata.as_str());
        }
        let comma = usize::from(!out.is_empty());
        if out.len() + comma + member.len() > MAX_LEN {
            continue;
        }
        if comma == 1 {
            out.push(',');
        }
        out.push_str(&member);
        members += 1;
    }
    (!out.is_empty()).then_some(out)
}

refusal_error!(
    /// Why a `baggage` header was refused. Its `Display` names the rule, never the bytes.
    InvalidBaggage(BaggageReason),
    "baggage"
);

/// The rule a refused `baggage` header broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BaggageReason {
    /// Longer than 8,192 bytes.
    TooLong,
    /// More than 64 list members.
    TooManyMembers,
    /// A member without `=`.
    MissingEquals,
    /// A key that is not an HTTP token.
    Key,
    /// A value with a character outside `baggage-octet`, a bad percent escape, or bytes that
    /// do not decode as UTF-8.
    Value,
    /// A malformed property.
    Property,
}

impl fmt::Display for BaggageReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLong => "longer than 8192 bytes",
            Self::TooManyMembers => "more than 64 list members",
            Self::MissingEquals => "a list member has no `=`",
            Self::Key => "a key is not a token",
            Self::Value => "a value is not a percent-encoded UTF-8 baggage value",
            Self::Property => "a property is malformed",
        })
    }
}

/// Splits `a OWS "=" OWS b` at the first `=`, trimming white space around both halves.
fn split_pair(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let eq = bytes.iter().position(|&b| b == b'=')?;
    Some((trim_ows(&bytes[..eq]), trim_ows(&bytes[eq + 1..])))
}

/// RFC 9110 `token`: one or more `tchar`.
fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`.
fn is_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Checks a raw value and percent-decodes it as UTF-8.
fn decode_value(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        if !is_octet(b) {
            return None;
        }
        if b == b'%' {
            let hi = char::from(*bytes.next()?).to_digit(16)?;
            let lo = char::from(*bytes.next()?).to_digit(16)?;
            // Two hex digits make at most 0xff.
            out.push(u8::try_from(hi << 4 | lo).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;

    #[test]
    fn encoding_stays_within_the_limits_the_parser_enforces() {
        let many = Baggage::from_iter((0..100).map(|i| KeyValue::new(format!("k{i}"), "v")));
        let header = encode_baggage(&many).unwrap();
        assert_eq!(header.split(',').count(), MAX_MEMBERS);
        assert!(parse_baggage([header.as_bytes()]).is_ok());

        let huge = Baggage::from_iter([
            KeyValue::new("big", "x".repeat(MAX_LEN)),
            KeyValue::new("small", "ok"),
        ]);
        let header = encode_baggage(&huge).unwrap();
        assert_eq!(header, "small=ok");
        assert_eq!(
            encode_baggage(&Baggage::from_iter([KeyValue::new(
                "big",
                "x".repeat(MAX_LEN)
            )])),
            None
        );
    }
    use proptest::prelude::*;

    /// The members as (key, value, metadata), sorted by key.
    fn parse(lines: &[&str]) -> Result<Vec<(String, String, String)>, BaggageReason> {
        parse_baggage(lines.iter().map(|l| l.as_bytes()))
            .map(|baggage| {
                let mut members: Vec<_> = baggage
                    .iter()
                    .map(|(k, (v, m))| (k.to_string(), v.to_string(), m.as_str().to_owned()))
                    .collect();
                members.sort();
                members
            })
            .map_err(|e| e.reason())
    }

    fn members(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
        let mut out: Vec<_> = list
            .iter()
            .map(|(k, v, m)| ((*k).to_owned(), (*v).to_owned(), (*m).to_owned()))
            .collect();
        out.sort();
        out
    }

    /// Every row: the header lines, the expected outcome, and the rule it shows.
    #[test]
    fn parse_table() {
        use BaggageReason as R;
        let long = format!("k={}", "v".repeat(MAX_LEN));
        let many: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
        let many = many.join(",");
        /// Header lines, expected members or reason, why.
        type Case<'a> = (
            Vec<&'a str>,
            Result<Vec<(String, String, String)>, BaggageReason>,
            &'a str,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                vec!["userId=alice"],
                Ok(members(&[("userId", "alice", "")])),
                "one member",
            ),
            (
                vec!["a=1,b=2", "c=3"],
                Ok(members(&[("a", "1", ""), ("b", "2", ""), ("c", "3", "")])),
                "lines are combined",
            ),
            (
                vec![" a = 1 ,\tb=2 "],
                Ok(members(&[("a", "1", ""), ("b", "2", "")])),
                "OWS around members and =",
            ),
            (
                vec!["a=1,,b=2,"],
                Ok(members(&[("a", "1", ""), ("b", "2", "")])),
                "empty members are skipped",
            ),
            (
                vec!["a=DF%2028%C3%A9"],
                Ok(members(&[("a", "DF 28\u{e9}", "")])),
                "percent-decoded UTF-8",
            ),
            (
                vec!["a=%e2%82%ac"],
                Ok(members(&[("a", "\u{20ac}", "")])),
                "lowercase escapes",
            ),
            (vec!["a="], Ok(members(&[("a", "", "")])), "empty value"),
            (
                vec!["a=1;ttl=60;secret"],
                Ok(members(&[("a", "1", "ttl=60;secret")])),
                "properties kept as metadata",
            ),
            (
                vec!["a=1 ; ttl = 60"],
                Ok(members(&[("a", "1", "ttl = 60")])),
                "OWS around ;",
            ),
            (
                vec!["a=1,a=2"],
                Ok(members(&[("a", "2", "")])),
                "the last value of a key wins",
            ),
            (
                vec!["!#$%&'*+-.^_`|~=1"],
                Ok(members(&[("!#$%&'*+-.^_`|~", "1", "")])),
                "every token character",
            ),
            (vec![""], Ok(vec![]), "empty header"),
            (vec![&long], Err(R::TooLong), "over 8192 bytes"),
            (vec![&many], Err(R::TooManyMembers), "65 members"),
            (vec!["a"], Err(R::MissingEquals), "no ="),
            (vec!["a b=1"], Err(R::Key), "space in a key"),
            (vec!["a/b=1"], Err(R::Key), "separator in a key"),
            (vec!["=1"], Err(R::Key), "empty key"),
            (vec!["k=caf\u{e9}"], Err(R::Value), "raw non-ASCII value"),
            (vec!["k=a b"], Err(R::Value), "space inside a value"),
            (vec!["k=a\"b"], Err(R::Value), "quote in a value"),
            (vec!["k=a\\b"], Err(R::Value), "backslash in a value"),
            (vec!["k=%zz"], Err(R::Value), "bad escape"),
            (vec!["k=%4"], Err(R::Value), "truncated escape"),
            (vec!["k=%ff"], Err(R::Value), "escape that is not UTF-8"),
            (
                vec!["k=1;bad prop"],
                Err(R::Property),
                "space in a property name",
            ),
            (
                vec!["k=1;p=a b"],
                Err(R::Property),
                "space in a property value",
            ),
            (vec!["k=1;"], Err(R::Property), "empty property"),
        ];
        for (lines, expected, why) in cases {
            assert_eq!(parse(&lines), expected, "{why}: {lines:?}");
        }
    }

    #[test]
    fn encoding_round_trips_through_parsing() {
        let mut baggage = Baggage::new();
        baggage.insert_with_metadata("user", "al ice, \"quoted\"; 100% \u{20ac}", "ttl=60");
        baggage.insert("plain", "v");
        let header = encode_baggage(&baggage).unwrap();
        assert!(header.is_ascii() && !header.contains(' ') && !header.contains('"'));
        let parsed = parse_baggage([header.as_bytes()]).unwrap();
        assert_eq!(
            parsed
                .get_with_metadata("user")
                .map(|(v, m)| (v.as_str(), m.as_str())),
            Some(("al ice, \"quoted\"; 100% \u{20ac}", "ttl=60"))
        );
        assert_eq!(parsed.get("plain").map(|v| v.as_str()), Some("v"));
        assert_eq!(encode_baggage(&Baggage::new()), None);
    }

    #[test]
    fn messages_name_the_rule() {
        let err = parse_baggage([&b"a b=1"[..]]).unwrap_err();
        assert_eq!(err.to_string(), "invalid baggage: a key is not a token");
        for reason in [
            BaggageReason::TooLong,
            BaggageReason::TooManyMembers,
            BaggageReason::MissingEquals,
            BaggageReason::Value,
            BaggageReason::Property,
        ] {
            assert!(!reason.to_string().is_empty());
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_lines(
            lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..4)
        ) {
            let _ = parse_baggage(lines.iter().map(Vec::as_slice));
        }

        /// Any UTF-8 value survives encoding and parsing unchanged.
        #[test]
        fn any_value_round_trips(key in "[a-zA-Z0-9_.-]{1,20}", value in ".{0,40}") {
            let mut baggage = Baggage::new();
            baggage.insert(key.clone(), value.clone());
            let header = encode_baggage(&baggage).unwrap();
            let parsed = parse_baggage([header.as_bytes()]).unwrap();
            prop_assert_eq!(parsed.get(&key).map(|v| v.as_str().to_owned()), Some(value));
        }
    }
}
