//! The job tracker: runs inside the namenode. It validates and plans submitted jobs, hands
//! attempts to polling executors (delay scheduling for locality), retries failed attempts,
//! commits the winners' output and keeps the job history.
