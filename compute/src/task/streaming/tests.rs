use granary_client::protocol::JobProgram;

use super::*;
use crate::task::test_support::{lines_of, LocalJob};

const SPLIT_WORDS: &str = r#"awk '{ for (i = 1; i <= NF; i++) print $i "\t1" }'"#;
const SUM: &str = r#"awk -F '\t' '{ s[$1] += $2 } END { for (k in s) print k "\t" s[k] }'"#;

fn streaming(mapper: &str, combiner: Option<&str>, reducer: Option<&str>) -> JobProgram {
    JobProgram::Streaming {
        mapper: mapper.into(),
        combiner: combiner.map(str::to_string),
        reducer: reducer.map(str::to_string),
    }
}

fn sorted_lines(parts: &[Vec<u8>]) -> Vec<String> {
    let mut lines: Vec<String> = parts.iter().flat_map(|p| lines_of(p)).collect();
    lines.sort();
    lines
}

#[test]
fn records_parse_at_the_first_tab() {
    assert_eq!(parse_record(b"k\tv\tw"), (&b"k"[..], &b"v\tw"[..]));
    assert_eq!(parse_record(b"all key"), (&b"all key"[..], &b""[..]));
    assert_eq!(parse_record(b"\t"), (&b""[..], &b""[..]));
}

#[test]
fn cat_mapper_with_the_identity_reducer_sorts_by_key() {
    let data = b"b\t2\na\t1\nc\nb\t1\n";
    let mut job = LocalJob::new(streaming("cat", None, None), 1);
    job.split_size = 7;
    let (parts, counters) = job.run(data).unwrap();
    assert_eq!(lines_of(&parts[0]), ["a\t1", "b\t2", "b\t1", "c"]);
    assert_eq!(counters.map_input_records, 4);
    assert_eq!(counters.map_output_records, 4);
    assert_eq!(counters.reduce_input_groups, 3);
    assert_eq!(counters.reduce_output_records, 4);
}

#[test]
fn awk_mapper_and_reducer_count_words() {
    let data = b"the cat\nthe dog\nthe end\n";
    let mut job = LocalJob::new(streaming(SPLIT_WORDS, None, Some(SUM)), 2);
    job.split_size = 9;
    let (parts, counters) = job.run(data).unwrap();
    assert_eq!(
        sorted_lines(&parts),
        ["cat\t1", "dog\t1", "end\t1", "the\t3"]
    );
    assert_eq!(counters.map_output_records, 6);
    assert_eq!(counters.reduce_input_groups, 4);
    assert_eq!(counters.reduce_output_records, 4);
}

#[test]
fn the_combiner_shrinks_each_spill() {
    let data = "a b a c a b\n".repeat(300);
    let mut job = LocalJob::new(streaming(SPLIT_WORDS, Some(SUM), Some(SUM)), 2);
    job.sort_buffer = 4 << 10;
    let (parts, counters) = job.run(data.as_bytes()).unwrap();
    assert_eq!(sorted_lines(&parts), ["a\t900", "b\t600", "c\t300"]);
    assert_eq!(counters.combine_input_records, 1800);
    assert!(counters.combine_output_records < 100, "{counters:?}");
}

#[test]
fn map_only_output_is_the_mappers_stdout_as_it_is() {
    let data = b"x\ny\n";
    let (parts, counters) = LocalJob::new(streaming("tr a-z A-Z; printf tail", None, None), 0)
        .run(data)
        .unwrap();
    assert_eq!(parts[0], b"X\nY\ntail");
    assert_eq!(counters.map_output_records, 3);
}

#[test]
fn commands_see_hadoops_environment() {
    let mapper =
        "cat >/dev/null; echo \"$mapreduce_job_id $mapreduce_task_id $mapreduce_task_attempt_id \
                  $mapreduce_task_partition $mapreduce_map_input_file $mapreduce_map_input_start \
                  $mapreduce_map_input_length\"";
    let (parts, _) = LocalJob::new(streaming(mapper, None, None), 0)
        .run(b"abc\n")
        .unwrap();
    assert_eq!(
        lines_of(&parts[0]),
        ["job_1700000000000_0001 task_1700000000000_0001_m_000003 \
          attempt_1700000000000_0001_m_000003_0 3 /in/data.txt 0 4"]
    );
    let reducer = "cat >/dev/null; echo \"$mapreduce_task_id $mapreduce_map_input_file\"";
    let (parts, _) = LocalJob::new(streaming("cat", None, Some(reducer)), 1)
        .run(b"abc\n")
        .unwrap();
    assert_eq!(lines_of(&parts[0]), ["task_1700000000000_0001_r_000000 "]);
}

#[test]
fn stderr_counters_reach_the_task_counters() {
    let mapper = r#"awk '{ print; print "reporter:counter:Lines,Seen,1" > "/dev/stderr" }'"#;
    let reducer = r#"awk '{ print; print "reporter:counter:Lines,Reduced,2" > "/dev/stderr" }'"#;
    let (_, counters) = LocalJob::new(streaming(mapper, None, Some(reducer)), 1)
        .run(b"a\nb\nc\n")
        .unwrap();
    assert_eq!(counters.user["Lines"]["Seen"], 3);
    assert_eq!(counters.user["Lines"]["Reduced"], 6);
}

#[test]
fn a_failing_mapper_fails_the_map() {
    let err = LocalJob::new(streaming("echo broken >&2; exit 3", None, None), 1)
        .run(b"a\n")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "command `echo broken >&2; exit 3` exited with status 3; stderr: broken"
    );
    let err = LocalJob::new(streaming("cat", None, Some("exit 5")), 1)
        .run(b"a\n")
        .unwrap_err();
    assert!(err.to_string().ends_with("exited with status 5"), "{err}");
}
