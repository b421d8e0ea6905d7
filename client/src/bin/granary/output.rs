//! Shared output helpers: sizes, times, JSON, and progress bars on terminals only.

use std::io::{IsTerminal, Write};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// `16.0 MiB`: binary units, as sizes are given on the command line.
pub fn bytes(n: u64) -> String {
    // bytesize 1.x names its binary form "si_unit".
    bytesize::ByteSize(n).to_string_as(true)
}

/// A size as `hdfs dfs -h` prints it (Hadoop's `long2String(n, "", 1)`): bytes below 1 K as
/// they are, else binary units with one decimal, or none when the division is exact:
/// `100`, `1 K`, `1.5 K`, `128 M`.
pub fn human(n: u64) -> String {
    const PREFIXES: [char; 6] = ['K', 'M', 'G', 'T', 'P', 'E'];
    if n < 1024 {
        return n.to_string();
    }
    let mut i = 0;
    while i + 1 < PREFIXES.len() && n >= 1u64 << (10 * (i + 2)) {
        i += 1;
    }
    let unit = |i: usize| 1u128 << (10 * (i + 1));
    if u128::from(n) % unit(i) == 0 {
        return format!("{} {}", u128::from(n) / unit(i), PREFIXES[i]);
    }
    // Tenths, rounded half up as Java's `%.1f`; 1023.95 K and above is 1.0 M.
    let tenths = |i: usize| (u128::from(n) * 10 + unit(i) / 2) / unit(i);
    let mut t = tenths(i);
    if t >= 10240 && i + 1 < PREFIXES.len() {
        i += 1;
        t = tenths(i);
    }
    format!("{}.{} {}", t / 10, t % 10, PREFIXES[i])
}

/// A size in bytes, or [`human`] with `-h`.
pub fn size(n: u64, human_readable: bool) -> String {
    match human_readable {
        true => human(n),
        false => n.to_string(),
    }
}

/// `2026-11-21 20:30:05`-style UTC time of a millisecond timestamp.
pub fn time_ms(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms))
        .to_string()
        .replace('T', " ")
        .replace('Z', "")
}

pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A pretty-printed JSON array written element by element, so a long listing is printed as
/// it is read and never held whole. Dropped unfinished (a command failing half way, e.g. on
/// a missing second path), it still closes the array, so stdout stays valid JSON.
pub struct JsonArray<W: Write> {
    /// `None` once the array is closed.
    out: Option<W>,
    empty: bool,
}

impl<W: Write> JsonArray<W> {
    pub fn start(mut out: W) -> anyhow::Result<Self> {
        write!(out, "[")?;
        Ok(JsonArray {
            out: Some(out),
            empty: true,
        })
    }

    pub fn push<T: Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        let comma = if self.empty { "" } else { "," };
        if let Some(out) = self.out.as_mut() {
            write!(out, "{comma}\n  {}", text.replace('\n', "\n  "))?;
        }
        self.empty = false;
        Ok(())
    }

    pub fn finish(mut self) -> anyhow::Result<W> {
        let mut out = self
            .out
            .take()
            .context("the JSON array is already closed")?;
        close_array(&mut out, self.empty)?;
        Ok(out)
    }
}

impl<W: Write> Drop for JsonArray<W> {
    fn drop(&mut self) {
        if let Some(mut out) = self.out.take() {
            // The command's own error is what gets reported; this one would only hide it.
            let _ = close_array(&mut out, self.empty);
        }
    }
}

fn close_array(out: &mut impl Write, empty: bool) -> std::io::Result<()> {
    writeln!(out, "{}]", if empty { "" } else { "\n" })?;
    out.flush()
}

/// A byte progress bar on stderr when it is a terminal; hidden otherwise.
pub fn progress_bar(total: u64, label: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(label.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_are_hadoops() {
        for (n, shown) in [
            (0, "0"),
            (100, "100"),
            (1023, "1023"),
            (1024, "1 K"),
            (1025, "1.0 K"),
            (1280, "1.3 K"),
            (1536, "1.5 K"),
            (128 << 20, "128 M"),
            ((1 << 20) - 1, "1.0 M"),
            (3 << 30, "3 G"),
            ((5 << 40) + (1 << 39), "5.5 T"),
            (1 << 60, "1 E"),
            (u64::MAX, "16.0 E"),
        ] {
            assert_eq!(human(n), shown, "{n}");
        }
        assert_eq!(size(2048, false), "2048");
        assert_eq!(size(2048, true), "2 K");
    }

    #[test]
    fn json_arrays_are_valid_json_empty_or_not() {
        for values in [vec![], vec![1, 2, 3]] {
            let mut array = JsonArray::start(Vec::new()).unwrap();
            for v in &values {
                array.push(v).unwrap();
            }
            let text = String::from_utf8(array.finish().unwrap()).unwrap();
            let back: Vec<i32> = serde_json::from_str(&text).unwrap();
            assert_eq!(back, values);
        }
    }

    #[test]
    fn an_array_dropped_unfinished_is_still_closed() {
        for values in [vec![], vec![1, 2]] {
            let mut text = Vec::new();
            {
                let mut array = JsonArray::start(&mut text).unwrap();
                for v in &values {
                    array.push(v).unwrap();
                }
            }
            let back: Vec<i32> = serde_json::from_slice(&text).unwrap();
            assert_eq!(back, values);
        }
    }
}
