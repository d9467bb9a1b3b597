//! Assembling a running server from a `Config`: open the store, bind the admin
//! listener (answering "starting" meanwhile), bootstrap the key and certificate,
//! build the first snapshot, bind, start the writer and the workers. Also the graceful
//! drain and SIGHUP reload.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::api::{
    ApiFactory, STATE_DRAINING, STATE_SERVING, STATE_STARTING, STATE_STOPPED, Shared,
};
use crate::config::Config;
use crate::ratelimit::RateLimiter;
use crate::runtime::{Listeners, RuntimeConfig, WorkerHandle, listener, spawn_workers};
use crate::snapshot::Calendar;
use crate::store::Store;
use crate::unix_now_ms;
use crate::week::zones;
use crate::writer::{Command, Writer};

mod made;
pub mod process;
mod reload;
mod sim;
mod starting;

use made::Made;
pub use reload::{KeyReload, RELOAD_TIMEOUT, Reloaded};
pub use sim::{SimServer, start_sim, start_sim_with_buffers};
use starting::Starting;

/// Of the drain timeout, the part kept for the exit after the workers give up on
/// stragglers: stopping the writer, freeing the buffers, the process's teardown
/// (about 10 ms here). The process, not only its workers, is gone within the timeout.
fn exit_reserve_ms(drain_timeout_ms: u64) -> u64 {
    (drain_timeout_ms / 10).min(250)
}
/// Writes waiting for the writer thread; beyond this a PATCH gets 503.
const WRITE_QUEUE_LEN: usize = 256;
const RATE_TABLE_SLOTS: usize = 1 << 16;
const AUTH_TABLE_SLOTS: usize = 1 << 16;
/// Buffers per worker: busy connections at once (idle ones need none).
const MAX_BUFFERS_PER_WORKER: usize = 1024;

pub struct ServerHandle {
    pub https_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    /// A key generated on this first start, to print once.
    pub generated_key: Option<String>,
    /// The self-signed certificate created on this start, if any.
    pub generated_cert: Option<PathBuf>,
    /// The data file this start created (there was none), if it did.
    pub created_data_file: Option<PathBuf>,
    /// The home zone in force: the data file's (a configured one only seeds a new file).
    pub home_tz: &'static str,
    config: Config,
    shared: Arc<Shared>,
    draining: Arc<AtomicBool>,
    workers: Mutex<Vec<WorkerHandle>>,
    writer_tx: SyncSender<Command>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    tls_config: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
}

pub fn start(config: Config) -> Result<ServerHandle, String> {
    start_with_hook(config, None)
}

/// What every server needs before it has listeners: the store, the keys, the
/// first snapshot, the shared state the handlers read, and the writer (not yet running).
struct Core {
    shared: Arc<Shared>,
    writer: Writer,
    writer_tx: SyncSender<Command>,
    writer_rx: Receiver<Command>,
    runtime_stats: Arc<[crate::runtime::stats::WorkerStats]>,
    generated_key: Option<String>,
    home_tz: &'static str,
}

/// Opens (and locks) the store: first, so that a second server on the same data
/// directory is told so before anything else can fail.
fn open_store(config: &Config) -> Result<Store, String> {
    zones::init();
    Store::open(&config.data_dir, config.home_tz, unix_now_ms()).map_err(|e| e.to_string())
}

fn prepare(config: &Config, store: Store) -> Result<Core, String> {
    let record = store.record();
    let boot = crate::auth::bootstrap(
        &config.data_dir,
        config.api_key.as_deref(),
        config.api_key_hash.as_deref(),
        config.bcrypt_cost,
    )?;
    let calendar = Calendar::new(record.home_tz, (unix_now_ms() / 1000) as i64);
    let build_started = std::time::Instant::now();
    let snapshot = calendar.build(&record.week, record.generation);
    let build_us = build_started.elapsed().as_micros() as u64;
    let (writer_tx, writer_rx) = std::sync::mpsc::sync_channel(WRITE_QUEUE_LEN);
    let runtime_stats: Arc<[crate::runtime::stats::WorkerStats]> =
        (0..config.workers).map(|_| Default::default()).collect();
    let shared = Arc::new(Shared {
        snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
        limiter: RateLimiter::new(
            config.rate_limit_burst,
            config.rate_limit_per_s,
            RATE_TABLE_SLOTS,
        ),
        auth_failures: RateLimiter::with_interval(
            config.auth_fail_burst,
            config.auth_fail_refill_ms,
            AUTH_TABLE_SLOTS,
        ),
        state: AtomicU8::new(STATE_STARTING),
        writer: writer_tx.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
        runtime_stats: runtime_stats.clone(),
        writer_stats: Default::default(),
    });
    // The first snapshot's build time, so the gauge means something before any write.
    (shared.writer_stats.last_rebuild_us).store(build_us, std::sync::atomic::Ordering::Relaxed);
    let writer = Writer::new(store, boot.keys, calendar, shared.clone());
    Ok(Core {
        shared,
        writer,
        writer_tx,
        writer_rx,
        runtime_stats,
        generated_key: boot.generated_key,
        home_tz: zones::name(record.home_tz),
    })
}

fn spawn_writer(writer: Writer, commands: Receiver<Command>) -> Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || writer.run(commands))
        .map_err(|e| format!("cannot start the writer thread: {e}"))
}

fn runtime_config(
    config: &Config,
    draining: Arc<AtomicBool>,
    on_worker_start: Option<fn(usize)>,
    stats: Arc<[crate::runtime::stats::WorkerStats]>,
) -> RuntimeConfig {
    let per_worker = config.max_connections.div_ceil(config.workers).max(1);
    RuntimeConfig {
        workers: config.workers,
        pin_cores: config.pin_cores,
        max_connections_per_worker: per_worker,
        buffers_per_worker: per_worker.min(MAX_BUFFERS_PER_WORKER),
        max_head_bytes: config.max_head_bytes,
        max_body_bytes: config.max_body_bytes,
        header_timeout_ms: config.header_timeout_ms,
        idle_timeout_ms: config.idle_timeout_ms,
        body_timeout_ms: config.body_timeout_ms,
        write_timeout_ms: config.write_timeout_ms,
        drain_timeout_ms: config.drain_timeout_ms - exit_reserve_ms(config.drain_timeout_ms),
        draining,
        on_worker_start,
        stats,
    }
}

/// [`start`], with a function each worker thread runs first (for tests).
pub fn start_with_hook(
    config: Config,
    on_worker_start: Option<fn(usize)>,
) -> Result<ServerHandle, String> {
    let store = open_store(&config)?;
    // The generated key and certificate, and a new data file, are announced only once
    // the server is up: if it never comes up, nobody has been told of them, so they
    // must not outlive this start (the data file holds an empty week: nothing is lost).
    let created_data_file = store.created_file().map(Path::to_path_buf);
    let data_file_only = Made {
        key: false,
        cert: false,
        data_file: created_data_file.as_deref(),
    };
    // Then the admin listener, answering 503 "starting" while the rest is prepared,
    // and failing before a key or certificate is generated if its port is taken.
    let admin = config.admin_listen.map(|addr| {
        crate::runtime::listener::bind_single(addr, config.write_timeout_ms)
            .and_then(Starting::spawn)
            .map_err(|e| format!("cannot listen on {addr} (admin, --admin-listen): {e}"))
    });
    let admin = match admin.transpose() {
        Ok(admin) => admin,
        Err(e) => {
            drop(store);
            data_file_only.discard(&config.data_dir);
            return Err(e);
        }
    };
    // `prepare` owns the store; on an error it has dropped it (and its lock).
    let core = match prepare(&config, store) {
        Ok(core) => core,
        Err(e) => {
            drop(admin);
            data_file_only.discard(&config.data_dir);
            return Err(e);
        }
    };
    let generates_key = core.generated_key.is_some();
    let generates_cert = config.https_listen.is_some()
        && config.tls_cert.is_none()
        && crate::tls::would_generate(&config.data_dir);
    let data_dir = config.data_dir.clone();
    launch(
        config,
        core,
        created_data_file.clone(),
        admin,
        on_worker_start,
    )
    .map_err(|mut e| {
        let made = Made {
            key: generates_key,
            cert: generates_cert,
            data_file: created_data_file.as_deref(),
        };
        made.discard(&data_dir);
        if generates_key {
            e.push_str(" (the API key generated for this start was discarded)");
        }
        e
    })
}

/// Everything after [`prepare`]: TLS, listeners, the writer and the workers.
fn launch(
    config: Config,
    core: Core,
    created_data_file: Option<PathBuf>,
    admin: Option<Starting>,
    on_worker_start: Option<fn(usize)>,
) -> Result<ServerHandle, String> {
    let tls = match config.https_listen {
        Some(_) => Some(crate::tls::load_or_generate(
            &config.data_dir,
            config.tls_cert.as_deref(),
            config.tls_key.as_deref(),
        )?),
        None => None,
    };
    let bind = |addr: SocketAddr, flag: &str| {
        listener::bind_group(addr, config.workers, config.write_timeout_ms)
            .map_err(|e| format!("cannot listen on {addr} ({flag}): {e}"))
    };
    let tls_config = tls
        .as_ref()
        .map(|t| Arc::new(ArcSwap::new(t.server_config.clone())));
    let https = match (config.https_listen, &tls_config) {
        (Some(addr), Some(cfg)) => Some((bind(addr, "--listen")?, cfg.clone())),
        _ => None,
    };
    let http = config
        .http_listen
        .map(|addr| bind(addr, "--http-listen"))
        .transpose()?;
    let admin = admin.map(Starting::finish);
    let listeners = Listeners { https, http, admin };
    let (https_addr, http_addr, admin_addr) = listeners.local_addrs();

    let Core {
        shared,
        writer,
        writer_tx,
        writer_rx,
        runtime_stats,
        generated_key,
        home_tz,
    } = core;
    let writer_thread = spawn_writer(writer, writer_rx)?;
    let draining = Arc::new(AtomicBool::new(false));
    let runtime = runtime_config(&config, draining.clone(), on_worker_start, runtime_stats);
    let factory = Arc::new(ApiFactory::new(shared.clone(), config.workers));
    let workers = spawn_workers(&runtime, listeners, factory)
        .map_err(|e| format!("cannot start workers: {e}"))?;
    shared.state.store(STATE_SERVING, Ordering::Release);
    Ok(ServerHandle {
        https_addr,
        http_addr,
        admin_addr,
        generated_key,
        generated_cert: tls.and_then(|t| t.generated_at),
        created_data_file,
        home_tz,
        config,
        shared,
        draining,
        workers: Mutex::new(workers),
        writer_tx,
        writer_thread: Mutex::new(Some(writer_thread)),
        tls_config,
    })
}

impl ServerHandle {
    /// Removes what this start made and could not announce (the key could not be
    /// shown): the generated key's hash, the generated certificate, a new data file
    /// (still empty: no write can have been authorised with a key nobody saw). Call
    /// after [`ServerHandle::shutdown`].
    pub fn discard_generated(&self) {
        let made = Made {
            key: self.generated_key.is_some(),
            cert: self.generated_cert.is_some(),
            data_file: self.created_data_file.as_deref(),
        };
        made.discard(&self.config.data_dir);
    }

    /// Drains: readiness turns 503, accepting stops, in-flight requests finish,
    /// idle connections close; returns when every worker and the writer exit, within
    /// the drain timeout (workers give up on stragglers [`exit_reserve_ms`] before
    /// it; a writer still busy half of that reserve before it is left behind: a
    /// stalled fsync or a long bcrypt must not hold the exit, nothing it holds can
    /// still be acknowledged, and a commit cut short is crash-safe).
    pub fn shutdown(&self) {
        let drain_timeout_ms = self.config.drain_timeout_ms;
        let exit_by = Instant::now() + Duration::from_millis(drain_timeout_ms);
        // The workers' flag first: a writer that reads DRAINING (and so answers with
        // `Connection: close`) then also sees, through the reply channel, the flag that
        // makes the worker close after delivering it.
        self.draining.store(true, Ordering::Release);
        self.shared.state.store(STATE_DRAINING, Ordering::Release);
        let workers = std::mem::take(&mut *self.workers.lock().expect("worker list"));
        for w in &workers {
            let _ = w.waker.wake();
        }
        for w in workers {
            let _ = w.thread.join();
        }
        self.shared.state.store(STATE_STOPPED, Ordering::Release);
        let Some(thread) = self.writer_thread.lock().expect("writer handle").take() else {
            return;
        };
        // Not `send`: it blocks while the queue is full, and the writer may be stuck.
        let give_up = exit_by - Duration::from_millis(exit_reserve_ms(drain_timeout_ms) / 2);
        let mut stop_sent = false;
        loop {
            stop_sent = stop_sent || self.writer_tx.try_send(Command::Stop).is_ok();
            if thread.is_finished() {
                let _ = thread.join();
                return;
            }
            if Instant::now() >= give_up {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        crate::say_err!(
            "the writer thread is still busy at the drain deadline (a stalled fsync or \
             bcrypt?); exiting without it: nothing it holds was acknowledged"
        );
    }

    pub fn generation(&self) -> u64 {
        self.shared.snapshot.load().generation
    }
}
