//! Step definitions, one module per feature (shared steps in `common`).
//!
//! Every step drives public APIs only: `VramManager` and `SealedShard`
//! (with the `test-util` tampering methods), `HostDevice` fault injection,
//! and `audit-core`'s log, query, verify and checkpoint functions. The
//! attacker steps edit the SQLite file directly with `rusqlite`, as an
//! attacker with write access to the file would.

mod audit;
mod capacity;
mod common;
mod concurrency;
pub(crate) mod fleet;
mod policy;
mod sealing;
mod secrets;
mod transparency;
mod verification;
mod witness;
