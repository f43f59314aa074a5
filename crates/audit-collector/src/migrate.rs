//! The collector's schema, versioned (`COL-DB-001`).
//!
//! Each [`Migration`] has a version; `schema_migrations(version, name,
//! applied_at)` records those applied. [`migrate`] applies the missing
//! ones in one transaction, under a transaction-scoped advisory lock so
//! that two collectors starting at once do not race: either all of them
//! are applied or none. Running it again changes nothing. A database whose
//! version is above [`SCHEMA_VERSION`] was migrated by a newer collector
//! and is refused ([`CollectorError::SchemaTooNew`]), before anything is
//! written.

use tokio_postgres::Client;

use crate::CollectorError;

/// One step of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Its version: 1, 2, … in order.
    pub version: i64,
    /// What it does, for `schema_migrations.name`.
    pub name: &'static str,
    /// Its SQL (several statements).
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "workers, witnessed trees, alerts",
        sql: r"
CREATE TABLE workers (
    origin text PRIMARY KEY CHECK (length(origin) BETWEEN 1 AND 1024),
    vkey text NOT NULL,
    public_key bytea NOT NULL UNIQUE CHECK (length(public_key) = 32),
    added_at timestamptz NOT NULL DEFAULT now()
);
-- The tree the collector last cosigned per origin (the witness's state);
-- changed only under the lock on the worker's row.
CREATE TABLE witnessed (
    origin text PRIMARY KEY REFERENCES workers (origin),
    size bigint NOT NULL CHECK (size >= 0),
    root bytea NOT NULL CHECK (length(root) = 32),
    checkpoint text NOT NULL,
    cosignature text NOT NULL,
    cosigned_at timestamptz NOT NULL
);
CREATE TABLE alerts (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    origin text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('unknown_origin', 'bad_signature', 'inconsistent', 'rollback')),
    status smallint NOT NULL,
    old_size bigint,
    checkpoint_size bigint,
    held_size bigint,
    reason text NOT NULL,
    peer text
);
CREATE INDEX alerts_origin_at ON alerts (origin, at);
",
    },
    Migration {
        version: 2,
        name: "ingested records, their tree's right border, batch checkpoints",
        sql: r"
-- Every record a worker shipped, verified against its signed checkpoint
-- (COL-ING-*): the export form's fields, the MACs, the leaf hash. Written
-- with COPY BINARY, never updated; one row per (origin, seq).
CREATE TABLE records (
    origin text NOT NULL REFERENCES workers (origin),
    seq bigint NOT NULL CHECK (seq >= 1),
    id bytea NOT NULL CHECK (length(id) = 16),
    ts_ns bigint NOT NULL,
    kind text NOT NULL,
    severity smallint NOT NULL,
    worker_id text NOT NULL,
    shard_id text,
    event text NOT NULL,
    prev_mac bytea NOT NULL CHECK (length(prev_mac) = 32),
    mac bytea NOT NULL CHECK (length(mac) = 32),
    leaf bytea NOT NULL CHECK (length(leaf) = 32),
    PRIMARY KEY (origin, seq)
);
-- The tree of the records held per origin: its size, root and right
-- border (the complete subtrees it ends with, largest first, 32 bytes
-- each), all that extending it needs; changed only under the lock on the
-- worker's row.
CREATE TABLE ingested (
    origin text PRIMARY KEY REFERENCES workers (origin),
    size bigint NOT NULL CHECK (size >= 0),
    root bytea NOT NULL CHECK (length(root) = 32),
    frontier bytea NOT NULL CHECK (length(frontier) % 32 = 0),
    checkpoint text NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now()
);
-- The signed checkpoint each accepted batch ended at.
CREATE TABLE ingest_checkpoints (
    origin text NOT NULL REFERENCES workers (origin),
    size bigint NOT NULL CHECK (size >= 1),
    root bytea NOT NULL CHECK (length(root) = 32),
    checkpoint text NOT NULL,
    PRIMARY KEY (origin, size)
);
-- Which endpoint refused: the witness's add-checkpoint or ingest.
ALTER TABLE alerts ADD COLUMN endpoint text NOT NULL DEFAULT 'add-checkpoint'
    CHECK (endpoint IN ('add-checkpoint', 'ingest'));
",
    },
    Migration {
        version: 3,
        name: "the stored hashes of every ingested tree, for proofs",
        sql: r"
-- Every node hash of the tree of the records held per origin, in tlog's
-- stored-hash layout (one hash per complete subtree, index
-- 2m - popcount(m) + level), kept in blocks: one row per accepted batch,
-- the hashes at stored indexes first, first + 1, ... concatenated (32
-- bytes each), each block starting where the one before it ends. Written
-- in the batch's transaction (COL-AUD-003); never updated. Stored
-- uncompressed so a proof reads 32-byte slices, not whole blocks.
CREATE TABLE tree_blocks (
    origin text NOT NULL REFERENCES workers (origin),
    first bigint NOT NULL CHECK (first >= 0),
    hashes bytea NOT NULL CHECK (length(hashes) > 0 AND length(hashes) % 32 = 0),
    PRIMARY KEY (origin, first)
);
ALTER TABLE tree_blocks ALTER COLUMN hashes SET STORAGE EXTERNAL;
-- The tree size from which the stored hashes of each origin exist: trees
-- ingested before this migration have none below it, and no proofs.
ALTER TABLE ingested ADD COLUMN hashes_from bigint NOT NULL DEFAULT 0;
UPDATE ingested SET hashes_from = size;
",
    },
    Migration {
        version: 4,
        name: "records' origin checked once per statement, not once per row",
        sql: r"
-- The foreign key of records (origin) ran a query per row (about as much
-- work as storing the row: a batch of 10,000 records, 10,000 lookups of
-- the same worker). The same rule, that every record names a registered
-- worker, checked once per statement over the rows it inserted, with the
-- same lock the foreign key takes (FOR KEY SHARE of the workers named);
-- and a worker with records cannot be deleted or renamed, as the foreign
-- key made sure.
ALTER TABLE records DROP CONSTRAINT records_origin_fkey;
CREATE FUNCTION records_origins_registered() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named bigint;
    registered bigint;
BEGIN
    SELECT count(DISTINCT origin) INTO named FROM inserted;
    SELECT count(*) INTO registered FROM (
        SELECT 1 FROM workers WHERE origin IN (SELECT origin FROM inserted) FOR KEY SHARE OF workers
    ) w;
    IF registered <> named THEN
        RAISE EXCEPTION 'records of an origin no operator registered'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER records_origins_registered AFTER INSERT ON records
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION records_origins_registered();
CREATE FUNCTION workers_keep_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'DELETE' OR NEW.origin IS DISTINCT FROM OLD.origin)
        AND EXISTS (SELECT 1 FROM records WHERE origin = OLD.origin) THEN
        RAISE EXCEPTION 'worker % has records: it cannot be deleted or renamed', OLD.origin
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER workers_keep_records BEFORE DELETE OR UPDATE OF origin ON workers
    FOR EACH ROW EXECUTE FUNCTION workers_keep_records();
",
    },
    Migration {
        version: 5,
        name: "records' origin checked with one lookup for a one-origin statement",
        sql: r"
-- The check of migration 4 hashed every row a statement inserted twice
-- (count(DISTINCT ...) and IN (...)): a tenth of the database's work per
-- ingested record. Now each origin named is looked up and locked as
-- before, one at a time; every batch the collector stores names one
-- origin, which the lowest and highest origin inserted show in one pass
-- without hashing, and only a statement of several origins lists them.
CREATE OR REPLACE FUNCTION records_origins_registered() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lowest text;
    highest text;
    named text;
BEGIN
    SELECT min(origin), max(origin) INTO lowest, highest FROM inserted;
    FOR named IN
        SELECT lowest WHERE lowest = highest
        UNION ALL
        SELECT DISTINCT origin FROM inserted WHERE lowest <> highest
    LOOP
        PERFORM 1 FROM workers WHERE origin = named FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'records of an origin no operator registered'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
",
    },
];

/// The newest schema version this code knows.
pub const SCHEMA_VERSION: i64 = 5;

/// A key of PostgreSQL's advisory locks for migrations ("vramcol1").
const MIGRATION_LOCK: i64 = 0x7672_616d_636f_6c31;

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The version found.
    pub from: i64,
    /// The version now.
    pub to: i64,
    /// The versions applied, in order (empty when it was up to date).
    pub applied: Vec<i64>,
}

/// The database's schema version (0: never migrated).
pub async fn schema_version(client: &Client) -> Result<i64, CollectorError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| CollectorError::db("reading the schema version", &e))?;
    if !exists {
        return Ok(0);
    }
    client
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| CollectorError::db("reading the schema version", &e))
}

/// Applies every migration the database lacks, in one transaction
/// (`COL-DB-001`).
pub async fn migrate(client: &mut Client) -> Result<MigrationReport, CollectorError> {
    let step =
        |operation: &'static str| move |e: tokio_postgres::Error| CollectorError::db(operation, &e);
    let tx = client
        .transaction()
        .await
        .map_err(step("starting the migration"))?;
    // No NOTICE for `IF NOT EXISTS` on every start.
    tx.batch_execute(&format!(
        "SET LOCAL client_min_messages = warning; SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"
    ))
    .await
    .map_err(step("taking the migration lock"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version bigint PRIMARY KEY,
            name text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(step("creating schema_migrations"))?;
    let from: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(step("reading the schema version"))?;
    if from > SCHEMA_VERSION {
        // Dropping the transaction rolls it back: nothing written.
        return Err(CollectorError::SchemaTooNew {
            found: from,
            supported: SCHEMA_VERSION,
        });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > from) {
        tx.batch_execute(migration.sql)
            .await
            .map_err(step("applying a migration"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(step("recording a migration"))?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "schema migration applied"
        );
        applied.push(migration.version);
    }
    tx.commit()
        .await
        .map_err(step("committing the migration"))?;
    Ok(MigrationReport {
        from,
        to: applied.last().copied().unwrap_or(from),
        applied,
    })
}
