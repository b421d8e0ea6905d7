//! Deterministic test data for jobs, the demo and the benchmark: an nginx access log in the
//! combined format, a word corpus, and TeraSort-style 100-byte records. The same seed and size
//! always give the same bytes, so a failure or a benchmark reproduces.

use std::io::{self, Write};

/// A small, fast generator (xorshift64*); quality is irrelevant, speed and determinism matter.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() >> 32) * n) >> 32
    }

    /// Skewed towards small values (roughly Zipf-like): popular URLs and common words.
    pub fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        self.below(a + 1)
    }
}

const PAGES: &[&str] = &[
    "index.html",
    "about",
    "products",
    "cart",
    "checkout",
    "login",
    "search",
    "blog",
    "faq",
    "contact",
    "api/v1/items",
    "api/v1/users",
    "static/app.js",
    "static/style.css",
    "favicon.ico",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Safari/605.1.15",
    "curl/8.5.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
];
const MONTHS: &[&str] = &["Oct", "Nov"];
const WORDS: &[&str] = &[
    "the", "of", "and", "to", "a", "in", "is", "that", "it", "was", "for", "on", "are", "as",
    "with", "his", "they", "at", "be", "this", "from", "have", "or", "by", "one", "had", "not",
    "but", "what", "all", "were", "when", "we", "there", "can", "an", "your", "which", "their",
    "said", "if", "do", "will", "each", "about", "how", "up", "out", "them", "then", "she", "many",
    "some", "so", "these", "would", "other", "into", "has", "more", "her", "two", "like", "him",
    "see", "time", "could", "no", "make", "than", "first", "been", "its", "who", "now", "people",
    "my", "made", "over", "did", "down", "only", "way", "find", "use", "may", "water", "long",
    "little", "very", "after", "words", "called", "just", "where", "most", "know", "granary",
    "block", "replica", "datanode", "namenode", "shuffle", "reduce", "map", "split", "spill",
];

/// Writes about `bytes` bytes (whole lines) of an nginx combined-format access log; field 7
/// (whitespace-separated) is the URL, with a skewed popularity.
pub fn access_log(out: &mut impl Write, bytes: u64, seed: u64) -> io::Result<u64> {
    let mut rng = Rng::new(seed);
    let mut written = 0u64;
    let mut line = Vec::with_capacity(512);
    while written < bytes {
        line.clear();
        let page = PAGES[rng.skewed(PAGES.len() as u64) as usize];
        let id = rng.skewed(2000);
        let status = [200, 200, 200, 200, 304, 404, 500][rng.below(7) as usize];
        writeln!(
            line,
            "10.{}.{}.{} - - [{:02}/{}/2026:{:02}:{:02}:{:02} +0000] \"GET /{page}?id={id} HTTP/1.1\" {status} {} \"-\" \"{}\"",
            rng.below(256),
            rng.below(256),
            rng.below(256),
            1 + rng.below(28),
            MONTHS[rng.below(2) as usize],
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(100_000),
            AGENTS[rng.below(AGENTS.len() as u64) as usize],
        )?;
        out.write_all(&line)?;
        written += line.len() as u64;
    }
    Ok(written)
}

/// Writes about `bytes` bytes of text: lines of 1 to 20 words separated by single spaces.
pub fn words(out: &mut impl Write, bytes: u64, seed: u64) -> io::Result<u64> {
    let mut rng = Rng::new(seed);
    let mut written = 0u64;
    let mut line = Vec::with_capacity(512);
    while written < bytes {
        line.clear();
        for i in 0..1 + rng.below(20) {
            if i > 0 {
                line.push(b' ');
            }
            let word = rng.skewed(WORDS.len() as u64 * 8);
            match WORDS.get(word as usize) {
                Some(w) => line.extend_from_slice(w.as_bytes()),
                // The long tail: rarer made-up words.
                None => write!(line, "w{word}")?,
            }
        }
        line.push(b'\n');
        out.write_all(&line)?;
        written += line.len() as u64;
    }
    Ok(written)
}

/// Writes `bytes / 100` TeraSort-style records: a 10-byte printable random key, a space, an
/// 88-byte payload and a newline — 100 bytes each.
pub fn records(out: &mut impl Write, bytes: u64, seed: u64) -> io::Result<u64> {
    let mut rng = Rng::new(seed);
    let mut record = [b'x'; 100];
    record[10] = b' ';
    record[99] = b'\n';
    for n in 0..bytes / 100 {
        for b in &mut record[..10] {
            *b = b'!' + rng.below(94) as u8;
        }
        let row = format!("{n:032}");
        record[11..43].copy_from_slice(row.as_bytes());
        out.write_all(&record)?;
    }
    Ok(bytes / 100 * 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_deterministic_and_line_based() {
        for generate in [access_log, words, records] {
            let mut a = Vec::new();
            let mut b = Vec::new();
            generate(&mut a, 10_000, 7).unwrap();
            generate(&mut b, 10_000, 7).unwrap();
            assert_eq!(a, b);
            assert!(a.len() >= 9_900 && a.ends_with(b"\n"));
        }
        let mut log = Vec::new();
        access_log(&mut log, 2_000, 1).unwrap();
        let first = std::str::from_utf8(&log).unwrap().lines().next().unwrap();
        let url = first.split_whitespace().nth(6).unwrap();
        assert!(url.starts_with('/'), "{first}");
    }
}
