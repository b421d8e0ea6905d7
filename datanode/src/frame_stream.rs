//! Frames decoded straight from the chunks of an HTTP body, in the [`granary_client::framing`]
//! format. A payload that arrives within one chunk is sliced out of it without copying (what
//! `FramedRead` over a `StreamReader` would copy into its buffer); only frames split across
//! chunks are assembled.

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use granary_client::checksum::{Digest, CHUNK_SIZE};
use granary_client::framing::{Frame, WRITE_FRAME_HEADER_LEN};
use granary_client::{Error, ErrorKind};

pub struct FrameStream<S> {
    body: S,
    /// What is left of the last chunk received.
    chunk: Bytes,
    /// A header or payload split across chunks, being assembled.
    partial: BytesMut,
    /// Payload length and digest of the frame whose payload comes next.
    header: Option<(usize, Digest)>,
}

impl<S, E> FrameStream<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    pub fn new(body: S) -> Self {
        FrameStream {
            body,
            chunk: Bytes::new(),
            partial: BytesMut::new(),
            header: None,
        }
    }

    /// The next frame; `None` at a clean end of the body. A body that breaks is an `io` error;
    /// one that ends inside a frame, or declares a bad length, is `invalid_argument`.
    pub async fn next(&mut self) -> Option<Result<Frame, Error>> {
        loop {
            if self.header.is_none() {
                let header =
                    if self.partial.is_empty() && self.chunk.len() >= WRITE_FRAME_HEADER_LEN {
                        Some(parse_header(&self.chunk.split_to(WRITE_FRAME_HEADER_LEN)))
                    } else {
                        self.fill_partial(WRITE_FRAME_HEADER_LEN);
                        (self.partial.len() == WRITE_FRAME_HEADER_LEN)
                            .then(|| parse_header(&self.partial.split()))
                    };
                match header {
                    Some(Ok(header)) => self.header = Some(header),
                    Some(Err(e)) => return Some(Err(e)),
                    None => {}
                }
            }
            if let Some((len, digest)) = self.header {
                if self.partial.is_empty() && self.chunk.len() >= len {
                    self.header = None;
                    return Some(Ok(Frame {
                        digest,
                        data: self.chunk.split_to(len),
                    }));
                }
                self.fill_partial(len);
                if self.partial.len() == len {
                    self.header = None;
                    return Some(Ok(Frame {
                        digest,
                        data: self.partial.split().freeze(),
                    }));
                }
            }
            // Whatever the last chunk held is consumed: wait for the next one.
            match self.body.next().await {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => {
                    return Some(Err(Error::new(
                        ErrorKind::Io,
                        format!("reading the block from upstream: {e}"),
                    )))
                }
                None if self.header.is_none() && self.partial.is_empty() => return None,
                None => {
                    return Some(Err(Error::invalid_argument(
                        "block stream ended inside a frame",
                    )))
                }
            }
        }
    }

    /// Moves bytes from the current chunk into `partial` until it holds `target` bytes.
    fn fill_partial(&mut self, target: usize) {
        if self.partial.is_empty() {
            self.partial.reserve(target);
        }
        let take = (target - self.partial.len()).min(self.chunk.len());
        self.partial.extend_from_slice(&self.chunk[..take]);
        self.chunk.advance(take);
    }
}

fn parse_header(mut header: &[u8]) -> Result<(usize, Digest), Error> {
    let len = header.get_u32() as usize;
    if len == 0 || len > CHUNK_SIZE {
        return Err(Error::invalid_argument(format!("bad frame length {len}")));
    }
    let mut digest = [0u8; 32];
    header.copy_to_slice(&mut digest);
    Ok((len, Digest(digest)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{data, encode, frames_of};

    async fn decode_split(wire: &Bytes, split: usize) -> Vec<Result<Frame, Error>> {
        let pieces: Vec<Result<Bytes, String>> = wire
            .chunks(split)
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect();
        let mut stream = FrameStream::new(futures_util::stream::iter(pieces));
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let failed = item.is_err();
            out.push(item);
            if failed {
                break;
            }
        }
        out
    }

    #[tokio::test]
    async fn decodes_across_arbitrary_splits() {
        let frames = frames_of(&data(2 * CHUNK_SIZE + 100, 1));
        let wire = encode(frames.clone());
        for split in [
            1,
            7,
            35,
            36,
            37,
            1000,
            CHUNK_SIZE,
            CHUNK_SIZE + 36,
            wire.len(),
        ] {
            let got: Vec<Frame> = decode_split(&wire, split)
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(got, frames, "split {split}");
        }
    }

    #[tokio::test]
    async fn truncation_bad_lengths_and_broken_bodies_are_errors() {
        let wire = encode(frames_of(&data(100, 2)));
        for cut in [1, 36, 99] {
            let out = decode_split(&wire.slice(..cut), 10).await;
            assert_eq!(
                out.last().unwrap().as_ref().unwrap_err().kind,
                ErrorKind::InvalidArgument,
                "cut {cut}"
            );
        }
        let mut oversized = vec![0u8; WRITE_FRAME_HEADER_LEN];
        oversized[..4].copy_from_slice(&(CHUNK_SIZE as u32 + 1).to_be_bytes());
        let out = decode_split(&Bytes::from(oversized), 100).await;
        assert_eq!(
            out[0].as_ref().unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
        let broken = futures_util::stream::iter(vec![Ok(wire.slice(..50)), Err("reset")]);
        let mut stream = FrameStream::new(broken);
        assert_eq!(
            stream.next().await.unwrap().unwrap_err().kind,
            ErrorKind::Io
        );
    }
}
