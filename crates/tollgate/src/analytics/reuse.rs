//! Per-key splits already written on the same day, kept to be sent again. A day's answer
//! repeats the same split under several names whenever they cover the same rows: a provider
//! or an endpoint that serves every call has the day's `api_keys` split, and a model group
//! served by one model has that model's. The text of a split depends on nothing but its
//! entries, so an equal split is the same bytes, sent again without being written again.

use bytes::Bytes;
use rustc_hash::FxHashMap;

use super::shape::{Metrics, Rank};

/// The text kept for one day at most; past it, splits are written each time.
const HELD_MAX: usize = 32 << 20;

/// A per-key split.
pub type Split = FxHashMap<Rank, Metrics>;

/// What a split's candidates are found by: its size and its total (equal splits have equal
/// totals, summed from the same rows in the same order).
type Fingerprint = (usize, [u64; 8]);

/// The splits written so far on one day, with their text.
#[derive(Default)]
pub struct Written<'d> {
    by_fingerprint: FxHashMap<Fingerprint, Vec<usize>>,
    splits: Vec<(&'d Split, Vec<Bytes>)>,
    held: usize,
}

impl<'d> Written<'d> {
    /// The text of a split equal to `split` (whose entries sum to `total`), if one was kept.
    pub fn find(&self, split: &Split, total: &Metrics) -> Option<&[Bytes]> {
        self.by_fingerprint
            .get(&fingerprint(split, total))?
            .iter()
            .map(|&i| &self.splits[i])
            .find(|(kept, _)| same_split(kept, split))
            .map(|(_, text)| text.as_slice())
    }

    /// Keeps the text of `split` for later, while the day's kept text stays under its bound.
    pub fn keep(&mut self, split: &'d Split, total: &Metrics, text: Vec<Bytes>) {
        let size: usize = text.iter().map(Bytes::len).sum();
        if self.held + size > HELD_MAX {
            return;
        }
        self.held += size;
        self.by_fingerprint
            .entry(fingerprint(split, total))
            .or_default()
            .push(self.splits.len());
        self.splits.push((split, text));
    }
}

fn fingerprint(split: &Split, total: &Metrics) -> Fingerprint {
    (split.len(), bits(total))
}

/// The counters as bits: texts differ when the numbers' bits do (`0.0` and `-0.0`).
fn bits(m: &Metrics) -> [u64; 8] {
    let int = |v: i64| v as u64;
    [
        m.spend.to_bits(),
        int(m.prompt_tokens),
        int(m.completion_tokens),
        int(m.cache_read_input_tokens),
        int(m.cache_creation_input_tokens),
        int(m.api_requests),
        int(m.successful_requests),
        int(m.failed_requests),
    ]
}

/// Whether two splits would be written as the same text.
fn same_split(a: &Split, b: &Split) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(key, m)| b.get(key).is_some_and(|other| bits(m) == bits(other)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(entries: &[(Rank, f64)]) -> Split {
        entries
            .iter()
            .map(|&(key, spend)| {
                let m = Metrics {
                    spend,
                    api_requests: 1,
                    ..Metrics::default()
                };
                (key, m)
            })
            .collect()
    }

    fn total(s: &Split) -> Metrics {
        let mut t = Metrics::default();
        for m in s.values() {
            t.spend += m.spend;
            t.api_requests += m.api_requests;
        }
        t
    }

    #[test]
    fn an_equal_split_is_found_and_a_different_one_is_not() {
        let a = split(&[(1, 1.0), (2, 2.0)]);
        let mut written = Written::default();
        written.keep(&a, &total(&a), vec![Bytes::from_static(b"{a}")]);

        let same = split(&[(2, 2.0), (1, 1.0)]);
        assert_eq!(
            written.find(&same, &total(&same)),
            Some(&[Bytes::from_static(b"{a}")][..])
        );
        // Same size and total, other keys.
        let moved = split(&[(1, 2.0), (2, 1.0)]);
        assert!(written.find(&moved, &total(&moved)).is_none());
        // Zero and minus zero are written differently.
        let zero = split(&[(1, 0.0)]);
        let minus_zero = split(&[(1, -0.0)]);
        written.keep(&zero, &total(&zero), vec![Bytes::from_static(b"{0}")]);
        assert!(written.find(&minus_zero, &total(&minus_zero)).is_none());
    }

    #[test]
    fn text_past_the_bound_is_not_kept() {
        let a = split(&[(1, 1.0)]);
        let mut written = Written::default();
        written.keep(&a, &total(&a), vec![Bytes::from(vec![b' '; HELD_MAX + 1])]);
        assert!(written.find(&a, &total(&a)).is_none());
    }
}
