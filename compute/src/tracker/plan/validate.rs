//! Checks a submitted spec without touching the namespace, and settles the per-job settings
//! the spec may override.

use std::time::Duration;

use granary_client::path::MAX_PATH_LEN;
use granary_client::protocol::{Builtin, JobProgram, JobSpec};
use granary_client::{Error, FsPath};

use crate::tracker::config::{
    TrackerConfig, MAX_LOCALITY_WAIT, MAX_REDUCERS, MAX_SORT_BUFFER, MIN_SORT_BUFFER,
};

/// Room kept below the output path for `/_temporary/<attempt id>/part-r-NNNNN`.
const TEMPORARY_PATH_RESERVE: usize = 128;

/// What a job runs with: the tracker's defaults overridden by its spec.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSettings {
    pub locality_wait: Duration,
    pub max_attempts: u32,
    pub sort_buffer: u64,
    pub speculation: bool,
}

/// One error per problem, naming the field and the accepted range.
pub fn validate(spec: &JobSpec, defaults: &TrackerConfig) -> Result<JobSettings, Error> {
    let invalid = |message: String| Err(Error::invalid_argument(message));
    if spec.inputs.is_empty() {
        return invalid("a job needs at least one input path".into());
    }
    for input in &spec.inputs {
        FsPath::parse(input)?;
    }
    if spec.output.as_str().len() > MAX_PATH_LEN - TEMPORARY_PATH_RESERVE {
        return invalid(format!(
            "output path must be at most {} bytes: attempts write below it",
            MAX_PATH_LEN - TEMPORARY_PATH_RESERVE
        ));
    }
    validate_program(&spec.program)?;
    if spec.top == Some(0) {
        return invalid("top must be at least 1".into());
    }
    if let Some(reducers) = spec.reducers.filter(|&r| r > MAX_REDUCERS) {
        return invalid(format!(
            "reducers must be at most {MAX_REDUCERS} (got {reducers})"
        ));
    }
    if spec.output_replication == Some(0) {
        return invalid("output replication must be at least 1".into());
    }
    let sort_buffer = spec.sort_buffer.unwrap_or(defaults.sort_buffer);
    if !(MIN_SORT_BUFFER..=MAX_SORT_BUFFER).contains(&sort_buffer) {
        return invalid(format!(
            "sort buffer must be between 4 KiB and 2 GiB (got {sort_buffer} bytes)"
        ));
    }
    let max_attempts = spec.max_attempts.unwrap_or(defaults.max_attempts);
    if max_attempts == 0 {
        return invalid("max attempts must be at least 1".into());
    }
    let locality_wait = spec
        .locality_wait_ms
        .map_or(defaults.locality_wait, Duration::from_millis);
    if locality_wait > MAX_LOCALITY_WAIT {
        return invalid(format!(
            "locality wait must be at most {} ms (got {} ms)",
            MAX_LOCALITY_WAIT.as_millis(),
            locality_wait.as_millis()
        ));
    }
    Ok(JobSettings {
        locality_wait,
        max_attempts,
        sort_buffer,
        speculation: spec.speculation.unwrap_or(defaults.speculation),
    })
}

fn validate_program(program: &JobProgram) -> Result<(), Error> {
    match program {
        JobProgram::Builtin(Builtin::CountField { field: 0 }) => Err(Error::invalid_argument(
            "count-field: field must be at least 1 (fields are numbered from 1, like awk's $1)",
        )),
        JobProgram::Builtin(Builtin::Grep { pattern }) => {
            regex::bytes::Regex::new(pattern).map(|_| ()).map_err(|e| {
                // The regex crate's message spans lines; its last line says what is wrong.
                let text = e.to_string();
                let reason = text.lines().last().unwrap_or_default().trim();
                let reason = reason.strip_prefix("error: ").unwrap_or(reason);
                Error::invalid_argument(format!("grep: invalid pattern {pattern:?}: {reason}"))
            })
        }
        JobProgram::Streaming { mapper, .. } if mapper.trim().is_empty() => Err(
            Error::invalid_argument("streaming: the mapper command is empty"),
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use granary_client::ErrorKind;

    use super::*;

    fn spec(program: JobProgram) -> JobSpec {
        JobSpec::new(vec!["/in".into()], FsPath::parse("/out").unwrap(), program)
    }

    fn rejected(spec: &JobSpec, word: &str) {
        let err = validate(spec, &TrackerConfig::default()).unwrap_err();
        assert!(
            matches!(
                err.kind,
                ErrorKind::InvalidArgument | ErrorKind::InvalidPath
            ),
            "{err:?}"
        );
        assert!(err.message.contains(word), "{}", err.message);
        assert!(!err.message.contains('\n'), "{}", err.message);
    }

    #[test]
    fn defaults_fill_what_the_spec_leaves_out() {
        let wordcount = spec(JobProgram::Builtin(Builtin::Wordcount));
        let settings = validate(&wordcount, &TrackerConfig::default()).unwrap();
        assert_eq!(settings.max_attempts, 4);
        assert_eq!(settings.sort_buffer, 64 << 20);
        assert_eq!(settings.locality_wait, Duration::from_secs(3));
        let mut custom = wordcount;
        custom.locality_wait_ms = Some(0);
        custom.speculation = Some(false);
        let settings = validate(&custom, &TrackerConfig::default()).unwrap();
        assert_eq!(settings.locality_wait, Duration::ZERO);
        assert!(!settings.speculation);
    }

    #[test]
    fn bad_fields_get_one_clear_line() {
        let wordcount = spec(JobProgram::Builtin(Builtin::Wordcount));
        rejected(
            &JobSpec {
                inputs: vec![],
                ..wordcount.clone()
            },
            "input",
        );
        rejected(
            &JobSpec {
                inputs: vec!["rel/x".into()],
                ..wordcount.clone()
            },
            "absolute",
        );
        rejected(
            &spec(JobProgram::Builtin(Builtin::CountField { field: 0 })),
            "field",
        );
        let grep = JobProgram::Builtin(Builtin::Grep {
            pattern: "a(".into(),
        });
        rejected(&spec(grep), "invalid pattern");
        rejected(
            &JobSpec {
                top: Some(0),
                ..wordcount.clone()
            },
            "top",
        );
        rejected(
            &JobSpec {
                reducers: Some(10_001),
                ..wordcount.clone()
            },
            "reducers",
        );
        rejected(
            &JobSpec {
                sort_buffer: Some(1024),
                ..wordcount.clone()
            },
            "sort buffer",
        );
        rejected(
            &JobSpec {
                sort_buffer: Some(3 << 30),
                ..wordcount.clone()
            },
            "sort buffer",
        );
        rejected(
            &JobSpec {
                max_attempts: Some(0),
                ..wordcount.clone()
            },
            "attempts",
        );
        rejected(
            &JobSpec {
                output_replication: Some(0),
                ..wordcount.clone()
            },
            "replication",
        );
        let streaming = JobProgram::Streaming {
            mapper: " ".into(),
            combiner: None,
            reducer: None,
        };
        rejected(&spec(streaming), "mapper");
    }
}
