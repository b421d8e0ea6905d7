//! Failpoints for the daemons (both link this crate): named points at the durable steps
//! (`fail::fail_point!`), compiled in only with the `failpoints` feature and configured from
//! `FAILPOINTS=name=actions;...` in the environment at start-up (the actions of TiKV's `fail`:
//! `panic`, `sleep(ms)`, `return`, `off`, counts such as `2*off->panic`).
//!
//! A `panic` action must crash the process the way a real crash would, wherever the point is
//! reached; a panic on a tokio worker or a blocking-pool thread would only end that task (and
//! task attempts catch panics). So once any point is configured, a panic hook aborts the
//! whole process after printing the panic.

/// Why `FAILPOINTS` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FailpointsError {
    #[error("FAILPOINTS entry {0:?} is not name=actions")]
    Malformed(String),
    #[error("failpoint {name}={actions}: {reason}")]
    BadActions {
        name: String,
        actions: String,
        reason: String,
    },
    #[error("FAILPOINTS is set, but this binary was built without the `failpoints` feature")]
    NotCompiledIn,
}

/// Configures the points named in `FAILPOINTS` (if set and non-empty) and, when there are
/// any, installs the aborting panic hook. Returns the configured `(name, actions)` pairs.
/// A binary built without the `failpoints` feature refuses a non-empty `FAILPOINTS`, so a
/// fault-injection run never silently injects nothing.
pub fn setup_from_env() -> Result<Vec<(String, String)>, FailpointsError> {
    let raw = std::env::var("FAILPOINTS").unwrap_or_default();
    let points = parse(&raw)?;
    if points.is_empty() {
        return Ok(points);
    }
    if !fail::has_failpoints() {
        return Err(FailpointsError::NotCompiledIn);
    }
    configure(&points)?;
    abort_on_panic();
    Ok(points)
}

fn configure(points: &[(String, String)]) -> Result<(), FailpointsError> {
    for (name, actions) in points {
        fail::cfg(name.as_str(), actions).map_err(|reason| FailpointsError::BadActions {
            name: name.clone(),
            actions: actions.clone(),
            reason,
        })?;
    }
    Ok(())
}

/// `name=actions` pairs separated by `;` (blank entries ignored).
fn parse(raw: &str) -> Result<Vec<(String, String)>, FailpointsError> {
    raw.split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry.split_once('=') {
            Some((name, actions)) if !name.trim().is_empty() => {
                Ok((name.trim().to_string(), actions.trim().to_string()))
            }
            _ => Err(FailpointsError::Malformed(entry.to_string())),
        })
        .collect()
}

/// Prints the panic as usual, then aborts the process.
fn abort_on_panic() {
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        print(info);
        std::process::abort();
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_name_equals_actions() {
        let points = parse(" journal::append=panic ; ;replica::fsync=1*off->sleep(10)").unwrap();
        assert_eq!(
            points,
            [
                ("journal::append".to_string(), "panic".to_string()),
                ("replica::fsync".to_string(), "1*off->sleep(10)".to_string()),
            ]
        );
        assert!(parse("").unwrap().is_empty());
        assert!(parse("journal::append").is_err());
        assert!(parse("=panic").is_err());
    }

    #[test]
    fn unknown_actions_are_refused() {
        let bad = [("test::point".to_string(), "explode".to_string())];
        assert!(matches!(
            configure(&bad),
            Err(FailpointsError::BadActions { .. })
        ));
    }
}
