//! Local files written whole or not at all: the bytes go to a temporary file next to the
//! destination, renamed into place at the end. Dropped before that (a failed copy, or a
//! command stopped by a signal dropping the copy's future), the temporary file is removed, so
//! no partial file is ever left behind.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncWriteExt, BufWriter};

use crate::error::{Error, Result};

/// Buffer between a copy and the temporary file.
const WRITE_BUFFER: usize = 1 << 20;

/// A local file being written; see the module documentation.
pub struct PartialFile {
    tmp: tempfile::NamedTempFile,
    out: BufWriter<tokio::fs::File>,
    dst: PathBuf,
}

impl PartialFile {
    /// Starts writing `dst`: creates the temporary file in `dst`'s directory (`prefix` begins
    /// its name, e.g. `.granary-get-`), so the final rename stays on one filesystem.
    pub fn create(dst: &Path, prefix: &str) -> Result<Self> {
        let parent = dst
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // The mode a plain create gives (0666 less the umask), not a temporary file's 0600.
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(parent)
            .map_err(|e| Error::io(parent.display(), e))?;
        let file = tmp.reopen().map_err(|e| Error::io(dst.display(), e))?;
        Ok(PartialFile {
            tmp,
            out: BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(file)),
            dst: dst.to_path_buf(),
        })
    }

    /// Where the bytes go until [`PartialFile::persist`].
    pub fn writer(&mut self) -> &mut BufWriter<tokio::fs::File> {
        &mut self.out
    }

    /// Flushes what was written and renames the temporary file to the destination (replacing
    /// a file there).
    pub async fn persist(mut self) -> Result<()> {
        self.out
            .flush()
            .await
            .map_err(|e| Error::io(self.dst.display(), e))?;
        drop(self.out);
        self.tmp
            .persist(&self.dst)
            .map_err(|e| Error::io(self.dst.display(), e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn persist_renames_into_place_and_a_drop_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("out");
        let mut dropped = PartialFile::create(&dst, ".test-").unwrap();
        dropped.writer().write_all(b"partial").await.unwrap();
        assert_eq!(names_in(dir.path()).len(), 1, "the temporary file");
        drop(dropped);
        assert!(names_in(dir.path()).is_empty());

        let mut kept = PartialFile::create(&dst, ".test-").unwrap();
        kept.writer().write_all(b"whole").await.unwrap();
        kept.persist().await.unwrap();
        assert_eq!(names_in(dir.path()), ["out"]);
        assert_eq!(std::fs::read(&dst).unwrap(), b"whole");
    }
}
