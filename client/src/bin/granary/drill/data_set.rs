//! The drills' data: deterministic files written into the cluster, and SHA-256s of what reads
//! back. Everything is generated and hashed a buffer at a time, whatever the size.

use std::collections::BTreeMap;
use std::io::Write;

use futures_util::StreamExt;
use granary_client::{FsPath, Granary, PutOptions};
use sha2::{Digest, Sha256};

const BUFFER: usize = 1 << 20;
/// Distinct words of the job input: a few common ones, and many rare ones so that maps emit
/// many keys and reducers have real work.
const COMMON_WORDS: u64 = 64;
const RARE_WORDS: u64 = 200_000;
const WORDS_PER_LINE: usize = 10;

/// Writes `files` deterministic pseudo-random files of `size` bytes under `root`; returns the
/// SHA-256 of each, computed as it was generated.
pub(super) async fn write_data_set(
    fs: &Granary,
    root: &FsPath,
    files: u32,
    size: u64,
) -> anyhow::Result<BTreeMap<FsPath, String>> {
    fs.mkdir(root, true).await?;
    let mut expected = BTreeMap::new();
    for i in 0..files {
        let mut local = tempfile::NamedTempFile::new()?;
        let mut hasher = Sha256::new();
        let mut x: u64 =
            0x9E37_79B9_7F4A_7C15 ^ (u64::from(i) + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut buf = vec![0u8; BUFFER];
        let mut left = size;
        while left > 0 {
            let n = buf.len().min(left as usize);
            for word in buf[..n].chunks_mut(8) {
                word.copy_from_slice(&next(&mut x).to_le_bytes()[..word.len()]);
            }
            hasher.update(&buf[..n]);
            local.write_all(&buf[..n])?;
            left -= n as u64;
        }
        local.flush()?;
        let path = root.join(&format!("part-{i:03}"))?;
        fs.put_file(local.path(), &path, &PutOptions::default(), None)
            .await?;
        expected.insert(path, hex_digest(hasher));
    }
    Ok(expected)
}

/// Writes deterministic lines of words, as many as fit in `size` bytes, to `path`; returns the
/// bytes written.
pub(super) async fn write_words(
    fs: &Granary,
    path: &FsPath,
    size: u64,
    replication: u16,
) -> anyhow::Result<u64> {
    let mut local = tempfile::NamedTempFile::new()?;
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut buf = Vec::with_capacity(BUFFER);
    let mut line = Vec::new();
    let mut written = 0;
    loop {
        line.clear();
        push_line(&mut x, &mut line);
        let fits = written + (buf.len() + line.len()) as u64 <= size;
        if !fits || buf.len() + line.len() > BUFFER {
            local.write_all(&buf)?;
            written += buf.len() as u64;
            buf.clear();
        }
        if !fits {
            break;
        }
        buf.extend_from_slice(&line);
    }
    local.flush()?;
    let options = PutOptions {
        replication: Some(replication),
        create_parents: true,
        ..PutOptions::default()
    };
    fs.put_file(local.path(), path, &options, None).await?;
    Ok(written)
}

/// Reads every file back; returns how many matched and the paths that did not.
pub(super) async fn verify(
    fs: &Granary,
    expected: &BTreeMap<FsPath, String>,
) -> (u32, Vec<String>) {
    let mut ok = 0;
    let mut bad = Vec::new();
    for (path, sha) in expected {
        match sha256_of(fs, std::slice::from_ref(path)).await {
            Ok(actual) if &actual == sha => ok += 1,
            Ok(_) => bad.push(format!("{path}: different bytes")),
            Err(e) => bad.push(format!("{path}: {e}")),
        }
    }
    (ok, bad)
}

/// The SHA-256 (hex) of the files' bytes concatenated in the order given.
pub(super) async fn sha256_of(fs: &Granary, files: &[FsPath]) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    for path in files {
        let mut stream = fs.open(path).await?.read_all();
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk?);
        }
    }
    Ok(hex_digest(hasher))
}

fn hex_digest(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// xorshift64: cheap, deterministic, good enough to make data look random.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// A line of words: half drawn from the common ones, half from the rare ones.
fn push_line(x: &mut u64, out: &mut Vec<u8>) {
    for i in 0..WORDS_PER_LINE {
        if i > 0 {
            out.push(b' ');
        }
        let r = next(x);
        let n = if r & 1 == 0 {
            (r >> 1) % COMMON_WORDS
        } else {
            COMMON_WORDS + (r >> 1) % RARE_WORDS
        };
        push_word(n, out);
    }
    out.push(b'\n');
}

/// Word number `n` in lowercase letters, least significant first: a different word for every
/// `n`.
fn push_word(mut n: u64, out: &mut Vec<u8>) {
    loop {
        out.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_numbers_spell_distinct_words() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..2000 {
            let mut word = Vec::new();
            push_word(n, &mut word);
            assert!(word.iter().all(u8::is_ascii_lowercase));
            assert!(seen.insert(word), "word {n} repeats an earlier one");
        }
    }
}
