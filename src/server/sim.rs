//! The whole server over the in-memory transport of [`crate::runtime::sim`]: the same
//! store, writer thread and handlers as [`super::start`], one simulated worker.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;

use crate::api::{ApiFactory, ApiHandler, STATE_SERVING};
use crate::config::Config;
use crate::runtime::sim::SimWorker;
use crate::writer::Command;

use super::{open_store, prepare, runtime_config, spawn_writer};

/// The whole server — store, writer thread, handlers — with one worker over the
/// in-memory transport of [`crate::runtime::sim`] instead of sockets and
/// threads. For the connection fuzzer; `config.workers` must be 1.
pub struct SimServer {
    pub worker: SimWorker<ApiHandler>,
    draining: Arc<AtomicBool>,
    writer_tx: SyncSender<Command>,
    writer_thread: Option<JoinHandle<()>>,
    data_dir: PathBuf,
}

impl SimServer {
    /// The data directory it was started with (its caller removes it when done).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Raises the workers' drain flag and nothing else: what a worker sees in the
    /// instant of a real shutdown between its two stores (this flag, then the state
    /// the writer reads), for tests of that window.
    pub fn raise_worker_drain_flag_only(&self) {
        self.draining.store(true, Ordering::Release);
    }
}

pub fn start_sim(config: Config) -> Result<SimServer, String> {
    start_sim_with_buffers(config, None)
}

/// [`start_sim`] with `buffers_per_worker` request buffers instead of one per
/// connection, so that connections wait for buffers and stalled holders are cut off.
pub fn start_sim_with_buffers(
    config: Config,
    buffers_per_worker: Option<usize>,
) -> Result<SimServer, String> {
    if config.workers != 1 {
        return Err("a simulated server has exactly one worker".into());
    }
    let core = prepare(&config, open_store(&config)?)?;
    let writer_thread = spawn_writer(core.writer, core.writer_rx)?;
    let draining = Arc::new(AtomicBool::new(false));
    let mut runtime = runtime_config(&config, draining.clone(), None, core.runtime_stats);
    if let Some(buffers) = buffers_per_worker {
        runtime.buffers_per_worker = buffers.clamp(1, runtime.max_connections_per_worker);
    }
    let factory = ApiFactory::new(core.shared.clone(), 1);
    let worker = SimWorker::new(runtime, &factory).map_err(|e| e.to_string())?;
    core.shared.state.store(STATE_SERVING, Ordering::Release);
    Ok(SimServer {
        worker,
        draining,
        writer_tx: core.writer_tx,
        writer_thread: Some(writer_thread),
        data_dir: config.data_dir.clone(),
    })
}

impl Drop for SimServer {
    fn drop(&mut self) {
        let _ = self.writer_tx.send(Command::Stop);
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}
