//! The `tracestate` header, W3C Trace Context Level 2 §3.3.

use std::fmt;

use opentelemetry::trace::TraceState;

/// The most list members a `tracestate` may have.
pub const MAX_MEMBERS: usize = 32;

/// The longest combined `tracestate` read, in bytes: 32 members of a 256-byte key, `=` and a
/// 256-byte value, with their commas. Anything longer cannot be valid, so it is refused before
/// it is scanned.
pub const MAX_LEN: usize = MAX_MEMBERS * (256 + 1 + 256) + (MAX_MEMBERS - 1);

/// Parses the `tracestate` header lines of one request, combined in order as one list.
///
/// Follows the key and value grammar of the current recommendation: simple keys (a lowercase
/// letter, then up to 255 of `a-z 0-9 _ - * /`) and multi-tenant keys (`tenant@system`, with
/// tenant IDs up to 241 characters starting with a letter or digit and system IDs up to 14
/// starting with a letter); values of 1 to 256 printable ASCII characters other than `,` and
/// `=`, not ending in a space. Optional white space around members is ignored and empty
/// members are skipped. More than 32 members, a duplicate key or any malformed member makes the
/// whole `tracestate` invalid.
///
/// ```
/// use tower_telemetry::propagation::parse_tracestate;
///
/// let state = parse_tracestate([&b"rojo=00f067aa0ba902b7, tenant@vendor=t61rcWkgMzE"[..]]).unwrap();
/// assert_eq!(state.get("rojo"), Some("00f067aa0ba902b7"));
/// assert_eq!(state.get("tenant@vendor"), Some("t61rcWkgMzE"));
/// assert!(parse_tracestate([&b"rojo=1,rojo=2"[..]]).is_err());
/// ```
pub fn parse_tracestate<'a, I>(lines: I) -> Result<TraceState, InvalidTraceState>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    use TraceStateReason as R;
    let err = |reason| Err(InvalidTraceState { reason });
    let mut members: Vec<(&str, &str)> = Vec::new();
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
            let Some(eq) = member.iter().position(|&b| b == b'=') else {
                return err(R::MissingEquals);
            };
            let (key, value) = (&member[..eq], &member[eq + 1..]);
            if !valid_key(key) {
                return err(R::Key);
            }
            if !valid_value(value) {
                return err(R::Value);
            }
            if members.len() == MAX_MEMBERS {
                return err(R::TooManyMembers);
            }
            // Both were checked to be ASCII just above.
            let (Ok(key), Ok(value)) = (std::str::from_utf8(key), std::str::from_utf8(value))
            else {
                return err(R::Value);
            };
            if members.iter().any(|(k, _)| *k == key) {
                return err(R::DuplicateKey);
            }
            members.push((key, value));
        }
    }
    // Every key and value passed a grammar stricter than OpenTelemetry's own checks, and there
    // are at most 32, so the conversion cannot fail; the fallback keeps the path panic-free.
    TraceState::from_key_value(members).or(err(R::Key))
}

refusal_error!(
    /// Why a `tracestate` was refused. Its `Display` names the rule, never the bytes.
    InvalidTraceState(TraceStateReason),
    "tracestate"
);

/// The rule a refused `tracestate` broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceStateReason {
    /// Longer than any valid `tracestate` can be.
    TooLong,
    /// More than 32 list members.
    TooManyMembers,
    /// A member without `=`.
    MissingEquals,
    /// A key outside the key grammar.
    Key,
    /// A value outside the value grammar (empty, too long, a forbidden character, a trailing
    /// space).
    Value,
    /// The same key twice.
    DuplicateKey,
}

impl fmt::Display for TraceStateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLong => "longer than any valid tracestate",
            Self::TooManyMembers => "more than 32 list members",
            Self::MissingEquals => "a list member has no `=`",
            Self::Key => "a key breaks the key grammar",
            Self::Value => "a value breaks the value grammar",
            Self::DuplicateKey => "a key appears twice",
        })
    }
}

/// Strips optional white space (space and horizontal tab) from both ends.
pub(crate) fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// `lcalpha / DIGIT / "_" / "-" / "*" / "/"`: a key character after the first.
fn key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
}

fn valid_key(key: &[u8]) -> bool {
    match key.iter().position(|&b| b == b'@') {
        // simple-key = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
        None => match key {
            [first, rest @ ..] => {
                first.is_ascii_lowercase() && rest.len() <= 255 && rest.iter().all(|&b| key_char(b))
            }
            [] => false,
        },
        // multi-tenant-key = tenant-id "@" system-id
        Some(at) => {
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            let tenant_ok = match tenant {
                [first, rest @ ..] => {
                    (first.is_ascii_lowercase() || first.is_ascii_digit())
                        && rest.len() <= 240
                        && rest.iter().all(|&b| key_char(b))
                }
                [] => false,
            };
            let system_ok = match system {
                [first, rest @ ..] => {
                    first.is_ascii_lowercase()
                        && rest.len() <= 13
                        && rest.iter().all(|&b| key_char(b))
                }
                [] => false,
            };
            tenant_ok && system_ok
        }
    }
}

/// `value = 0*255(chr) nblk-chr`, `chr = %x20 / nblk-chr`,
/// `nblk-chr = %x21-2B / %x2D-3C / %x3E-7E`.
fn valid_value(value: &[u8]) -> bool {
    let nblk = |b: u8| (0x21..=0x7e).contains(&b) && b != b',' && b != b'=';
    match value {
        [rest @ .., last] => {
            rest.len() <= 255 && nblk(*last) && rest.iter().all(|&b| b == b' ' || nblk(b))
        }
        [] => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(lines: &[&str]) -> Result<Vec<(String, String)>, TraceStateReason> {
        parse_tracestate(lines.iter().map(|l| l.as_bytes()))
            .map(|state| {
                let header = state.header();
                if header.is_empty() {
                    return Vec::new();
                }
                header
                    .split(',')
                    .map(|m| {
                        let (k, v) = m.split_once('=').unwrap();
                        (k.to_owned(), v.to_owned())
                    })
                    .collect()
            })
            .map_err(|e| e.reason())
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Every row: the header lines, the expected outcome, and the rule it shows.
    #[test]
    fn parse_table() {
        use TraceStateReason as R;
        let key_256 = format!("a{}", "b".repeat(255));
        let key_257 = format!("a{}", "b".repeat(256));
        let value_256 = "v".repeat(256);
        let value_257 = "v".repeat(257);
        let tenant_241 = format!("t{}", "0".repeat(240));
        let tenant_242 = format!("t{}", "0".repeat(241));
        let members_32: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        let members_33: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        let (m32, m33) = (members_32.join(","), members_33.join(","));
        let ok_key_256 = format!("{key_256}=v");
        let bad_key_257 = format!("{key_257}=v");
        let ok_value_256 = format!("k={value_256}");
        let bad_value_257 = format!("k={value_257}");
        let ok_tenant_241 = format!("{tenant_241}@sys=v");
        let bad_tenant_242 = format!("{tenant_242}@sys=v");
        /// Header lines, expected members or reason, why.
        type Case<'a> = (
            Vec<&'a str>,
            Result<Vec<(String, String)>, TraceStateReason>,
            &'a str,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                vec!["rojo=00f067aa0ba902b7"],
                Ok(kv(&[("rojo", "00f067aa0ba902b7")])),
                "one member",
            ),
            (
                vec!["rojo=1,congo=2"],
                Ok(kv(&[("rojo", "1"), ("congo", "2")])),
                "order is kept",
            ),
            (
                vec!["rojo=1", "congo=2"],
                Ok(kv(&[("rojo", "1"), ("congo", "2")])),
                "several lines are combined",
            ),
            (
                vec![" rojo=1 ,\tcongo=2\t"],
                Ok(kv(&[("rojo", "1"), ("congo", "2")])),
                "OWS around members",
            ),
            (
                vec!["rojo=1,,congo=2,"],
                Ok(kv(&[("rojo", "1"), ("congo", "2")])),
                "empty members are skipped",
            ),
            (vec![""], Ok(vec![]), "an empty header is an empty list"),
            (
                vec!["a_-*/9=1"],
                Ok(kv(&[("a_-*/9", "1")])),
                "every key character",
            ),
            (
                vec!["t0@sys=1"],
                Ok(kv(&[("t0@sys", "1")])),
                "multi-tenant key",
            ),
            (
                vec!["0tenant@sys=1"],
                Ok(kv(&[("0tenant@sys", "1")])),
                "tenant may start with a digit",
            ),
            (
                vec!["t@s23456789abcd=1"],
                Ok(kv(&[("t@s23456789abcd", "1")])),
                "14-character system ID",
            ),
            (
                vec!["k=a b"],
                Ok(kv(&[("k", "a b")])),
                "inner space in a value",
            ),
            (
                vec!["k=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~"],
                Ok(kv(&[("k", "!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~")])),
                "every punctuation mark but , and =",
            ),
            (
                vec![&ok_key_256],
                Ok(kv(&[(&key_256, "v")])),
                "256-character key",
            ),
            (
                vec![&ok_value_256],
                Ok(kv(&[("k", &value_256)])),
                "256-character value",
            ),
            (
                vec![&ok_tenant_241],
                Ok(kv(&[(&format!("{tenant_241}@sys"), "v")])),
                "241-character tenant ID",
            ),
            (
                vec![&m32],
                Ok(members_32
                    .iter()
                    .map(|m| {
                        let (k, v) = m.split_once('=').unwrap();
                        (k.to_owned(), v.to_owned())
                    })
                    .collect()),
                "32 members",
            ),
            (vec![&m33], Err(R::TooManyMembers), "33 members"),
            (
                vec!["rojo=1", "rojo=2"],
                Err(R::DuplicateKey),
                "duplicate keys across lines",
            ),
            (
                vec!["rojo=1,congo=2,rojo=1"],
                Err(R::DuplicateKey),
                "duplicate keys, same value",
            ),
            (vec!["rojo"], Err(R::MissingEquals), "no ="),
            (vec!["k="], Err(R::Value), "empty value"),
            (vec!["k=a=b"], Err(R::Value), "= in a value"),
            (vec!["k=caf\u{e9}"], Err(R::Value), "non-ASCII value"),
            (vec!["k=a\u{7f}"], Err(R::Value), "DEL in a value"),
            (vec![&bad_value_257], Err(R::Value), "257-character value"),
            (vec!["Rojo=1"], Err(R::Key), "uppercase key"),
            (
                vec!["1rojo=1"],
                Err(R::Key),
                "simple key starting with a digit",
            ),
            (vec!["=1"], Err(R::Key), "empty key"),
            (vec!["ro jo=1"], Err(R::Key), "space in a key"),
            (vec!["ro.jo=1"], Err(R::Key), "dot in a key"),
            (vec![&bad_key_257], Err(R::Key), "257-character key"),
            (
                vec![&bad_tenant_242],
                Err(R::Key),
                "242-character tenant ID",
            ),
            (
                vec!["t@s234567890abcd=1"],
                Err(R::Key),
                "15-character system ID",
            ),
            (
                vec!["t@0sys=1"],
                Err(R::Key),
                "system ID starting with a digit",
            ),
            (vec!["@sys=1"], Err(R::Key), "empty tenant ID"),
            (vec!["t@=1"], Err(R::Key), "empty system ID"),
            (vec!["t@s@y=1"], Err(R::Key), "two @"),
            (vec!["_t@sys=1"], Err(R::Key), "tenant starting with _"),
        ];
        for (lines, expected, why) in cases {
            assert_eq!(parse(&lines), expected, "{why}: {lines:?}");
        }
    }

    #[test]
    fn trailing_space_is_trimmed_as_ows_but_not_inside() {
        // OWS after a member is not part of its value.
        assert_eq!(parse(&["k=v "]), Ok(kv(&[("k", "v")])));
        assert_eq!(parse(&["k=v \t,x=1"]), Ok(kv(&[("k", "v"), ("x", "1")])));
    }

    #[test]
    fn oversized_input_is_refused_before_scanning() {
        let huge = "k=v,".repeat(MAX_LEN);
        assert_eq!(parse(&[&huge]), Err(TraceStateReason::TooLong));
        let long_line = "x".repeat(MAX_LEN);
        assert_eq!(
            parse(&["rojo=1", &long_line]),
            Err(TraceStateReason::TooLong),
            "the limit is on the combined lines"
        );
    }

    #[test]
    fn messages_name_the_rule() {
        let err = parse_tracestate([&b"Rojo=1"[..]]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid tracestate: a key breaks the key grammar"
        );
        for reason in [
            TraceStateReason::TooLong,
            TraceStateReason::TooManyMembers,
            TraceStateReason::MissingEquals,
            TraceStateReason::Value,
            TraceStateReason::DuplicateKey,
        ] {
            assert!(!reason.to_string().is_empty());
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_lines(
            lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..4)
        ) {
            let _ = parse_tracestate(lines.iter().map(Vec::as_slice));
        }

        /// Lists built from the grammar always parse, to the same members in the same order.
        #[test]
        fn grammar_made_lists_parse(
            members in proptest::collection::btree_map("[a-z][a-z0-9_*/-]{0,20}", "[!-+\\--<>-~]([ !-+\\--<>-~]{0,20}[!-+\\--<>-~])?", 0..32)
        ) {
            let header = members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            let parsed = parse(&[&header]).unwrap();
            prop_assert_eq!(parsed, members.into_iter().collect::<Vec<_>>());
        }
    }
}
