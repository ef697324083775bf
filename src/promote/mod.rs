//! The promotion: what the old `containers-promote` role did with `docker pull/tag/push`, done
//! registry to registry. [`model`] holds the typed inputs, [`run`] executes (or dry-runs) them,
//! [`verify`] reads everything back; `quay_args.rs` turns a registry's arguments into the
//! [`crate::quay::QuaySpec`] of the Quay client; [`write_reports`] writes a run's reports.

pub mod flexible;
pub mod model;
mod quay_args;
mod reports;
pub mod rollback;
pub mod run;
pub mod tag;
pub mod verify;

pub use model::{PromoteArgs, Promotion, RegistryArgs, RegistrySpec, Schema};
pub use reports::write_reports;
pub use run::{run, RunOptions};
