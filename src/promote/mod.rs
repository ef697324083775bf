//! The promotion: what the old `containers-promote` role did with `docker pull/tag/push`, done
//! registry to registry. [`model`] holds the typed inputs (`PromoteArgs` → `Promotion`); [`run`]
//! drives the steps, each a module with typed values in and out: `source` (what the source holds,
//! while `targets` asks what the targets already hold) →
//! `plan` (pure: which tags go where, which lists, which checks) → `execute` (copies, lists) →
//! [`verify`] → `label` → `local` (the store's part), their outcomes kept in a `ledger` and the report
//! built once by `build`. [`tag`] and [`rollback`] reuse the label step.
//! `quay_args` turns a registry's arguments into the [`crate::quay::QuaySpec`] of the Quay client;
//! [`write_reports`] writes a run's reports.

mod build;
pub mod embed;
mod execute;
mod ids;
mod label;
mod ledger;
mod local;
pub mod model;
mod plan;
mod quay_args;
mod reports;
pub mod rollback;
pub mod run;
mod source;
pub mod tag;
mod targets;
pub mod verify;

pub use model::{PromoteArgs, Promotion, RegistryArgs, RegistrySpec, Schema};
pub use reports::write_reports;
pub use run::{run, RunOptions};
