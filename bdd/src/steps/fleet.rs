//! Steps of `fleet.feature`: the worker's log shipped with the real
//! shipper (`audit_ship::ship`) to a real collector
//! (`audit_collector::Collector`, HTTP on 127.0.0.1) on a real PostgreSQL
//! (a database of the scenario's own on the server of `DATABASE_URL`,
//! dropped afterwards; the runner leaves these scenarios out, saying so,
//! when there is none). The collector runs on a thread of its own with its
//! own runtime, as the steps run inside the runner's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use audit_core::tlog::{SignerKey, VerifierKey};
use audit_core::{AuditLog, PublicLog, log_origin};
use audit_ship::ship::{ShipConfig, ShipError, Shipper};
use audit_ship::witness::{Outcome, Witness};
use cucumber::{given, then, when};

use super::audit::db;
use super::transparency::{log_key, vkey};
use super::witness::submit_latest_checkpoint;
use crate::pg_server::{TestDatabase, test_database};
use crate::world::ResidencyWorld;

/// The collector of a scenario and its database; stopped when dropped.
pub struct RunningCollector {
    database: TestDatabase,
    url: String,
    vkey: VerifierKey,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// What the last shipping ended with: the size held, or why not.
    pub shipped: Option<Result<u64, ShipError>>,
    /// What the last submission to its witness endpoint ended with.
    pub submitted: Option<Outcome>,
}

impl std::fmt::Debug for RunningCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RunningCollector({})", self.url)
    }
}

impl Drop for RunningCollector {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `f` on a runtime of its own on another thread (the steps run
/// inside the runner's runtime, where another cannot be blocked on).
fn on_runtime<T: Send>(f: impl AsyncFnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime")
                    .block_on(f())
            })
            .join()
            .expect("the database thread")
    })
}

fn start(world: &mut ResidencyWorld, registered: Option<(String, VerifierKey)>) {
    let database = test_database("fleet.feature")
        .expect("the runner leaves the @fleet scenarios out without DATABASE_URL");
    let url = database.url().to_owned();
    let key = audit_collector::witness_key::generate_witness_key("collector.example/fleet")
        .expect("a witness key");
    let vkey = key.verifier_key();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready, address) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let collector = audit_collector::Collector::open(&url, key)
                .await
                .expect("open the collector's database");
            if let Some((origin, vkey)) = registered {
                let client = audit_collector::db::connect_url(&url)
                    .await
                    .expect("connect");
                audit_collector::registry::add_worker(&client, &origin, &vkey.to_string())
                    .await
                    .expect("register the worker");
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("listen");
            ready
                .send(format!(
                    "http://{}",
                    listener.local_addr().expect("an address")
                ))
                .expect("say where");
            collector
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
    });
    let url = address
        .recv_timeout(Duration::from_secs(60))
        .expect("the collector started");
    world.collector = Some(RunningCollector {
        database,
        url,
        vkey,
        stop: Some(stop),
        thread: Some(thread),
        shipped: None,
        submitted: None,
    });
}

fn collector(world: &mut ResidencyWorld) -> &mut RunningCollector {
    world.collector.as_mut().expect("a collector")
}

fn origin(world: &ResidencyWorld) -> String {
    log_origin(&world.worker().id).expect("an origin")
}

#[given(regex = r"^a collector on PostgreSQL that knows the worker's log key$")]
fn knows_key(world: &mut ResidencyWorld) {
    let registered = (origin(world), vkey(world));
    start(world, Some(registered));
}

#[given(regex = r"^a collector on PostgreSQL that does not know the worker's log$")]
fn knows_nothing(world: &mut ResidencyWorld) {
    let other: SignerKey = audit_core::generate_log_key("another-worker").expect("a key");
    start(
        world,
        Some((
            log_origin("another-worker").expect("an origin"),
            other.verifier_key(),
        )),
    );
}

#[given(regex = r"^a collector on PostgreSQL that knows another key for the worker's log$")]
fn knows_other_key(world: &mut ResidencyWorld) {
    let other = audit_core::generate_log_key(&world.worker().id).expect("a key");
    let registered = (origin(world), other.verifier_key());
    start(world, Some(registered));
}

fn ship(world: &mut ResidencyWorld) {
    let (path, key) = (db(world), log_key(world));
    let collector = collector(world);
    let mut config = ShipConfig::new(&collector.url).expect("a collector URL");
    config.batch = 2;
    config.timeout = Duration::from_secs(30);
    let shipped = Shipper::new(&path, config, Some(key)).and_then(|mut s| s.ship_until_caught_up());
    collector.shipped = Some(shipped);
}

#[given(regex = r"^the worker ships its audit log to the collector$")]
fn ships_given(world: &mut ResidencyWorld) {
    ship(world);
    let shipped = &collector(world).shipped;
    assert!(matches!(shipped, Some(Ok(_))), "{shipped:?}");
}

#[when(regex = r"^the worker ships its audit log to the collector$")]
fn ships_when(world: &mut ResidencyWorld) {
    ship(world);
}

fn submit(world: &mut ResidencyWorld) {
    let (url, vkey) = {
        let c = collector(world);
        (c.url.clone(), c.vkey.clone())
    };
    let client = Witness::new(&url, &vkey).expect("a witness");
    let (outcome, _) = submit_latest_checkpoint(world, &client);
    collector(world).submitted = Some(outcome);
}

#[given(regex = r"^the worker submits its checkpoint to the collector's witness$")]
fn submits_given(world: &mut ResidencyWorld) {
    submit(world);
    let submitted = &collector(world).submitted;
    assert!(
        matches!(submitted, Some(Outcome::Cosigned { .. })),
        "{submitted:?}"
    );
}

#[when(regex = r"^the worker submits its checkpoint to the collector's witness$")]
fn submits_when(world: &mut ResidencyWorld) {
    submit(world);
}

/// Size and root of the tree the collector holds for the worker.
fn held(world: &mut ResidencyWorld) -> Option<(u64, Vec<u8>)> {
    let origin = origin(world);
    let url = collector(world).database.url().to_owned();
    on_runtime(async move || {
        let client = audit_collector::db::connect_url(&url)
            .await
            .expect("connect");
        client
            .query_opt(
                "SELECT size, root FROM ingested WHERE origin = $1",
                &[&origin],
            )
            .await
            .expect("read the tree held")
            .map(|row| {
                (
                    u64::try_from(row.get::<_, i64>(0)).expect("a size"),
                    row.get(1),
                )
            })
    })
}

fn alerts(world: &mut ResidencyWorld) -> Vec<audit_collector::Alert> {
    let url = collector(world).database.url().to_owned();
    on_runtime(async move || {
        let client = audit_collector::db::connect_url(&url)
            .await
            .expect("connect");
        audit_collector::alerts::list_alerts(&client, None)
            .await
            .expect("list the alerts")
    })
}

#[then(regex = r"^the collector holds every record of the log and its tree root equals the log's$")]
fn holds_everything(world: &mut ResidencyWorld) {
    let public = PublicLog::open(db(world)).expect("open without the secret");
    let size = public.tree_size().expect("a size");
    let root = public.tree_root(size).expect("a root");
    assert!(size > 0);
    assert_eq!(
        collector(world)
            .shipped
            .as_ref()
            .expect("shipped")
            .as_ref()
            .ok(),
        Some(&size)
    );
    assert_eq!(held(world), Some((size, root.as_bytes().to_vec())));
}

#[then(regex = r"^the collector lists no alert$")]
fn no_alert(world: &mut ResidencyWorld) {
    assert_eq!(alerts(world), []);
}

fn assert_alert(world: &mut ResidencyWorld, kind: &str, status: u16) {
    let origin = origin(world);
    let alerts = alerts(world);
    assert!(
        alerts
            .iter()
            .any(|a| a.kind.as_str() == kind && a.status == status && a.origin == origin),
        "no {kind} alert with status {status} for {origin}: {alerts:?}"
    );
}

#[then(
    regex = r#"^the collector refuses the records with status (\d+) and lists an? "([a-z_]+)" alert for the worker's log$"#
)]
fn refused_with_alert(world: &mut ResidencyWorld, status: u16, kind: String) {
    let shipped = collector(world).shipped.clone();
    assert!(
        matches!(&shipped, Some(Err(ShipError::Refused { status: s, alert: Some(a), .. })) if *s == status && *a == kind),
        "{shipped:?}"
    );
    assert_alert(world, &kind, status);
}

#[then(
    regex = r#"^the collector's witness refuses the checkpoint with status (\d+) and lists an? "([a-z_]+)" alert for the worker's log$"#
)]
fn witness_refused(world: &mut ResidencyWorld, status: u16, kind: String) {
    let submitted = collector(world).submitted.clone();
    // A 409 is not an alarm to the client (the witness holds another
    // size; it says so), but a checkpoint smaller than the tree held is an
    // alert on the collector.
    assert!(
        match &submitted {
            Some(Outcome::Alarm { status: s, .. }) => *s == status,
            Some(Outcome::Failed { reason }) => status == 409 && reason.starts_with("409"),
            _ => false,
        },
        "{submitted:?}"
    );
    assert_alert(world, &kind, status);
}

#[then(regex = r"^shipping stops because the collector holds more records than the log$")]
fn collector_ahead(world: &mut ResidencyWorld) {
    let shipped = collector(world).shipped.clone();
    assert!(
        matches!(shipped, Some(Err(ShipError::CollectorAhead { .. }))),
        "{shipped:?}"
    );
}

#[then(regex = r"^the collector still holds the (\d+) records it accepted first$")]
fn still_holds(world: &mut ResidencyWorld, size: u64) {
    assert_eq!(held(world).map(|(s, _)| s), Some(size));
}

#[when(regex = r"^the worker signs a checkpoint of its audit log with its log key$")]
fn signs_when(world: &mut ResidencyWorld) {
    let key = log_key(world);
    let worker = world.worker();
    let mut log = AuditLog::open(&worker.db, &worker.id, &worker.secret).expect("open the log");
    let note = log.signed_checkpoint(&key).expect("sign a checkpoint");
    assert!(note.starts_with("vram-residency/audit/"), "{note}");
}
