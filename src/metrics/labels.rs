//! Label sets registered once, looked up without allocating, and capped.
//!
//! Each distinct label set of a metric is registered with the recorder the first time it is
//! seen and its handle kept; later requests with the same labels find the handle with a
//! borrowed key, so the hot path neither allocates nor formats. Once `max` label sets exist,
//! new ones share a single overflow series labelled `otel.metric.overflow="true"` (the
//! OpenTelemetry cardinality-limit convention), so no input can create unbounded series.

use std::hash::{Hash, Hasher};
use std::sync::{PoisonError, RwLock};

use ::metrics::Label;
use hashbrown::{Equivalent, HashMap};

/// The label of the series that absorbs label sets over the cap.
pub const OVERFLOW_LABEL: &str = "otel.metric.overflow";

/// A label set as values borrowed from the request, `None` for an absent label.
pub(crate) struct Values<'a, const N: usize>(pub(crate) [Option<&'a str>; N]);

#[derive(PartialEq, Eq)]
struct Owned<const N: usize>([Option<Box<str>>; N]);

impl<const N: usize> Hash for Owned<N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_values(self.0.iter().map(Option::as_deref), state);
    }
}

impl<const N: usize> Hash for Values<'_, N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_values(self.0.iter().copied(), state);
    }
}

/// One hasher call per value, its length (or a marker for an absent one) then its bytes,
/// instead of the three `Option<&str>::hash` makes: about half the instructions on the hot path.
fn hash_values<'a, H: Hasher>(values: impl Iterator<Item = Option<&'a str>>, state: &mut H) {
    for value in values {
        match value {
            Some(value) => {
                state.write_usize(value.len());
                state.write(value.as_bytes());
            }
            None => state.write_usize(usize::MAX),
        }
    }
}

impl<const N: usize> Equivalent<Owned<N>> for Values<'_, N> {
    fn equivalent(&self, key: &Owned<N>) -> bool {
        self.0
            .iter()
            .zip(&key.0)
            .all(|(borrowed, owned)| *borrowed == owned.as_deref())
    }
}

/// The handles of one metric, by label set, at most `max` of them plus the overflow series.
pub(crate) struct LabelSets<const N: usize, H> {
    names: [&'static str; N],
    max: usize,
    sets: RwLock<HashMap<Owned<N>, H>>,
    overflow: RwLock<Option<H>>,
}

impl<const N: usize, H: Clone> LabelSets<N, H> {
    pub(crate) fn new(names: [&'static str; N], max: usize) -> Self {
        Self {
            names,
            max,
            sets: RwLock::new(HashMap::new()),
            overflow: RwLock::new(None),
        }
    }

    /// The handle for `values`, registered with `register` the first time they are seen.
    pub(crate) fn get(&self, values: &Values<'_, N>, register: impl Fn(Vec<Label>) -> H) -> H {
        // A panic elsewhere while a lock was held leaves the map consistent (entries are only
        // ever inserted whole), so a poisoned lock is used as it is.
        if let Some(handle) = self
            .sets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(values)
        {
            return handle.clone();
        }
        let mut sets = self.sets.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = sets.get(values) {
            return handle.clone();
        }
        if sets.len() >= self.max {
            drop(sets);
            return self.overflow(register);
        }
        let labels = self
            .names
            .iter()
            .zip(&values.0)
            .filter_map(|(name, value)| value.map(|v| Label::new(*name, v.to_owned())))
            .collect();
        let handle = register(labels);
        let key = Owned(values.0.map(|v| v.map(Box::from)));
        sets.insert(key, handle.clone());
        handle
    }

    fn overflow(&self, register: impl Fn(Vec<Label>) -> H) -> H {
        if let Some(handle) = &*self.overflow.read().unwrap_or_else(PoisonError::into_inner) {
            return handle.clone();
        }
        self.overflow
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(|| register(vec![Label::new(OVERFLOW_LABEL, "true")]))
            .clone()
    }

    /// How many label sets are registered, the overflow series not counted.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl<const N: usize, H> std::fmt::Debug for LabelSets<N, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelSets")
            .field("names", &self.names)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn registers_each_label_set_once_and_caps_the_rest() {
        let sets = LabelSets::<2, Vec<Label>>::new(["method", "route"], 3);
        let registered = AtomicUsize::new(0);
        let register = |labels: Vec<Label>| {
            registered.fetch_add(1, Ordering::Relaxed);
            labels
        };
        let a = sets.get(&Values([Some("GET"), Some("/a")]), register);
        assert_eq!(
            a,
            vec![Label::new("method", "GET"), Label::new("route", "/a")]
        );
        assert_eq!(sets.get(&Values([Some("GET"), Some("/a")]), register), a);
        let absent = sets.get(&Values([Some("GET"), None]), register);
        assert_eq!(
            absent,
            vec![Label::new("method", "GET")],
            "absent labels are left out"
        );
        sets.get(&Values([Some("POST"), Some("/a")]), register);
        assert_eq!(registered.load(Ordering::Relaxed), 3);
        assert_eq!(sets.len(), 3);

        for i in 0..1000 {
            let route = format!("/scan/{i}");
            let overflow = sets.get(&Values([Some("GET"), Some(&route)]), register);
            assert_eq!(overflow, vec![Label::new(OVERFLOW_LABEL, "true")]);
        }
        assert_eq!(sets.len(), 3, "the cap holds");
        assert_eq!(
            registered.load(Ordering::Relaxed),
            4,
            "one overflow series, once"
        );
        assert_eq!(
            sets.get(&Values([Some("GET"), Some("/a")]), register),
            a,
            "known sets still resolve"
        );
        assert!(format!("{sets:?}").contains("max: 3"));
    }

    #[test]
    fn none_and_empty_are_different_values() {
        let sets = LabelSets::<1, Vec<Label>>::new(["route"], 10);
        let none = sets.get(&Values([None]), |l| l);
        let empty = sets.get(&Values([Some("")]), |l| l);
        assert_ne!(none, empty);
        assert_eq!(sets.len(), 2);
    }
}
