//! The key sample behind `sort`'s range partitioning: complete lines from pieces spread evenly
//! over the whole input, so each reducer gets about the same share of a total order.

use granary_client::protocol::FileStatus;
use granary_client::Error;

use crate::tracker::namespace::TrackerNamespace;

/// Pieces read across the input.
const PIECES: u64 = 20;
/// Bytes read per piece.
const PIECE_LEN: u64 = 64 << 10;

/// The complete lines of about [`PIECES`] pieces of [`PIECE_LEN`] bytes, evenly spread over the
/// concatenated `files`. At most `PIECES × PIECE_LEN` bytes are held at once.
pub async fn sample_lines(
    ns: &dyn TrackerNamespace,
    files: &[FileStatus],
) -> Result<Vec<Vec<u8>>, Error> {
    let total: u64 = files.iter().map(|f| f.length).sum();
    let mut lines = Vec::new();
    let mut last_piece = None;
    for i in 0..PIECES {
        let Some((file, offset)) = locate(files, i * total / PIECES) else {
            continue;
        };
        // Small inputs map several pieces onto the same bytes; read them once.
        if last_piece == Some((file, offset)) {
            continue;
        }
        last_piece = Some((file, offset));
        let status = &files[file];
        let len = PIECE_LEN.min(status.length - offset);
        let piece = ns.read_range(&status.path, offset, len).await?;
        let at_end = offset + len == status.length;
        lines.extend(complete_lines(&piece, offset == 0, at_end));
    }
    Ok(lines)
}

/// The file holding byte `global` of the concatenated files, and the offset within it.
fn locate(files: &[FileStatus], global: u64) -> Option<(usize, u64)> {
    let mut start = 0;
    for (i, file) in files.iter().enumerate() {
        if global < start + file.length {
            return Some((i, global - start));
        }
        start += file.length;
    }
    None
}

/// The lines of `piece` known to be whole: the first only when the piece starts the file, the
/// last (unterminated) one only when it ends the file. A trailing `\r` is dropped, as the map
/// side drops it.
fn complete_lines(piece: &[u8], at_start: bool, at_end: bool) -> Vec<Vec<u8>> {
    let mut parts: Vec<&[u8]> = piece.split(|&b| b == b'\n').collect();
    // `split` yields what follows the last '\n' (possibly empty): a complete line only at EOF.
    let tail = parts.pop().filter(|t| at_end && !t.is_empty());
    let mut lines: Vec<&[u8]> = if at_start {
        parts
    } else {
        parts.into_iter().skip(1).collect()
    };
    lines.extend(tail);
    lines
        .into_iter()
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line).to_vec())
        .collect()
}

#[cfg(test)]
mod tests {
    use granary_client::protocol::FileKind;
    use granary_client::FsPath;

    use super::*;

    fn file(name: &str, length: u64) -> FileStatus {
        FileStatus {
            lease_holder: None,
            attrs: Default::default(),
            path: FsPath::parse(name).unwrap(),
            kind: FileKind::File,
            length,
            replication: 1,
            block_size: 1 << 20,
            modified_ms: 0,
        }
    }

    fn strings(lines: Vec<Vec<u8>>) -> Vec<String> {
        lines
            .into_iter()
            .map(|l| String::from_utf8(l).unwrap())
            .collect()
    }

    #[test]
    fn partial_lines_at_the_edges_are_dropped() {
        let piece = b"ial\nb\r\nc\nparti";
        assert_eq!(strings(complete_lines(piece, false, false)), ["b", "c"]);
        assert_eq!(
            strings(complete_lines(piece, true, true)),
            ["ial", "b", "c", "parti"]
        );
        assert_eq!(strings(complete_lines(b"a\nb\n", true, true)), ["a", "b"]);
        assert!(complete_lines(b"no newline", false, false).is_empty());
    }

    #[test]
    fn global_offsets_map_to_files() {
        let files = [file("/a", 10), file("/empty", 0), file("/b", 5)];
        assert_eq!(locate(&files, 0), Some((0, 0)));
        assert_eq!(locate(&files, 9), Some((0, 9)));
        assert_eq!(locate(&files, 10), Some((2, 0)));
        assert_eq!(locate(&files, 14), Some((2, 4)));
        assert_eq!(locate(&files, 15), None);
    }
}
