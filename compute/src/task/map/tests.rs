use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use granary_client::protocol::{Builtin, KeyBytes, Partitioner};

use super::*;
use crate::task::test_support::{map_assignment, reduce_assignment, whole_file, Failing};
use crate::task::{MAP_INDEX_FILE, MAP_OUTPUT_FILE};

fn wordcount() -> JobProgram {
    JobProgram::Builtin(Builtin::Wordcount)
}

#[test]
fn a_map_leaves_only_its_output_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("attempt");
    let data = "one two three two\n".repeat(2_000);
    let assignment = map_assignment(wordcount(), 2, 1 << 10, data.len() as u64);
    let (output, counters) = run(
        &assignment,
        whole_file(data.as_bytes()),
        &work,
        &TaskControl::default(),
    )
    .unwrap();
    assert!(matches!(output, MapOutput::Partitioned));
    let mut names: Vec<_> = fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, [MAP_INDEX_FILE, MAP_OUTPUT_FILE]);
    assert_eq!(counters.map_input_records, 2_000);
    assert_eq!(counters.map_input_bytes, data.len() as u64);
    assert_eq!(counters.map_output_records, 8_000);
}

#[test]
fn a_map_only_job_names_its_text_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = b"a b\n";
    let assignment = map_assignment(wordcount(), 0, 1 << 20, data.len() as u64);
    let (output, _) = run(
        &assignment,
        whole_file(data),
        dir.path(),
        &TaskControl::default(),
    )
    .unwrap();
    let MapOutput::Text(path) = output else {
        panic!("{output:?}")
    };
    assert_eq!(fs::read(path).unwrap(), b"a\t1\nb\t1\n");
}

#[test]
fn invalid_assignments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let control = TaskControl::default();
    let reduce = reduce_assignment(wordcount(), None);
    let err = run(&reduce, whole_file(b""), dir.path(), &control).unwrap_err();
    assert!(matches!(err, TaskError::Invalid(_)), "{err}");
    let mut ranged = map_assignment(wordcount(), 2, 1 << 20, 0);
    ranged.partitioner = Partitioner::Range {
        boundaries: vec![KeyBytes(b"a".to_vec()), KeyBytes(b"b".to_vec())],
    };
    let err = run(&ranged, whole_file(b""), dir.path(), &control).unwrap_err();
    assert!(matches!(err, TaskError::Invalid(_)), "{err}");
}

#[test]
fn a_cancelled_builtin_map_stops() {
    let dir = tempfile::tempdir().unwrap();
    let data = "word\n".repeat(100_000);
    let control = TaskControl::default();
    control.cancel();
    let assignment = map_assignment(wordcount(), 1, 1 << 20, data.len() as u64);
    let err = run(
        &assignment,
        whole_file(data.as_bytes()),
        dir.path(),
        &control,
    )
    .unwrap_err();
    assert!(matches!(err, TaskError::Cancelled), "{err}");
}

#[test]
fn a_cancelled_streaming_map_kills_its_mapper() {
    let dir = tempfile::tempdir().unwrap();
    let data = b"a\nb\n";
    let program = JobProgram::Streaming {
        mapper: "cat >/dev/null; sleep 60".into(),
        combiner: None,
        reducer: None,
    };
    let assignment = map_assignment(program, 1, 1 << 20, data.len() as u64);
    let control = Arc::new(TaskControl::default());
    let fed = Arc::new(AtomicBool::new(false));
    let canceller = {
        let (control, fed) = (control.clone(), fed.clone());
        // Cancel once the mapper has been fed everything, so it is sitting in `sleep`.
        thread::spawn(move || {
            for _ in 0..1_000 {
                if control.progress() >= 1.0 {
                    fed.store(true, Ordering::Relaxed);
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
            control.cancel();
        })
    };
    let err = run(&assignment, whole_file(data), dir.path(), &control).unwrap_err();
    canceller.join().unwrap();
    assert!(fed.load(Ordering::Relaxed));
    assert!(matches!(err, TaskError::Cancelled), "{err}");
}

#[test]
fn an_unreadable_split_fails_the_map_with_the_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let streaming = JobProgram::Streaming {
        mapper: "cat".into(),
        combiner: None,
        reducer: None,
    };
    for program in [wordcount(), streaming] {
        let assignment = map_assignment(program, 1, 1 << 20, 10);
        let mut input = whole_file(&[b'x'; 10]);
        input.head = Box::new(Failing);
        let err = run(&assignment, input, dir.path(), &TaskControl::default()).unwrap_err();
        assert!(err.to_string().contains("disk on fire"), "{err}");
    }
}
