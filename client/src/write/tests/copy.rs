//! A copy against peers that cannot clone: a namenode without `add_cloned_block` (an older
//! one) gets the whole file streamed, and a clone no datanode can make (an older datanode,
//! without the clone route) is abandoned and its block streamed.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bytes::{Bytes, BytesMut};

use super::{
    namenode_app, refusal, serve, status, write_block, ApiResult, Fake, FakeDatanode, FakeNamenode,
    Version, ABANDON_BLOCK, ADD_BLOCK, COMPLETE, CREATE,
};
use crate::checksum::{block_digest_of, CHUNK_SIZE};
use crate::framing::Frame;
use crate::protocol::routes::{self, Endpoint};
use crate::protocol::*;
use crate::{
    BlockId, ClientConfig, CopyOptions, DatanodeId, ErrorKind, FsPath, Generation, Granary,
};

const ADD_CLONED_BLOCK: &str = routes::AddClonedBlock::PATH;

fn source_bytes() -> Vec<u8> {
    (0..150_000u32).map(|i| (i % 253) as u8).collect()
}

/// The source's one block as read frames, whatever range is asked.
async fn read_block() -> Bytes {
    let mut body = BytesMut::new();
    for chunk in source_bytes().chunks(CHUNK_SIZE) {
        let frame = Frame::seal(Bytes::copy_from_slice(chunk));
        body.extend_from_slice(&frame.read_header());
        body.extend_from_slice(&frame.data);
    }
    body.freeze()
}

async fn add_cloned_block(
    State(fake): Fake,
    Json(req): Json<AddClonedBlockRequest>,
) -> ApiResult<AddClonedBlockResponse> {
    fake.calls.lock().unwrap().push((ADD_CLONED_BLOCK, false));
    assert_eq!(req.source, BlockId(1));
    Ok(Json(AddClonedBlockResponse {
        block: BlockId(2),
        generation: Generation(1),
        length: source_bytes().len() as u64,
        sha256: block_digest_of(&source_bytes()),
        holders: fake.datanodes.clone(),
    }))
}

/// Copies `/src` to `/dst` through a fake namenode (that clones blocks if `clones`) and an
/// old fake datanode; returns what the copy did and the namenode calls it made.
async fn copy_against(clones: bool) -> (crate::CopySummary, Vec<&'static str>) {
    let node = FakeDatanode {
        id: DatanodeId("dn-old".into()),
        busy_writes: 0,
        refusals: Arc::default(),
    };
    // An older datanode: no clone route, so its router's fallback answers `not_found`.
    let app = Router::new()
        .route(routes::WriteBlock::PATH, put(write_block))
        .route(routes::ReadBlock::PATH, get(read_block))
        .fallback(|| async { refusal(ErrorKind::NotFound, "no such endpoint") })
        .with_state(node.clone());
    let (dn_addr, dn_server) = serve(app).await;
    let datanode = DatanodeInfo {
        id: node.id,
        addr: dn_addr,
        rack: "/r".into(),
    };
    let fake = Arc::new(FakeNamenode {
        version: Version::Current,
        datanodes: vec![datanode.clone()],
        calls: Mutex::new(Vec::new()),
    });
    let bytes = source_bytes();
    let located = LocatedFile {
        status: FileStatus {
            length: bytes.len() as u64,
            ..status(FsPath::parse("/src").unwrap())
        },
        blocks: vec![LocatedBlock {
            id: BlockId(1),
            generation: Generation(1),
            offset: 0,
            length: bytes.len() as u64,
            sha256: block_digest_of(&bytes),
            locations: vec![datanode],
        }],
    };
    let mut app = namenode_app(&fake)
        .route(
            routes::Locate::PATH,
            get(move || async move { Json(located) }),
        )
        .fallback(|| async { refusal(ErrorKind::NotFound, "no such endpoint") });
    if clones {
        app = app.route(
            ADD_CLONED_BLOCK,
            post(add_cloned_block).with_state(fake.clone()),
        );
    }
    let (addr, server) = serve(app).await;
    let fs = Granary::new(ClientConfig::new(format!("http://{addr}"))).unwrap();
    let copied = fs
        .copy_file(
            &FsPath::parse("/src").unwrap(),
            &FsPath::parse("/dst").unwrap(),
            &CopyOptions::default(),
        )
        .await;
    server.abort();
    dn_server.abort();
    let calls = fake.calls.lock().unwrap().iter().map(|c| c.0).collect();
    (copied.unwrap(), calls)
}

#[tokio::test]
async fn a_namenode_that_cannot_clone_gets_the_file_streamed() {
    let (copied, calls) = copy_against(false).await;
    assert_eq!((copied.cloned, copied.streamed), (0, 1));
    assert_eq!(calls, [CREATE, ADD_BLOCK, COMPLETE]);
}

#[tokio::test]
async fn a_block_no_datanode_can_clone_is_abandoned_and_streamed() {
    let (copied, calls) = copy_against(true).await;
    assert_eq!((copied.cloned, copied.streamed), (0, 1));
    assert_eq!(
        calls,
        [CREATE, ADD_CLONED_BLOCK, ABANDON_BLOCK, ADD_BLOCK, COMPLETE]
    );
}
