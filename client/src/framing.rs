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
//! boundaries of the block). The end of the body ends the stream; a truncated frame is an
//! error, never data.

use bytes::{Buf, BufMut, Bytes, BytesMut};
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

/// Encodes write [`Frame`]s (datanodes read them with their own frame stream).
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
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len == 0 || len > CHUNK_SIZE {
            return Err(Error::invalid_argument(format!("bad frame length {len}")));
        }
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

    /// A frame as a datanode sends it.
    fn put_read_frame(wire: &mut BytesMut, frame: &Frame) {
        wire.extend_from_slice(&frame.read_header());
        wire.extend_from_slice(&frame.data);
    }

    #[test]
    fn frames_round_trip_across_arbitrary_splits() {
        let mut wire = BytesMut::new();
        let frames: Vec<Frame> = [vec![1u8; CHUNK_SIZE], vec![2u8; 10]]
            .into_iter()
            .map(|d| Frame::seal(Bytes::from(d)))
            .collect();
        for f in &frames {
            put_read_frame(&mut wire, f);
        }
        let wire = wire.freeze();
        for split in [1, 35, 36, 37, 1000, wire.len()] {
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for piece in wire.chunks(split) {
                buf.extend_from_slice(piece);
                while let Some(f) = ReadFrameCodec.decode(&mut buf).unwrap() {
                    out.push(f);
                }
            }
            assert!(ReadFrameCodec.decode_eof(&mut buf).unwrap().is_none());
            assert_eq!(out, frames);
            out.iter().for_each(|f| f.verify().unwrap());
        }
    }

    #[test]
    fn truncated_and_oversized_frames_are_errors() {
        let mut wire = BytesMut::new();
        put_read_frame(&mut wire, &Frame::seal(Bytes::from_static(b"hello")));
        let mut cut = BytesMut::from(&wire[..wire.len() - 1]);
        assert!(ReadFrameCodec.decode_eof(&mut cut).is_err());
        let mut huge = BytesMut::new();
        huge.put_u32(CHUNK_SIZE as u32 + 1);
        huge.put_slice(&[0u8; 36]);
        assert!(ReadFrameCodec.decode(&mut huge).is_err());
    }

    #[test]
    fn read_frames_carry_a_crc_that_catches_damage_in_transit() {
        let frame = Frame::seal(Bytes::from(vec![7u8; 1000]));
        let mut wire = BytesMut::new();
        put_read_frame(&mut wire, &frame);
        let wire = wire.freeze();
        let mut whole = BytesMut::from(&wire[..]);
        assert_eq!(ReadFrameCodec.decode_eof(&mut whole).unwrap(), Some(frame));
        assert!(ReadFrameCodec.decode_eof(&mut whole).unwrap().is_none());

        // A flipped bit in the payload or in the digest.
        for at in [READ_FRAME_HEADER_LEN + 500, 10] {
            let mut damaged = BytesMut::from(&wire[..]);
            damaged[at] ^= 1;
            assert_eq!(
                ReadFrameCodec.decode(&mut damaged).unwrap_err().kind,
                ErrorKind::Io
            );
        }
        let mut cut = BytesMut::from(&wire[..wire.len() - 1]);
        assert!(ReadFrameCodec.decode_eof(&mut cut).is_err());
    }

    #[test]
    fn tampered_payload_fails_verification() {
        let mut f = Frame::seal(Bytes::from_static(b"hello"));
        f.data = Bytes::from_static(b"jello");
        assert_eq!(f.verify().unwrap_err().kind, ErrorKind::ChecksumMismatch);
    }
}
