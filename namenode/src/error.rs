//! Errors of starting and running the namenode process. Errors answered to a request are
//! `granary_client::Error`, whose kind crosses the wire.

#[derive(Debug, thiserror::Error)]
pub enum NamenodeError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Fs(#[from] granary_client::Error),
}

impl NamenodeError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        NamenodeError::Io {
            context: context.into(),
            source,
        }
    }
}
