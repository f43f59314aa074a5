//! Connections to PostgreSQL: a small pool of `tokio-postgres` clients.
//!
//! The collector needs few connections (each request is one short
//! transaction), so this is a semaphore and a stack of idle clients rather
//! than a pool crate. A client whose connection broke is dropped, not
//! reused; the next caller opens a new one.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, Config, NoTls};

use crate::CollectorError;

/// How many connections a collector opens at most, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8;

/// Connects with `config`, spawning the connection's task on the current
/// tokio runtime.
async fn connect(config: &Config) -> Result<Client, CollectorError> {
    let (client, connection) =
        config
            .connect(NoTls)
            .await
            .map_err(|e| CollectorError::Connect {
                detail: e.to_string(),
            })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "a PostgreSQL connection closed with an error");
        }
    });
    Ok(client)
}

/// Parses a `postgres://` URL or a `key=value` connection string; a
/// connect timeout of 10 s unless it names one.
pub fn parse_url(url: &str) -> Result<Config, CollectorError> {
    let mut config: Config =
        url.parse()
            .map_err(|e: tokio_postgres::Error| CollectorError::BadDatabaseUrl {
                reason: e.to_string(),
            })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("vram-auditd");
    }
    Ok(config)
}

/// Opens one connection to `url` (for the command line and tests).
pub async fn connect_url(url: &str) -> Result<Client, CollectorError> {
    connect(&parse_url(url)?).await
}

struct Shared {
    config: Config,
    idle: Mutex<Vec<Client>>,
    permits: Arc<Semaphore>,
}

/// A pool of at most `max` connections to one database.
#[derive(Clone)]
pub struct Database {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may hold a password.
        f.debug_struct("Database").finish_non_exhaustive()
    }
}

impl Database {
    /// A pool for `url` (nothing is opened until a connection is asked for).
    pub fn new(url: &str, max: usize) -> Result<Self, CollectorError> {
        Ok(Self {
            shared: Arc::new(Shared {
                config: parse_url(url)?,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(max.max(1))),
            }),
        })
    }

    /// A connection: an idle one, or a new one when none is idle; waits
    /// while `max` are in use.
    pub async fn get(&self) -> Result<Connection, CollectorError> {
        let permit = Arc::clone(&self.shared.permits)
            .acquire_owned()
            .await
            .map_err(|e| CollectorError::Connect {
                detail: e.to_string(),
            })?;
        let idle = {
            let mut idle = self
                .shared
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut found = None;
            while let Some(client) = idle.pop() {
                if !client.is_closed() {
                    found = Some(client);
                    break;
                }
            }
            found
        };
        let client = match idle {
            Some(client) => client,
            None => connect(&self.shared.config).await?,
        };
        Ok(Connection {
            client,
            shared: Arc::clone(&self.shared),
            _permit: permit,
        })
    }
}

/// A connection of the pool. [`release`](Self::release) returns it to
/// the pool; dropped otherwise (an error path), it is closed, and the pool
/// opens another when one is next needed.
pub struct Connection {
    client: Client,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    /// Back to the pool for the next caller (unless its connection broke).
    pub fn release(self) {
        if !self.client.is_closed() {
            self.shared
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(self.client);
        }
    }
}

impl Deref for Connection {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}
