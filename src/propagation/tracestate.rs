//! The `tracestate` header, W3C Trace Context Level 2 §3.3.

use std::fmt;

use opentelemetry::trace::TraceState;

/// The most list members a `tracestate` may have.
pub const MAX_MEMBERS: usize = 32;

/// The longest combined `tracestate` read, in bytes: 32 members of a 256-byte key, `=` and a
/// 256-byte value, with their commas. Anything longer cannot be valid, so it is refused before
/// it is scanned.
pub const MAX_LEN: usize = MAX_MEMBERS * (256 + 1 + 256) + (MAX_MEMBERS - 1);

/// A `tracestate` list as the current recommendation has it: its members in the order they
/// came, the first occurrence of a repeated key kept. Made by [`parse_tracestate`].
///
/// It is sent on as it came ([`header`](Self::header)), not through OpenTelemetry's
/// `TraceState`, whose key check predates the current grammar (it refuses `foo@@bar`, a second
/// `@`, and system IDs over 14 characters, which are valid keys now).
/// [`trace_state`](Self::trace_state) holds the members OpenTelemetry accepts, for the span
/// contexts of the SDK.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceStateList {
    /// The members, `key=value` joined by commas.
    header: String,
    /// The members OpenTelemetry's `TraceState` accepts.
    otel: TraceState,
}

impl TraceStateList {
    /// The list as a `tracestate` header value: `key=value` members joined by commas, empty
    /// for an empty list.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The members, in order.
    pub fn members(&self) -> impl Iterator<Item = (&str, &str)> {
        self.header
            .split(',')
            .filter_map(|member| member.split_once('='))
    }

    /// How many members the list has.
    pub fn len(&self) -> usize {
        self.members().count()
    }

    /// Whether the list has no member.
    pub fn is_empty(&self) -> bool {
        self.header.is_empty()
    }

    /// The members OpenTelemetry's `TraceState` accepts, in order: all of them, unless a key
    /// is one only the current grammar allows.
    pub fn trace_state(&self) -> &TraceState {
        &self.otel
    }

    fn new(members: &[(&str, &str)]) -> Self {
        let mut header =
            String::with_capacity(members.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
        for (i, (key, value)) in members.iter().enumerate() {
            if i > 0 {
                header.push(',');
            }
            header.push_str(key);
            header.push('=');
            header.push_str(value);
        }
        let otel = TraceState::from_key_value(members.iter().copied()).unwrap_or_else(|_| {
            // Only a key the current grammar added is refused: keep the others.
            TraceState::from_key_value(
                members
                    .iter()
                    .copied()
                    .filter(|member| TraceState::from_key_value([*member]).is_ok()),
            )
            .unwrap_or_default()
        });
        Self { header, otel }
    }
}

/// Parses the `tracestate` header lines of one request, combined in order as one list.
///
/// Follows the grammar of the current recommendation (W3C Trace Context Level 2, 3.3.1): a key
/// is a lowercase letter or a digit, then up to 255 of `a-z 0-9 _ - * / @`; a value is 1 to
/// 256 printable ASCII characters other than `,` and `=`, not ending in a space. Optional white
/// space around members is ignored and empty members are skipped. A key that appears again
/// keeps its first value and the later members with that key are dropped: vendors add and
/// update their members at the left of the list, so the first is the most recent. More than 32 members or any malformed member
/// makes the whole `tracestate` invalid.
///
/// ```
/// use tower_telemetry::propagation::parse_tracestate;
///
/// let state = parse_tracestate([&b"rojo=00f067aa0ba902b7, tenant@vendor=t61rcWkgMzE"[..]]).unwrap();
/// assert_eq!(state.get("rojo"), Some("00f067aa0ba902b7"));
/// assert_eq!(state.get("tenant@vendor"), Some("t61rcWkgMzE"));
/// let twice = parse_tracestate([&b"rojo=1,congo=2,rojo=3"[..]]).unwrap();
/// assert_eq!(twice.header(), "rojo=1,congo=2");
/// assert!(parse_tracestate([&b"@rojo=1"[..]]).is_err());
/// ```
pub fn parse_tracestate<'a, I>(lines: I) -> Result<TraceStateList, InvalidTraceState>
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
            // Both were checked to be ASCII just above.
            let (Ok(key), Ok(value)) = (std::str::from_utf8(key), std::str::from_utf8(value))
            else {
                return err(R::Value);
            };
            if members.iter().any(|(k, _)| *k == key) {
                continue;
            }
            if members.len() == MAX_MEMBERS {
                return err(R::TooManyMembers);
            }
            members.push((key, value));
        }
    }
    Ok(TraceStateList::new(&members))
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
}

impl fmt::Display for TraceStateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLong => "longer than any valid tracestate",
            Self::TooManyMembers => "more than 32 list members",
            Self::MissingEquals => "a list member has no `=`",
            Self::Key => "a key breaks the key grammar",
            Self::Value => "a value breaks the value grammar",
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

/// `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`.
fn key_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/' | b'@')
}

/// `key = ( lcalpha / DIGIT ) 0*255 ( keychar )`: the current grammar, in which `@` is a key
/// character like the others (the earlier `tenant@system` split, with its 241 + 14 limits, is
/// gone).
fn valid_key(key: &[u8]) -> bool {
    match key {
        [first, rest @ ..] => {
            (first.is_ascii_lowercase() || first.is_ascii_digit())
                && rest.len() <= 255
                && rest.iter().all(|&b| key_char(b))
        }
        [] => false,
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
        let ok_tenant_242 = format!("{tenant_242}@sys=v");
        // The current grammar's own examples: `@` anywhere after the first character.
        let tenant_241_system_14 = format!("{tenant_241}@{}", "s".repeat(14));
        let t_242_at_v = format!("{}@v", "t".repeat(242));
        let (long_at, t_at) = (
            format!("{tenant_241_system_14}=1"),
            format!("{t_242_at_v}=1"),
        );
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
                Ok(kv(&[("rojo", "1")])),
                "a duplicate key across lines: the first kept",
            ),
            (
                vec!["rojo=1,congo=2,rojo=1"],
                Ok(kv(&[("rojo", "1"), ("congo", "2")])),
                "a duplicate key, same value",
            ),
            (
                vec!["foo@=1", "foo@@bar=2", "foo@bar@baz=3"],
                Ok(kv(&[
                    ("foo@", "1"),
                    ("foo@@bar", "2"),
                    ("foo@bar@baz", "3"),
                ])),
                "`@` is a key character",
            ),
            (
                vec![&long_at, &t_at],
                Ok(kv(&[(&tenant_241_system_14, "1"), (&t_242_at_v, "1")])),
                "no tenant and system limits any more",
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
                Ok(kv(&[("1rojo", "1")])),
                "a key may start with a digit",
            ),
            (vec!["=1"], Err(R::Key), "empty key"),
            (vec!["ro jo=1"], Err(R::Key), "space in a key"),
            (vec!["ro.jo=1"], Err(R::Key), "dot in a key"),
            (vec![&bad_key_257], Err(R::Key), "257-character key"),
            (
                vec![&ok_tenant_242],
                Ok(kv(&[(&format!("{tenant_242}@sys"), "v")])),
                "a 242-character part before `@`",
            ),
            (vec!["@sys=1"], Err(R::Key), "a key starting with @"),
            (vec!["_t@sys=1"], Err(R::Key), "a key starting with _"),
            (vec!["Foo@bar=1"], Err(R::Key), "uppercase before @"),
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
