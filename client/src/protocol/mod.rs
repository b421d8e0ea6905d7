//! Wire types shared by both ends of every connection. Control messages are JSON bodies of
//! these structs; block bytes are [`crate::framing`] streams. [`routes`] declares every HTTP
//! endpoint with its method, path and types, so servers and clients can never disagree on one.

pub mod admin;
pub mod datanode;
pub mod health;
pub mod job;
pub mod namespace;
pub mod routes;
pub mod summary;
pub mod transfer;

pub use admin::*;
pub use datanode::*;
pub use health::*;
pub use job::*;
pub use namespace::*;
pub use summary::*;
pub use transfer::*;

/// The answer of calls that answer nothing but success: `{}` on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ack {}
