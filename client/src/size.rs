//! Human sizes on the command line and in configuration: `64M`, `128MiB`, `1G`, `4096`.
//! Suffixes are binary (`M` = MiB), as in HDFS's `-D dfs.blocksize=128m`.

use crate::error::Error;

pub fn parse_size(raw: &str) -> Result<u64, Error> {
    let s = raw.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let bad = || {
        Error::invalid_argument(format!(
            "invalid size {raw:?} (expected e.g. 4096, 64M, 128MiB, 1G)"
        ))
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    n.checked_mul(1u64 << shift).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("128MiB").unwrap(), 128 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("1k").unwrap(), 1024);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "M", "12X", "-1", "1.5G", "99999999999999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
