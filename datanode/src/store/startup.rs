//! Opening the store after a start or a crash: the datanode id, the temporary directory, and
//! the scan of `current/` that keeps only complete replicas.

use std::fs;
use std::io;
use std::path::Path;

use granary_client::{BlockId, DatanodeId, Error, ErrorKind};

use super::meta::BlockMeta;
use super::{ignore_not_found, write_atomically, BlockStore, Index, Stored, ID_FILE};

impl BlockStore {
    pub(super) fn scan_bucket(&self, dir: &Path, bucket: u64, index: &mut Index) -> io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let (digits, is_meta) = match name.strip_suffix(".meta") {
                Some(stem) => (stem.strip_prefix("blk_"), true),
                None => (name.strip_prefix("blk_"), false),
            };
            let Some(block) = digits.and_then(|d| d.parse::<BlockId>().ok()) else {
                tracing::warn!("ignoring unexpected file {}", entry.path().display());
                continue;
            };
            if block.0 % 256 != bucket
                || format!("blk_{}", block.0) != name.trim_end_matches(".meta")
            {
                tracing::warn!("ignoring misplaced file {}", entry.path().display());
                continue;
            }
            if is_meta {
                if !self.data_path(block).exists() {
                    tracing::warn!(%block, "removing sidecar without data file");
                    // Already gone if its data file was removed earlier in this scan.
                    fs::remove_file(entry.path()).or_else(ignore_not_found)?;
                }
                continue;
            }
            match self.check_replica(block, entry.metadata()?.len()) {
                Ok(stored) => {
                    index.used += stored.length;
                    index.replicas.insert(block, stored);
                }
                Err(reason) => {
                    tracing::warn!(%block, "removing unfinished or damaged replica: {reason}");
                    fs::remove_file(self.meta_path(block)).or_else(ignore_not_found)?;
                    fs::remove_file(entry.path())?;
                }
            }
        }
        Ok(())
    }

    /// The replica as its sidecar describes it, if the sidecar is present and valid and the
    /// data file holds at least its length. Bytes past it (an interrupted segment, or a cut
    /// that crashed before truncating) are cut off.
    fn check_replica(&self, block: BlockId, file_len: u64) -> Result<Stored, String> {
        let bytes = fs::read(self.meta_path(block)).map_err(|e| format!("sidecar: {e}"))?;
        let meta = BlockMeta::decode(&bytes).map_err(|e| e.to_string())?;
        if meta.length > file_len {
            return Err(format!(
                "sidecar says {} bytes, data file has {file_len}",
                meta.length
            ));
        }
        if meta.length < file_len {
            tracing::info!(%block, from = file_len, to = meta.length, "cutting bytes past the sidecar's length");
            let cut = fs::OpenOptions::new()
                .write(true)
                .open(self.data_path(block))
                .and_then(|file| {
                    file.set_len(meta.length)?;
                    file.sync_all()
                });
            cut.map_err(|e| format!("cutting the data file: {e}"))?;
        }
        Ok(Stored::new(&meta))
    }
}

pub(super) fn load_or_create_id(data_dir: &Path) -> Result<DatanodeId, Error> {
    let path = data_dir.join(ID_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse::<DatanodeId>()
            .map_err(|e| Error::new(ErrorKind::Internal, format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let id = DatanodeId::generate();
            write_atomically(&path, format!("{id}\n").as_bytes())
                .map_err(|e| Error::io(path.display(), e))?;
            tracing::info!(%id, "generated a new datanode id");
            Ok(id)
        }
        Err(e) => Err(Error::io(path.display(), e)),
    }
}

/// Takes an exclusive lock on the id file, held for as long as the returned file is open, so a
/// second datanode started on the same directory fails instead of corrupting the first's state.
pub(super) fn lock_data_dir(data_dir: &Path) -> Result<fs::File, Error> {
    use std::os::fd::AsRawFd;
    let path = data_dir.join(ID_FILE);
    let file = fs::File::open(&path).map_err(|e| Error::io(path.display(), e))?;
    // SAFETY: flock on a descriptor we own; the lock is released when the file is closed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        return Err(Error::io(
            format!(
                "locking {} (is another datanode using this directory?)",
                data_dir.display()
            ),
            e,
        ));
    }
    Ok(file)
}

pub(super) fn clear_dir(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(entry.path())?;
        } else {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
