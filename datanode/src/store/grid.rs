//! The chunk grid of a segment's frames.

use granary_client::checksum::CHUNK_SIZE;
use granary_client::Error;

/// The frame sizes a segment must keep to so chunk `i` of the replica is always bytes
/// `[i * CHUNK_SIZE, ...)`: the first frame fills the chunk the segment starts inside, every
/// later one is a whole chunk, and only the last may be shorter.
#[derive(Clone, Copy, Debug)]
pub struct FrameGrid {
    next_full: usize,
    ended: bool,
}

impl FrameGrid {
    /// The grid of a segment starting at byte `offset` of its replica.
    pub fn from_offset(offset: u64) -> Self {
        FrameGrid {
            next_full: CHUNK_SIZE - (offset % CHUNK_SIZE as u64) as usize,
            ended: false,
        }
    }

    /// Checks the next frame's length: not empty, not past its chunk, and no frame after a
    /// short one.
    pub fn check(&mut self, len: usize) -> Result<(), Error> {
        if len == 0 || len > self.next_full {
            return Err(Error::invalid_argument(format!(
                "bad frame length {len} (at most {} here)",
                self.next_full
            )));
        }
        if self.ended {
            return Err(Error::invalid_argument(
                "only the last frame of a block may be shorter than a chunk",
            ));
        }
        self.ended = len < self.next_full;
        self.next_full = CHUNK_SIZE;
        Ok(())
    }
}
