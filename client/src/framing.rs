//! The framed byte streams used for block data on the wire. Writes (client to datanode, and
//! down the pipeline) send `[u32 big-endian payload length][32-byte SHA-256 of payload]
//! [payload]`, repeated; a datanode verifies each chunk against its digest as it arrives and
//! stores that digest.
//!
//! Reads add, after the digest, a CRC32 of the length, digest and payload ([`ReadFrameCodec`]).
//! The datanode has just verified the payload against its stored SHA-256; the CRC carries that
//! verification to the reader end to end, which then needs only a CRC per chunk instead of a
//! second SHA-256 of every byte (a fifth of a read's CPU, datanode and client sharing the
//! machine's cores). The digest still comes along, so a whole-block read is checked against
//! the block digest the namenode recorded.
//!
//! Every payload is one checksum chunk (at most [`CHUNK_SIZE`] bytes, aligned to chunk
//! boundaries of the block; [`check_payload_len`] is the one check of that). The end of the
//! body ends the stream; a truncated frame is an error, never data.
//!
//! Writes are decoded by [`WriteFrameStream`] straight from the chunks of an HTTP body: a
//! payload that arrives within one chunk is sliced out of it without copying (what
//! `FramedRead` over a `StreamReader` would copy into its buffer); only frames split across
//! chunks are assembled. Reads are decoded by [`ReadFrameCodec`].

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio_util::codec::{Decoder, Encoder};

use crate::checksum::{Digest, CHUNK_SIZE};
use crate::error::{Error, ErrorKind};

/// Bytes before each payload of a write frame.
pub const WRITE_FRAME_HEADER_LEN: usize = 4 + 32;
/// Bytes before each payload of a read frame.
pub const READ_FRAME_HEADER_LEN: usize = WRITE_FRAME_HEADER_LEN + 4;

/// One chunk of block data with its digest as sent by the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub digest: Digest,
    pub data: Bytes,
}

impl Frame {
    /// A frame for `data`, digesting it.
    pub fn seal(data: Bytes) -> Self {
        Frame {
            digest: Digest::of(&data),
            data,
        }
    }

    /// Checks the payload against the digest the sender attached.
    pub fn verify(&self) -> Result<(), Error> {
        if Digest::of(&self.data) == self.digest {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::ChecksumMismatch,
                "chunk checksum mismatch in transit",
            ))
        }
    }

    /// The header bytes of a write frame, for writers that send the payload without copying
    /// it.
    pub fn write_header(&self) -> Bytes {
        self.header(false)
    }

    /// The header bytes of a read frame: call only once the payload is verified against
    /// the digest, as the CRC vouches for that.
    pub fn read_header(&self) -> Bytes {
        self.header(true)
    }

    fn header(&self, with_crc: bool) -> Bytes {
        let mut header = BytesMut::with_capacity(READ_FRAME_HEADER_LEN);
        header.put_u32(self.data.len() as u32);
        header.put_slice(&self.digest.0);
        if with_crc {
            header.put_u32(self.crc());
        }
        header.freeze()
    }

    /// CRC32 of the length, the digest and the payload: all a read frame carries, since the
    /// digests also feed the reader's whole-block check.
    fn crc(&self) -> u32 {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&(self.data.len() as u32).to_be_bytes());
        crc.update(&self.digest.0);
        crc.update(&self.data);
        crc.finalize()
    }
}

/// The payload length a frame header declares, if it is one a frame may have: 1 to
/// [`CHUNK_SIZE`] bytes.
pub fn check_payload_len(declared: u32) -> Result<usize, Error> {
    let len = declared as usize;
    if len == 0 || len > CHUNK_SIZE {
        return Err(Error::invalid_argument(format!("bad frame length {len}")));
    }
    Ok(len)
}

/// Encodes write [`Frame`]s into one buffer, for tests and tools that build a whole body
/// (datanodes decode them with [`WriteFrameStream`]). The header is [`Frame::write_header`],
/// what writers stream, so the format has one encoder.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriteFrameCodec;

/// Decodes read frames, checking each payload's CRC32 (a mismatch is an `Io` error: the
/// bytes were damaged after the datanode verified them, not on its disk); rejects frames
/// larger than one chunk.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadFrameCodec;

impl Decoder for ReadFrameCodec {
    type Item = Frame;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Error> {
        if src.len() < READ_FRAME_HEADER_LEN {
            src.reserve(READ_FRAME_HEADER_LEN + CHUNK_SIZE - src.len());
            return Ok(None);
        }
        let len = check_payload_len(u32::from_be_bytes([src[0], src[1], src[2], src[3]]))?;
        if src.len() < READ_FRAME_HEADER_LEN + len {
            src.reserve(READ_FRAME_HEADER_LEN + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        let mut digest = [0u8; 32];
        src.copy_to_slice(&mut digest);
        let crc = src.get_u32();
        let frame = Frame {
            digest: Digest(digest),
            data: src.split_to(len).freeze(),
        };
        if frame.crc() != crc {
            return Err(Error::new(
                ErrorKind::Io,
                "chunk damaged in transit (CRC32 mismatch)",
            ));
        }
        Ok(Some(frame))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Error> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            // Leftover bytes are a truncated frame.
            None => Err(Error::new(
                ErrorKind::Io,
                "block stream ended inside a frame",
            )),
        }
    }
}

impl Encoder<Frame> for WriteFrameCodec {
    type Error = Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), Error> {
        dst.reserve(WRITE_FRAME_HEADER_LEN + frame.data.len());
        dst.put_slice(&frame.write_header());
        dst.put_slice(&frame.data);
        Ok(())
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, err.to_string())
    }
}

/// Write frames decoded from the chunks of a request body, without copying payloads that
/// arrive within one chunk.
pub struct WriteFrameStream<S> {
    body: S,
    /// What is left of the last chunk received.
    chunk: Bytes,
    /// A header or payload split across chunks, being assembled.
    partial: BytesMut,
    /// Payload length and digest of the frame whose payload comes next.
    header: Option<(usize, Digest)>,
}

impl<S, E> WriteFrameStream<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    pub fn new(body: S) -> Self {
        WriteFrameStream {
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
                        Some(parse_write_header(
                            &self.chunk.split_to(WRITE_FRAME_HEADER_LEN),
                        ))
                    } else {
                        self.fill_partial(WRITE_FRAME_HEADER_LEN);
                        (self.partial.len() == WRITE_FRAME_HEADER_LEN)
                            .then(|| parse_write_header(&self.partial.split()))
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

fn parse_write_header(mut header: &[u8]) -> Result<(usize, Digest), Error> {
    let len = check_payload_len(header.get_u32())?;
    let mut digest = [0u8; 32];
    header.copy_to_slice(&mut digest);
    Ok((len, Digest(digest)))
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
