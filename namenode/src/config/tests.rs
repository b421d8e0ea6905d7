use std::time::Duration;

use clap::Parser;

use super::*;

#[test]
fn empty_toml_gives_defaults() {
    assert_eq!(
        NamenodeConfig::from_toml_str("").unwrap(),
        NamenodeConfig::default()
    );
    NamenodeConfig::default().validate().unwrap();
}

#[test]
fn toml_fields_and_durations_parse() {
    let text = "listen = \"127.0.0.1:0\"\ndead_after = \"2s\"\nheartbeat_interval = \"500ms\"\n\
                default_block_size = 1048576\ndefault_replication = 2\n\
                replication_check_interval = \"50ms\"\nmax_replication_streams = 2\n\
                replication_timeout = \"5s\"\ncommand_poll_timeout = \"1s\"\n\
                lifeline_probe_timeout = \"100ms\"\nmax_maintenance = \"10m\"\n\
                safemode_threshold = 0.5\ncheckpoint_interval = \"500ms\"\n\
                journal_segment_size = 1048576\n";
    let config = NamenodeConfig::from_toml_str(text).unwrap();
    assert_eq!(config.dead_after, Duration::from_secs(2));
    assert_eq!(config.heartbeat_interval, Duration::from_millis(500));
    assert_eq!(config.default_replication, 2);
    assert_eq!(config.listen.port(), 0);
    assert_eq!(config.replication_check_interval, Duration::from_millis(50));
    assert_eq!(config.max_replication_streams, 2);
    assert_eq!(config.replication_timeout, Duration::from_secs(5));
    assert_eq!(config.command_poll_timeout, Duration::from_secs(1));
    assert_eq!(config.lifeline_probe_timeout, Duration::from_millis(100));
    assert_eq!(config.max_maintenance, Duration::from_secs(600));
    assert_eq!(config.safemode_threshold, 0.5);
    assert_eq!(config.checkpoint_interval, Duration::from_millis(500));
    assert_eq!(config.journal_segment_size, 1 << 20);
    config.validate().unwrap();
    let tiny_segments = NamenodeConfig {
        journal_segment_size: 100,
        ..config
    };
    assert!(tiny_segments.validate().is_err());
    assert!(NamenodeConfig::from_toml_str("bogus = 1").is_err());
}

#[test]
fn flags_override_and_validate() {
    let args = NamenodeArgs::try_parse_from([
        "granary-namenode",
        "--block-size",
        "64M",
        "--replication",
        "1",
        "--dead-after",
        "1s",
        "--heartbeat-interval",
        "200ms",
        "--safemode-threshold",
        "0",
        "--replication-check-interval",
        "20ms",
        "--max-replication-streams",
        "8",
        "--min-replication",
        "2",
        "--complete-report-wait",
        "300ms",
        "--ls-limit",
        "50",
        "--lease-soft-limit",
        "2s",
        "--lease-hard-limit",
        "5s",
        "--recovery-timeout",
        "1s",
        "--lease-check-interval",
        "100ms",
    ])
    .unwrap();
    let config = args.into_config().unwrap();
    assert_eq!(config.default_block_size, 64 << 20);
    assert_eq!(config.default_replication, 1);
    assert_eq!(config.dead_after, Duration::from_secs(1));
    assert_eq!(config.safemode_threshold, 0.0);
    assert_eq!(config.replication_check_interval, Duration::from_millis(20));
    assert_eq!(config.max_replication_streams, 8);
    assert_eq!(config.min_replication, 2);
    assert_eq!(config.complete_report_wait, Duration::from_millis(300));
    assert_eq!(config.ls_limit, 50);
    assert_eq!(config.lease_soft_limit, Duration::from_secs(2));
    assert_eq!(config.lease_hard_limit, Duration::from_secs(5));
    assert_eq!(config.recovery_timeout, Duration::from_secs(1));
    assert_eq!(config.lease_check_interval, Duration::from_millis(100));

    let rejected = |args: NamenodeArgs, word: &str| {
        let message = args.into_config().unwrap_err().to_string();
        assert!(message.contains(word), "{message}");
    };
    let zero = NamenodeArgs {
        replication: Some(0),
        ..Default::default()
    };
    rejected(zero, "replication");
    let tiny = NamenodeArgs {
        block_size: Some(4096),
        ..Default::default()
    };
    rejected(tiny, "block size");
    for threshold in [1.5, -0.1, f64::NAN] {
        let bad = NamenodeArgs {
            safemode_threshold: Some(threshold),
            ..Default::default()
        };
        rejected(bad, "safemode_threshold");
    }
    let no_streams = NamenodeArgs {
        max_replication_streams: Some(0),
        ..Default::default()
    };
    rejected(no_streams, "max_replication_streams");
    for (bad, word) in [
        (
            NamenodeArgs {
                min_replication: Some(0),
                ..Default::default()
            },
            "min_replication",
        ),
        (
            NamenodeArgs {
                min_replication: Some(33),
                ..Default::default()
            },
            "min_replication",
        ),
        (
            NamenodeArgs {
                ls_limit: Some(0),
                ..Default::default()
            },
            "ls_limit",
        ),
        (
            NamenodeArgs {
                complete_report_wait: Some(Duration::ZERO),
                ..Default::default()
            },
            "complete_report_wait",
        ),
        (
            NamenodeArgs {
                lease_soft_limit: Some(Duration::from_secs(10)),
                lease_hard_limit: Some(Duration::from_secs(5)),
                ..Default::default()
            },
            "lease_hard_limit",
        ),
        (
            NamenodeArgs {
                recovery_timeout: Some(Duration::ZERO),
                ..Default::default()
            },
            "recovery_timeout",
        ),
    ] {
        rejected(bad, word);
    }
}

#[test]
fn job_settings_parse_and_reach_the_tracker() {
    let defaults = NamenodeConfig::default().tracker_config();
    assert_eq!(defaults.executor_dead_after, Duration::from_secs(30));
    assert_eq!(defaults.locality_wait, Duration::from_secs(3));

    let text = "job_locality_wait = \"1s\"\njob_max_attempts = 2\njob_sort_buffer = 1048576\n\
                job_speculation = false\njob_speculation_min_runtime = \"2s\"\n\
                job_max_history = 10\nexecutor_dead_after = \"4s\"\n";
    let tracker = NamenodeConfig::from_toml_str(text)
        .unwrap()
        .tracker_config();
    assert_eq!(tracker.locality_wait, Duration::from_secs(1));
    assert_eq!(tracker.max_attempts, 2);
    assert_eq!(tracker.sort_buffer, 1 << 20);
    assert!(!tracker.speculation);
    assert_eq!(tracker.speculation_min_runtime, Duration::from_secs(2));
    assert_eq!(tracker.max_history, 10);
    assert_eq!(tracker.executor_dead_after, Duration::from_secs(4));

    let args = NamenodeArgs::try_parse_from([
        "granary-namenode",
        "--dead-after",
        "7s",
        "--job-locality-wait",
        "0s",
        "--job-sort-buffer",
        "16M",
        "--job-speculation",
        "false",
    ])
    .unwrap();
    let tracker = args.into_config().unwrap().tracker_config();
    assert_eq!(
        tracker.executor_dead_after,
        Duration::from_secs(7),
        "dead_after"
    );
    assert_eq!(tracker.locality_wait, Duration::ZERO);
    assert_eq!(tracker.sort_buffer, 16 << 20);
    assert!(!tracker.speculation);

    for bad in [
        "job_max_attempts = 0",
        "job_sort_buffer = 1024",
        "job_max_history = 0",
        "executor_dead_after = \"0s\"",
        "job_locality_wait = \"2h\"",
    ] {
        let config = NamenodeConfig::from_toml_str(bad).unwrap();
        assert!(config.validate().is_err(), "{bad} accepted");
    }
}
