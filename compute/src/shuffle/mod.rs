//! The shuffle: each datanode serves the partitions of its finished map attempts' output over
//! HTTP, and reducers fetch their partition from every map.
//!
//! A finished map attempt leaves `<work_dir>/<job>/<attempt>/map.out` (one sorted run per
//! partition, back to back) and `map.index` (where each run lies and its CRC32C, computed as
//! the map wrote it). The [`router`] streams one run per request straight from disk with that
//! CRC in a header; [`fetch_partition`] streams it into a local segment file on the reducer's
//! side and checks that it arrived whole and unchanged, end to end from the map's write.

mod fetch;
mod server;

pub use fetch::{fetch_partition, FetchError, Fetched};
pub use server::{router, MAX_CONCURRENT_SERVES};

#[cfg(test)]
mod tests;
