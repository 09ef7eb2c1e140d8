//! The checked-in lists of what the layers emit (docs/reference/emitted-*.tsv), and the check
//! of real spans and labels against them.

use std::collections::BTreeSet;

/// The rows of one list: (signal, instrument, emitted name, requirement level).
pub struct Emitted(Vec<(String, String, String, String)>);

impl Emitted {
    /// docs/reference/`file`.
    pub fn read(file: &str) -> Self {
        let path = format!("{}/docs/reference/{file}", env!("CARGO_MANIFEST_DIR"));
        let rows = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                assert_eq!(fields.len(), 5, "five tab-separated fields: {line:?}");
                (
                    fields[0].to_owned(),
                    fields[1].to_owned(),
                    fields[2].to_owned(),
                    fields[4].to_owned(),
                )
            })
            .collect();
        Self(rows)
    }

    /// The names listed for `signal` (`span`, `metric`) and `instrument`.
    pub fn listed(&self, signal: &str, instrument: &str) -> BTreeSet<String> {
        self.rows(signal, instrument, false)
    }

    /// The names whose requirement level is `required`.
    pub fn required(&self, signal: &str, instrument: &str) -> BTreeSet<String> {
        self.rows(signal, instrument, true)
    }

    fn rows(&self, signal: &str, instrument: &str, required: bool) -> BTreeSet<String> {
        self.0
            .iter()
            .filter(|(s, i, _, level)| {
                s == signal && i == instrument && (!required || level.starts_with("required"))
            })
            .map(|(_, _, name, _)| name.clone())
            .collect()
    }
}

/// Asserts that each of `items` (a name and the keys it carries) carries only `allowed` keys
/// and every `required` one.
pub fn assert_listed(
    what: &str,
    items: &[(String, BTreeSet<String>)],
    allowed: &BTreeSet<String>,
    required: &BTreeSet<String>,
) {
    for (name, keys) in items {
        let unlisted: Vec<_> = keys.difference(allowed).collect();
        assert!(
            unlisted.is_empty(),
            "{what}: {name} carries unlisted {unlisted:?}"
        );
        let missing: Vec<_> = required.difference(keys).collect();
        assert!(
            missing.is_empty(),
            "{what}: {name} lacks required {missing:?}"
        );
    }
}
