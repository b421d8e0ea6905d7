//! Starting and stopping a datanode: open the store, bind, publish the address, then serve
//! blocks, run tasks and talk to the namenode until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use granary_client::protocol::DatanodeInfo;
use granary_client::{DatanodeId, Error};
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::api;
use crate::config::DatanodeConfig;
use crate::heartbeat::{self, BadReplicaSignal, ReportQueue, ReportReceiver};
use crate::state::{AppState, Transfers};
use crate::store::{self, BlockStore};
use crate::{compute, scanner};

/// How long in-flight requests may run on after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A datanode whose store is open and whose listener is bound, not yet serving.
pub struct Datanode {
    config: DatanodeConfig,
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<AppState>,
    reports: ReportReceiver,
}

impl Datanode {
    /// Opens the block store (cleaning up after a crash) and binds the listener.
    pub async fn start(config: DatanodeConfig) -> Result<Self, Error> {
        config.validate()?;
        let (data_dir, capacity) = (config.data_dir.clone(), config.capacity);
        let store = tokio::task::spawn_blocking(move || {
            let store = BlockStore::open(&data_dir, capacity)?;
            // Only once the store holds the data directory's lock.
            compute::reset_jobs_dir(&data_dir).map_err(|e| {
                Error::io(
                    format!("emptying {}", compute::jobs_dir(&data_dir).display()),
                    e,
                )
            })?;
            Ok::<_, Error>(store)
        })
        .await
        .map_err(|e| Error::internal(format!("opening the block store: {e}")))??;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::io(format!("binding {}", config.listen), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the bound address", e))?;
        if addr.ip().is_unspecified() {
            tracing::warn!(%addr, "listening on an unspecified address; the namenode will hand it out as is");
        }
        let (reports_queue, reports) = ReportQueue::new();
        let state = Arc::new(AppState {
            store: Arc::new(store),
            http: crate::downstream::transfer_client()?,
            reports: reports_queue,
            transfers: Transfers::new(config.max_transfers),
            bad_replicas: BadReplicaSignal::default(),
            stall_timeout: config.stall_timeout,
            stopping: AtomicBool::new(false),
        });
        Ok(Datanode {
            config,
            listener,
            addr,
            state,
            reports,
        })
    }

    /// The address actually bound (the one registered with the namenode).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn id(&self) -> &DatanodeId {
        self.state.store.id()
    }

    pub fn store(&self) -> Arc<BlockStore> {
        Arc::clone(&self.state.store)
    }

    /// How this datanode describes itself to the namenode and to pipelines.
    pub fn info(&self) -> DatanodeInfo {
        DatanodeInfo {
            id: self.id().clone(),
            addr: self.addr,
            rack: self.config.rack.clone(),
        }
    }

    /// Serves until `shutdown` completes, then stops accepting connections and gives
    /// in-flight requests [`SHUTDOWN_GRACE`] to finish.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let info = self.info();
        // Background work that should not outlast the shutdown signal: new commands, the
        // lifeline (its end tells the namenode we are going), the scanner, the task executor.
        let background = CancellationToken::new();
        let _stop_background = background.clone().drop_guard();
        // First: it stops with `background`, so nothing is left running if a later step fails.
        let executor =
            compute::spawn_executor(&self.state, &info, &self.config, background.clone())?;
        let mut tasks = heartbeat::spawn(
            Arc::clone(&self.state),
            info.clone(),
            &self.config,
            self.reports,
            background.clone(),
        )?;
        tasks.push(scanner::spawn(
            Arc::clone(&self.state),
            &self.config,
            background.clone(),
        ));
        tasks.push(executor);
        tracing::info!(id = %info.id, addr = %info.addr, namenode = %self.config.namenode, "datanode serving");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::clone(&self.state);
        let app = api::router(self.state);
        let mut server = tokio::spawn(async move {
            axum::serve(self.listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await
        });
        let handles = tasks.iter().map(JoinHandle::abort_handle);
        let _abort_on_return = AbortOnDrop(handles.chain([server.abort_handle()]).collect());
        let result = tokio::select! {
            finished = &mut server => Some(finished),
            () = shutdown => None,
        };
        let result = match result {
            Some(finished) => finished,
            None => {
                tracing::info!("shutting down");
                state.stopping.store(true, Ordering::SeqCst);
                background.cancel();
                let _ = stop_tx.send(());
                match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                    Ok(finished) => finished,
                    Err(_) => {
                        tracing::warn!("in-flight requests still running after {SHUTDOWN_GRACE:?}; stopping anyway");
                        return Ok(());
                    }
                }
            }
        };
        result
            .map_err(|e| Error::internal(format!("server task failed: {e}")))?
            .map_err(|e| Error::io("serving", e))
    }
}

/// Aborts the server and background tasks when `serve` returns or is cancelled, so nothing
/// outlives it.
struct AbortOnDrop(Vec<AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.iter().for_each(AbortHandle::abort);
    }
}

/// Starts a datanode, writes its bound address to `addr_file` (if given) and serves until
/// `shutdown` completes.
pub async fn run(
    config: DatanodeConfig,
    addr_file: Option<&Path>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let datanode = Datanode::start(config).await?;
    if let Some(path) = addr_file {
        store::write_atomically(path, datanode.addr().to_string().as_bytes())
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    datanode.serve(shutdown).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::test_support::{client, test_config, NO_NAMENODE};

    #[tokio::test]
    async fn run_publishes_its_address_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let addr_file = dir.path().join("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = test_config(&dir, NO_NAMENODE);
        let path = addr_file.clone();
        let node = tokio::spawn(async move {
            super::run(config, Some(&path), async {
                let _ = stopped.await;
            })
            .await
        });
        let mut addr = None;
        for _ in 0..200 {
            if let Ok(text) = std::fs::read_to_string(&addr_file) {
                addr = Some(text);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let addr = addr.expect("address file written");
        let health = client()
            .get(format!("http://{addr}/v1/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        stop.send(()).unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(5), node).await;
        assert!(outcome.unwrap().unwrap().is_ok());
        assert!(client()
            .get(format!("http://{addr}/v1/health"))
            .send()
            .await
            .is_err());
    }
}
