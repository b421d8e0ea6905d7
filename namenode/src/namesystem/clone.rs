//! `add_cloned_block`: the next block of a file under construction as a clone of a committed
//! block of another file (a server-side copy). The datanodes holding the source copy their
//! own replicas locally and report the new block as a pipeline would, so `complete` commits
//! it as any other block, at the generation, length and digest they reported.

use granary_client::protocol::{AddClonedBlockRequest, AddClonedBlockResponse, DatanodeInfo};
use granary_client::{BlockId, Digest, Error, ErrorKind, Generation};

use super::{allocate_block, writer_file, Namesystem, NextBlockOf, State};
use crate::replication::{replica_kind, ReplicaKind};
use crate::retry_cache::Op;

/// What a clone copies: the source block as committed, and the live nodes holding it there.
#[derive(Debug)]
struct CloneSource {
    length: u64,
    sha256: Digest,
    holders: Vec<DatanodeInfo>,
}

impl Namesystem {
    /// Commits the writer's previous block, allocates the next block of its file and names the
    /// live datanodes that hold `source` at its committed generation, which are to clone it.
    /// Nothing changes when the source cannot be cloned: `unknown_block` (no such block, or not
    /// committed yet), `stale_replica` (it changed since the client located it),
    /// `invalid_argument` (larger than the file's block size), `no_datanodes` (no live holder).
    pub async fn add_cloned_block(
        &self,
        req: AddClonedBlockRequest,
    ) -> Result<AddClonedBlockResponse, Error> {
        self.mutate(
            Some((Op::AddClonedBlock, &req.request_id)),
            |state, changes, _now| {
                let file = writer_file(state, &req.path, req.file, &req.holder)?;
                let (replication, block_size) = (file.replication, file.block_size);
                let source = clone_source(state, req.source, req.source_generation)?;
                if source.length > block_size {
                    return Err(Error::invalid_argument(format!(
                        "{} holds {} bytes, more than the block size of {} ({block_size})",
                        req.source, source.length, req.path
                    )));
                }
                let writer = NextBlockOf {
                    path: &req.path,
                    file: req.file,
                    holder: &req.holder,
                    previous: req.previous.as_ref(),
                    replication,
                };
                let (block, generation) =
                    allocate_block(state, changes, writer, &source.holders, source.length)?;
                Ok(AddClonedBlockResponse {
                    block,
                    generation,
                    length: source.length,
                    sha256: source.sha256,
                    holders: source.holders,
                })
            },
        )
        .await
    }
}

/// The committed state of `source` and its live, good holders at exactly that generation
/// (a newer replica has bytes the committed block does not).
fn clone_source(
    state: &State,
    source: BlockId,
    generation: Generation,
) -> Result<CloneSource, Error> {
    let unknown = || {
        Error::new(
            ErrorKind::UnknownBlock,
            format!("{source} is not a committed block of any file"),
        )
    };
    let info = state.blocks.get(source).ok_or_else(unknown)?;
    let record = state
        .ns
        .get(info.file)
        .and_then(|inode| inode.file())
        .and_then(|file| file.blocks.iter().find(|b| b.id == source))
        .filter(|record| record.is_readable())
        .ok_or_else(unknown)?;
    let sha256 = record.sha256.ok_or_else(unknown)?;
    if record.generation != generation {
        return Err(Error::new(
            ErrorKind::StaleReplica,
            format!(
                "{source} is at generation {}, not {generation}: it changed since it was located",
                record.generation
            ),
        ));
    }
    let holders: Vec<DatanodeInfo> = info
        .replicas
        .iter()
        .filter(|holder| info.replica_generations.get(*holder) == Some(&generation))
        .filter(|holder| replica_kind(info, holder, &state.datanodes) == ReplicaKind::Live)
        .filter_map(|holder| state.datanodes.get(holder).filter(|n| n.is_alive()))
        .map(|node| node.info.clone())
        .collect();
    if holders.is_empty() {
        return Err(Error::new(
            ErrorKind::NoDatanodes,
            format!("no live datanode holds a good replica of {source}"),
        ));
    }
    Ok(CloneSource {
        length: record.length,
        sha256,
        holders,
    })
}
