//! The built-in programs' map and reduce functions.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io::BufRead;

use granary_client::protocol::Builtin;
use regex::bytes::Regex;

use super::merge::Groups;
use super::text::TextWriter;
use crate::error::TaskError;

/// ASCII whitespace as wordcount splits on it: space, \t, \n, \v, \f, \r.
const fn whitespace_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 6 {
        table[[b' ', b'\t', b'\n', 0x0b, 0x0c, b'\r'][i] as usize] = true;
        i += 1;
    }
    table
}
static WHITESPACE: [bool; 256] = whitespace_table();

/// Calls `on_word` with each whitespace-separated word of `line`.
pub(crate) fn for_each_word(
    line: &[u8],
    mut on_word: impl FnMut(&[u8]) -> Result<(), TaskError>,
) -> Result<(), TaskError> {
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && WHITESPACE[line[i] as usize] {
            i += 1;
        }
        let start = i;
        while i < line.len() && !WHITESPACE[line[i] as usize] {
            i += 1;
        }
        if start < i {
            on_word(&line[start..i])?;
        }
    }
    Ok(())
}

/// Field `n` (1-based) of `line` as awk splits it by default: runs of spaces and tabs separate
/// fields, leading blanks are ignored.
pub(crate) fn nth_field(line: &[u8], n: u32) -> Option<&[u8]> {
    let is_blank = |b: u8| b == b' ' || b == b'\t';
    let mut i = 0;
    for field in 1..=n {
        while i < line.len() && is_blank(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return None;
        }
        let start = i;
        i += memchr::memchr2(b' ', b'\t', &line[i..]).unwrap_or(line.len() - i);
        if field == n {
            return Some(&line[start..i]);
        }
    }
    None
}

/// How a built-in maps one line.
pub(crate) enum BuiltinMap {
    /// Each word is a key to count.
    Words,
    /// One field is a key to count.
    Field(u32),
    /// The line is a key with an empty value when it matches.
    Grep(Regex),
    /// The line is a key with an empty value.
    Lines,
}

impl BuiltinMap {
    pub(crate) fn new(builtin: &Builtin) -> Result<Self, TaskError> {
        Ok(match builtin {
            Builtin::Wordcount => BuiltinMap::Words,
            Builtin::CountField { field: 0 } => {
                return Err(TaskError::Invalid("count-field fields start at 1".into()))
            }
            Builtin::CountField { field } => BuiltinMap::Field(*field),
            Builtin::Grep { pattern } => BuiltinMap::Grep(
                Regex::new(pattern)
                    .map_err(|e| TaskError::Invalid(format!("grep pattern: {e}")))?,
            ),
            Builtin::Sort => BuiltinMap::Lines,
        })
    }

    /// Whether the map's keys are counted (and the reduce adds the counts up).
    pub(crate) fn counts(&self) -> bool {
        matches!(self, BuiltinMap::Words | BuiltinMap::Field(_))
    }

    /// Calls `emit` with each key `line` maps to: the counted keys, or the line itself.
    pub(crate) fn map(
        &self,
        line: &[u8],
        mut emit: impl FnMut(&[u8]) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        match self {
            BuiltinMap::Words => for_each_word(line, emit),
            BuiltinMap::Field(n) => nth_field(line, *n).map_or(Ok(()), emit),
            BuiltinMap::Grep(regex) if !regex.is_match(line) => Ok(()),
            BuiltinMap::Grep(_) | BuiltinMap::Lines => emit(line),
        }
    }
}

/// The counting reduce: `key<TAB>sum` per key in key order, or with `top`, only the `top`
/// largest counts (count descending, then key ascending). Returns the groups read.
pub(crate) fn reduce_counts<R: BufRead>(
    groups: &mut Groups<R>,
    top: Option<u32>,
    out: &mut TextWriter,
    mut progress: impl FnMut(u64) -> Result<(), TaskError>,
) -> Result<u64, TaskError> {
    let mut best: BinaryHeap<Reverse<Ranked>> = BinaryHeap::new();
    let mut groups_read = 0;
    while let Some((key, sum)) = groups.next_sum("reading map output")? {
        groups_read += 1;
        match top {
            None => out.write_count(key, sum)?,
            Some(k) if best.len() < k as usize => best.push(Reverse(Ranked {
                count: sum,
                key: key.to_vec(),
            })),
            Some(_) => {
                if let Some(mut worst) = best.peek_mut() {
                    if Ranked::outranks(sum, key, &worst.0) {
                        worst.0.count = sum;
                        worst.0.key.clear();
                        worst.0.key.extend_from_slice(key);
                    }
                }
            }
        }
        progress(groups.consumed())?;
    }
    for Reverse(ranked) in best.into_sorted_vec() {
        out.write_count(&ranked.key, ranked.count)?;
    }
    Ok(groups_read)
}

/// A key and its count, greater when it ranks higher: a larger count, or on a tie, a smaller key.
#[derive(Debug, PartialEq, Eq)]
struct Ranked {
    count: u64,
    key: Vec<u8>,
}

impl Ranked {
    fn outranks(count: u64, key: &[u8], other: &Ranked) -> bool {
        count
            .cmp(&other.count)
            .then_with(|| other.key.as_slice().cmp(key))
            == Ordering::Greater
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.count
            .cmp(&other.count)
            .then_with(|| other.key.cmp(&self.key))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests;
