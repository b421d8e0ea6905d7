use super::*;

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

fn frames_of(data: &[u8]) -> Vec<Frame> {
    data.chunks(CHUNK_SIZE)
        .map(|chunk| Frame::seal(Bytes::copy_from_slice(chunk)))
        .collect()
}

fn encode(frames: Vec<Frame>) -> Bytes {
    let mut wire = BytesMut::new();
    for frame in frames {
        WriteFrameCodec.encode(frame, &mut wire).unwrap();
    }
    wire.freeze()
}

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

async fn decode_split(wire: &Bytes, split: usize) -> Vec<Result<Frame, Error>> {
    let pieces: Vec<Result<Bytes, String>> = wire
        .chunks(split)
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    let mut stream = WriteFrameStream::new(futures_util::stream::iter(pieces));
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
async fn write_frames_decode_across_arbitrary_splits() {
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
async fn write_frame_truncation_bad_lengths_and_broken_bodies_are_errors() {
    let wire = encode(frames_of(&data(100, 2)));
    for cut in [1, 36, 99] {
        let out = decode_split(&wire.slice(..cut), 10).await;
        assert_eq!(
            out.last().unwrap().as_ref().unwrap_err().kind,
            ErrorKind::InvalidArgument,
            "cut {cut}"
        );
    }
    for bad_len in [0, CHUNK_SIZE as u32 + 1] {
        let mut header = vec![0u8; WRITE_FRAME_HEADER_LEN];
        header[..4].copy_from_slice(&bad_len.to_be_bytes());
        let out = decode_split(&Bytes::from(header), 100).await;
        assert_eq!(
            out[0].as_ref().unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }
    let broken = futures_util::stream::iter(vec![Ok(wire.slice(..50)), Err("reset")]);
    let mut stream = WriteFrameStream::new(broken);
    assert_eq!(
        stream.next().await.unwrap().unwrap_err().kind,
        ErrorKind::Io
    );
}

#[test]
fn one_length_check_serves_both_formats() {
    assert_eq!(check_payload_len(1).unwrap(), 1);
    assert_eq!(check_payload_len(CHUNK_SIZE as u32).unwrap(), CHUNK_SIZE);
    for bad in [0, CHUNK_SIZE as u32 + 1, u32::MAX] {
        assert_eq!(
            check_payload_len(bad).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }
}
