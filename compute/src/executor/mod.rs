//! The task executor: runs inside each datanode. It polls the job tracker for attempts, runs
//! them in its slots (map input read from the datanode's own block store when it holds the
//! block) and reports how each ended.
