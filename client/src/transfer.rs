//! Block data to and from one datanode: a framed `PUT` for writes, a framed `GET` for reads.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::io::StreamReader;

use crate::config::ClientConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::framing::{Frame, ReadFrameCodec};
use crate::ids::BlockId;
use crate::namenode::{decode_response, transport_reason, wire_error};
use crate::protocol::{
    routes, DatanodeInfo, ReadBlockQuery, WriteBlockAck, WritePipeline, PIPELINE_HEADER,
};

/// Frames of a block on their way to a pipeline: headers and payloads as separate items, so
/// payloads are never copied. An `Err` aborts the request.
pub type BodySender = mpsc::Sender<std::io::Result<Bytes>>;

/// Frames buffered between the producer and the connection: bounds the memory of one block
/// write to a few chunks.
pub const BODY_CHANNEL_FRAMES: usize = 16;

/// A read that receives nothing for this long is abandoned for the next replica.
pub const STALLED_READ: Duration = Duration::from_secs(60);

/// HTTP client for block traffic: no overall timeout, since a block takes as long as it takes.
/// Stalls are caught per frame by readers ([`STALLED_READ`]) and, for writes, by the datanodes'
/// own idle timeouts. (reqwest's `read_timeout` would also fire during a long upload.)
pub fn data_client(config: &ClientConfig) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .pool_max_idle_per_host(16)
        .tcp_nodelay(true);
    if let Some(ip) = config.local_address {
        builder = builder.local_address(ip);
    }
    builder
        .build()
        .map_err(|e| Error::internal(format!("http client: {e}")))
}

/// Streams a block to `pipeline[0]`, which forwards it to the rest. Returns the channel to feed
/// with frames and a future that resolves to the pipeline's ack once the sender is dropped.
pub fn write_block(
    http: &reqwest::Client,
    pipeline: &[DatanodeInfo],
    block: BlockId,
) -> Result<(
    BodySender,
    impl std::future::Future<Output = Result<WriteBlockAck>>,
)> {
    let first = pipeline
        .first()
        .cloned()
        .ok_or_else(|| Error::new(ErrorKind::NoDatanodes, "empty pipeline"))?;
    let header = serde_json::to_string(&WritePipeline {
        downstream: pipeline[1..].to_vec(),
    })
    .map_err(|e| Error::internal(format!("encoding pipeline: {e}")))?;
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(BODY_CHANNEL_FRAMES * 2);
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let request = routes::request::<routes::WriteBlock>(http, first.addr, &block)
        .header(PIPELINE_HEADER, header)
        .body(reqwest::Body::wrap_stream(body));
    let ack = async move {
        let response = request.send().await.map_err(|e| {
            Error::new(
                ErrorKind::PipelineFailed,
                format!(
                    "datanode {} ({}): {}",
                    first.id,
                    first.addr,
                    transport_reason(&e)
                ),
            )
            .with_datanode(first.id.clone())
        })?;
        let result: Result<WriteBlockAck> = decode_response(response).await;
        result.map_err(|e| match e.datanode {
            Some(_) => e,
            // An error the first node did not attribute to anyone downstream is its own.
            None => e.with_datanode(first.id.clone()),
        })
    };
    Ok((tx, ack))
}

/// Opens a framed read of `[offset, offset + length)` of a block on `datanode`. The first frame
/// starts at the chunk boundary at or before `offset`.
pub async fn read_block(
    http: &reqwest::Client,
    datanode: &DatanodeInfo,
    block: BlockId,
    offset: u64,
    length: u64,
) -> Result<impl Stream<Item = Result<Frame>> + Unpin + Send> {
    let response = routes::request::<routes::ReadBlock>(http, datanode.addr, &block)
        .query(&ReadBlockQuery {
            offset: Some(offset),
            length: Some(length),
        })
        .send()
        .await
        .map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "datanode {} ({}): {}",
                    datanode.id,
                    datanode.addr,
                    transport_reason(&e)
                ),
            )
        })?;
    let status = response.status();
    if !status.is_success() {
        let body = response.bytes().await.unwrap_or_default();
        return Err(wire_error(status, &body));
    }
    let bytes = response
        .bytes_stream()
        .map_err(|e| std::io::Error::other(transport_reason(&e)));
    Ok(FramedRead::new(StreamReader::new(bytes), ReadFrameCodec).boxed())
}
