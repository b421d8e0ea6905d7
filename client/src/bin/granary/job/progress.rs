//! Live progress of a running job: a spinner line on a terminal, a line per change (at most one
//! a second) on a pipe, nothing with `--json`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use granary_client::protocol::JobStatus;
use indicatif::{ProgressBar, ProgressStyle};

use super::show;

pub struct JobProgress {
    bar: Option<ProgressBar>,
    plain: bool,
    last: std::sync::Mutex<(String, Option<Instant>)>,
}

impl JobProgress {
    pub fn new(json: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!json && terminal).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        JobProgress {
            bar,
            plain: !json && !terminal,
            last: std::sync::Mutex::new((String::new(), None)),
        }
    }

    pub fn show(&self, job: &JobStatus) {
        let line = format!(
            "{} {}: map {}/{}, reduce {}/{}",
            job.id,
            show::phase_name(job),
            job.maps_done,
            job.maps_total,
            job.reduces_done,
            job.reduces_total
        );
        if let Some(bar) = &self.bar {
            bar.set_message(line);
            return;
        }
        if !self.plain {
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let due = last
            .1
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
        if line != last.0 && (due || job.state.is_finished()) {
            eprintln!("{line}");
            *last = (line, Some(Instant::now()));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
