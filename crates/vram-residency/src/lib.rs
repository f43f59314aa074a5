//! `vram-residency`: the facade workers use.
//!
//! Not yet implemented: `VramManager` joins `gpu-alloc`, `seal-crypto` and
//! `audit-core` in its own issue. This crate exports nothing yet.
