//! Shared output helpers: sizes, times, JSON, and progress bars on terminals only.

use std::io::IsTerminal;
use std::time::{Duration, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// `16.0 MiB`: binary units, as sizes are given on the command line.
pub fn bytes(n: u64) -> String {
    // bytesize 1.x names its binary form "si_unit".
    bytesize::ByteSize(n).to_string_as(true)
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
