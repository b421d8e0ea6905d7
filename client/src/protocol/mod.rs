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

/// The header every namenode call names its caller in (HDFS's "simple" mode: the name is
/// taken as given; authentication comes later).
pub const USER_HEADER: &str = "x-granary-user";
/// Who a call without [`USER_HEADER`] is: HDFS's default web user.
pub const ANONYMOUS_USER: &str = "dr.who";
