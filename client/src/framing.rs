//! The framed byte stream used for block data on the wire, both directions:
//! `[u32 big-endian payload length][32-byte SHA-256 of payload][payload]`, repeated.
//!
//! Every payload is one checksum chunk (at most [`CHUNK_SIZE`] bytes, aligned to chunk
//! boundaries of the block), so a receiver verifies each chunk as it arrives and a datanode can
//! store the digests it received without recomputing anything. The end of the body ends the
//! stream; a truncated frame is an error, never data.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::checksum::{Digest, CHUNK_SIZE};
use crate::error::{Error, ErrorKind};

/// Bytes before each payload.
pub const FRAME_HEADER_LEN: usize = 4 + 32;

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

    /// The header bytes, for writers that send the payload without copying it.
    pub fn header(&self) -> Bytes {
        let mut header = BytesMut::with_capacity(FRAME_HEADER_LEN);
        header.put_u32(self.data.len() as u32);
        header.put_slice(&self.digest.0);
        header.freeze()
    }
}

/// Decodes and encodes [`Frame`]s; rejects frames larger than one chunk.
#[derive(Debug, Default, Clone, Copy)]
pub struct FrameCodec;

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Error> {
        if src.len() < FRAME_HEADER_LEN {
            src.reserve(FRAME_HEADER_LEN + CHUNK_SIZE - src.len());
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len == 0 || len > CHUNK_SIZE {
            return Err(Error::invalid_argument(format!("bad frame length {len}")));
        }
        if src.len() < FRAME_HEADER_LEN + len {
            src.reserve(FRAME_HEADER_LEN + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        let mut digest = [0u8; 32];
        src.copy_to_slice(&mut digest);
        let data = src.split_to(len).freeze();
        Ok(Some(Frame {
            digest: Digest(digest),
            data,
        }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Error> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(Error::new(
                ErrorKind::Io,
                "block stream ended inside a frame",
            )),
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), Error> {
        dst.reserve(FRAME_HEADER_LEN + frame.data.len());
        dst.put_u32(frame.data.len() as u32);
        dst.put_slice(&frame.digest.0);
        dst.put_slice(&frame.data);
        Ok(())
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_across_arbitrary_splits() {
        let mut wire = BytesMut::new();
        let frames: Vec<Frame> = [vec![1u8; CHUNK_SIZE], vec![2u8; 10]]
            .into_iter()
            .map(|d| Frame::seal(Bytes::from(d)))
            .collect();
        for f in &frames {
            FrameCodec.encode(f.clone(), &mut wire).unwrap();
        }
        let wire = wire.freeze();
        for split in [1, 35, 36, 37, 1000, wire.len()] {
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for piece in wire.chunks(split) {
                buf.extend_from_slice(piece);
                while let Some(f) = FrameCodec.decode(&mut buf).unwrap() {
                    out.push(f);
                }
            }
            assert!(FrameCodec.decode_eof(&mut buf).unwrap().is_none());
            assert_eq!(out, frames);
            out.iter().for_each(|f| f.verify().unwrap());
        }
    }

    #[test]
    fn truncated_and_oversized_frames_are_errors() {
        let mut wire = BytesMut::new();
        FrameCodec
            .encode(Frame::seal(Bytes::from_static(b"hello")), &mut wire)
            .unwrap();
        let mut cut = BytesMut::from(&wire[..wire.len() - 1]);
        assert!(FrameCodec.decode_eof(&mut cut).is_err());
        let mut huge = BytesMut::new();
        huge.put_u32(CHUNK_SIZE as u32 + 1);
        huge.put_slice(&[0u8; 32]);
        assert!(FrameCodec.decode(&mut huge).is_err());
    }

    #[test]
    fn tampered_payload_fails_verification() {
        let mut f = Frame::seal(Bytes::from_static(b"hello"));
        f.data = Bytes::from_static(b"jello");
        assert_eq!(f.verify().unwrap_err().kind, ErrorKind::ChecksumMismatch);
    }
}
