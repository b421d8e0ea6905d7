//! Cloning a replica (a server-side copy): a new replica of another block made from a local
//! finalized one. The data file is copied (`copy_file_range` where the filesystem has it),
//! never linked, since an append rewrites a replica's last block in place; the sidecar keeps
//! the source's chunk digests under the new block's generation. The new replica is written
//! and finalized through the same temporary files, fsyncs and renames as one received from a
//! pipeline.

use std::io::{self, Read};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use granary_client::{BlockId, Error, ErrorKind, Generation};

use super::meta::BlockMeta;
use super::writer::PreparedReplica;
use super::BlockStore;

impl BlockStore {
    /// Copies the finalized replica of `source`, which must be at `source_generation` and hold
    /// exactly `length` bytes, to a new replica of `target` at `generation`: data and sidecar
    /// fsynced in `tmp/`, ready for [`BlockStore::commit`]. `unknown_block` without the source,
    /// `stale_replica` when it is at another generation or length (or was cut while copied),
    /// `checksum_mismatch` when it is known corrupt, `already_exists` when `target` is here.
    pub fn clone_replica(
        self: &Arc<Self>,
        source: BlockId,
        source_generation: Generation,
        length: u64,
        target: BlockId,
        generation: Generation,
    ) -> Result<PreparedReplica, Error> {
        if source == target {
            return Err(Error::invalid_argument(format!(
                "cannot clone {source} onto itself"
            )));
        }
        if let Some(reason) = self.corruption(source) {
            return Err(Error::new(
                ErrorKind::ChecksumMismatch,
                format!("replica {source} on {} is corrupt: {reason}", self.id),
            )
            .with_datanode(self.id.clone()));
        }
        let (stored, cuts_seen, data, meta) = self.open_consistent(source)?;
        if (meta.generation, meta.length) != (source_generation, length) {
            return Err(self.not_as_located(source, &meta, source_generation, length));
        }
        let (temp, mut copy) = self.begin_new(target)?;
        let copied = io::copy(&mut (&data).take(length), &mut copy)
            .map_err(|e| self.io_error(format!("cloning {source} to {target}"), e))?;
        // Segments only add bytes past the sidecar's length, but a cut (a recovery) changes
        // the replica under us: what was copied may then be neither state.
        if copied != length || stored.cuts.load(Ordering::Acquire) != cuts_seen {
            return Err(Error::new(
                ErrorKind::StaleReplica,
                format!("{source} on {} was cut while it was cloned", self.id),
            )
            .with_datanode(self.id.clone()));
        }
        // `return` fails the clone as a disk would (the copy streams the block instead);
        // `panic` crashes before the clone is durable.
        fail::fail_point!("replica::clone_fsync", |_| Err(self.io_error(
            format!("cloning {source} to {target}"),
            io::Error::other("failpoint replica::clone_fsync")
        )));
        copy.sync_data()
            .map_err(|e| self.io_error(format!("writing {}", temp.data_path().display()), e))?;
        let cloned = BlockMeta::new(generation, length, meta.chunks);
        PreparedReplica::new_replica(temp, cloned)
    }

    fn not_as_located(
        &self,
        source: BlockId,
        meta: &BlockMeta,
        generation: Generation,
        length: u64,
    ) -> Error {
        Error::new(
            ErrorKind::StaleReplica,
            format!(
                "{source} on {} holds {} bytes at {}, not {length} at {generation}",
                self.id, meta.length, meta.generation
            ),
        )
        .with_datanode(self.id.clone())
    }
}
