//! Compute on the data: MapReduce jobs over files stored in Granary.
//!
//! - [`tracker`] runs inside the namenode: it plans one map task per block, hands tasks to
//!   executors with delay scheduling, retries failed attempts and commits the output.
//! - [`executor`] runs inside each datanode: it polls the tracker for work and runs attempts
//!   in its task slots, reading map input from the datanode's own block store.
//! - [`shuffle`] serves finished map output to reducers and fetches it for them.
//! - [`failpoints`] configures the daemons' failpoints from the environment.
//! - [`task`] is what an attempt computes: line splits, the map side's sort buffer, spills and
//!   merge, the built-in and streaming programs, and the reduce side's merge and group.

pub mod error;
pub mod executor;
pub mod failpoints;
pub mod shuffle;
pub mod task;
pub mod tracker;

pub use error::TaskError;
