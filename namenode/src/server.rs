//! Process lifecycle: bind, publish the bound address, serve until asked to stop, then flush.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use granary_compute::tracker::JobTracker;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::NamenodeConfig;
use crate::error::NamenodeError;
use crate::namesystem::Namesystem;
use crate::tracker_link::{self, JobNamespace};
use crate::{api, retry_cache, trash};

/// How long open connections may keep the process alive after a shutdown request.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A namenode whose namespace is loaded and whose socket is bound, not serving yet.
pub struct NamenodeServer {
    listener: TcpListener,
    addr: SocketAddr,
    namesystem: Arc<Namesystem>,
    tracker: Arc<JobTracker>,
}

impl NamenodeServer {
    /// Validates the config, loads the namespace, binds `config.listen`, opens the job tracker
    /// and, if configured, writes the bound address to `config.addr_file`.
    pub async fn bind(config: NamenodeConfig) -> Result<Self, NamenodeError> {
        config.validate()?;
        let listen = config.listen;
        let addr_file = config.addr_file.clone();
        let history_dir = config.meta_dir.join("jobs");
        let tracker_config = config.tracker_config();
        let namesystem = tokio::task::spawn_blocking(move || Namesystem::open(config))
            .await
            .map_err(|e| {
                NamenodeError::Fs(granary_client::Error::internal(format!(
                    "start-up task failed: {e}"
                )))
            })??;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| NamenodeError::io(format!("cannot listen on {listen}"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| NamenodeError::io("cannot read the bound address", e))?;
        // The tracker reaches this namenode's namespace in process.
        let namespace = Arc::new(JobNamespace::new(namesystem.clone())?);
        let tracker = tokio::task::spawn_blocking(move || {
            JobTracker::open(&history_dir, namespace, tracker_config)
        })
        .await
        .map_err(|e| {
            NamenodeError::Fs(granary_client::Error::internal(format!(
                "job tracker start-up task failed: {e}"
            )))
        })??;
        if let Some(path) = addr_file {
            write_addr_file(&path, addr)?;
        }
        tracing::info!(%addr, "namenode listening");
        Ok(NamenodeServer {
            listener,
            addr,
            namesystem,
            tracker,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn namesystem(&self) -> Arc<Namesystem> {
        self.namesystem.clone()
    }

    pub fn tracker(&self) -> Arc<JobTracker> {
        self.tracker.clone()
    }

    /// Serves until `shutdown` resolves, lets open requests finish (for at most 10 s), then
    /// stops the background tasks and flushes the metadata store.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NamenodeError> {
        let namesystem = self.namesystem;
        let tracker = self.tracker;
        let mut tasks = spawn_background(&namesystem);
        let events = namesystem.subscribe_tracker_events()?;
        tasks.push(tokio::spawn(tracker.clone().run(events)));
        tasks.push(tokio::spawn(tracker_link::follow_attempts(
            namesystem.clone(),
            tracker.clone(),
        )));
        let app = api::router(namesystem.clone(), tracker.clone())
            .into_make_service_with_connect_info::<SocketAddr>();

        let (stop_tx, stop_rx) = watch::channel(false);
        let stopping = namesystem.clone();
        let signal_task = tokio::spawn(async move {
            shutdown.await;
            // Lifelines and command polls are held open on purpose; end them, or graceful
            // shutdown would wait for them.
            stopping.begin_shutdown();
            let _ = stop_tx.send(true);
        });
        let mut graceful_rx = stop_rx.clone();
        let graceful = async move {
            let _ = graceful_rx.wait_for(|stop| *stop).await;
        };
        let mut deadline_rx = stop_rx;
        let deadline = async move {
            let _ = deadline_rx.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let served = tokio::select! {
            served = axum::serve(self.listener, app).with_graceful_shutdown(graceful) => served,
            () = deadline => {
                tracing::warn!("connections open {SHUTDOWN_GRACE:?} after shutdown; closing them");
                Ok(())
            }
        };
        signal_task.abort();
        // Requests are over, so nobody waits for the flusher any more.
        for task in tasks {
            task.abort();
        }
        if let Err(e) = tracker.flush().await {
            tracing::warn!("job history not flushed: {e}");
        }
        let (mutations, flushes) = namesystem.group_commit().stats();
        tracing::info!(mutations, flushes, "group commit summary");
        // The final flush commits what is left and checkpoints.
        let flushed = tokio::task::spawn_blocking(move || namesystem.flush()).await;
        served.map_err(|e| NamenodeError::io("server failed", e))?;
        match flushed {
            Ok(result) => result?,
            Err(e) => {
                return Err(granary_client::Error::internal(format!(
                    "final flush task failed: {e}"
                ))
                .into())
            }
        }
        tracing::info!("namenode stopped; metadata flushed");
        Ok(())
    }
}

/// Binds and serves until `shutdown` resolves.
pub async fn run(
    config: NamenodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NamenodeError> {
    NamenodeServer::bind(config).await?.serve(shutdown).await
}

/// The group-commit flusher and checkpointer, the dead-datanode monitor, the replication
/// monitor, the lease monitor, the retry-cache sweep and, unless the trash is off, the trash
/// emptier.
fn spawn_background(namesystem: &Arc<Namesystem>) -> Vec<JoinHandle<()>> {
    let flusher = tokio::spawn(namesystem.group_commit().run_flusher());
    let checkpointer = tokio::spawn(
        namesystem
            .group_commit()
            .run_checkpointer(namesystem.config().checkpoint_interval),
    );
    let monitored = namesystem.clone();
    let monitor = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(monitored.expiry_period());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            monitored.expire_datanodes(Instant::now());
        }
    });
    let replication = tokio::spawn(namesystem.clone().run_replication_monitor());
    let leases = tokio::spawn(namesystem.clone().run_lease_monitor());
    let sweeper = tokio::spawn(retry_cache::run_sweeper(
        namesystem.store().clone(),
        namesystem.config().retry_cache_ttl,
    ));
    let mut tasks = vec![flusher, checkpointer, monitor, replication, leases, sweeper];
    let config = namesystem.config();
    if let Some(period) = config.trash_emptier_period() {
        tasks.push(tokio::spawn(trash::run_emptier(
            namesystem.clone(),
            period,
            config.trash_interval,
        )));
    }
    tasks
}

/// Writes the address to a temporary file and renames it into place, so a reader never sees
/// a partial address.
fn write_addr_file(path: &Path, addr: SocketAddr) -> Result<(), NamenodeError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, addr.to_string())
        .map_err(|e| NamenodeError::io(format!("cannot write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        NamenodeError::io(
            format!("cannot rename {} to {}", tmp.display(), path.display()),
            e,
        )
    })
}
