//! copy-containers: promote container images between registries for RDO/TripleO CI, registry to
//! registry, byte-exact, verified.
//!
//! Layers, bottom up (a change finds its room by folder):
//! - [`transport`]: HTTP, TLS, auth (Basic, Bearer tokens), retries, rate limits.
//! - [`registry`]: the distribution API (manifests, blobs, tags, mounts) over the transport.
//! - [`copy`]: the verbs that move images (one image, all architectures, deduplicated blobs).
//! - [`cli`]: the command-line face.
//!
//! Shared vocabulary: [`reference`] (image names), [`digest`], [`manifest`] (raw manifests and what
//! they contain), [`error`].

pub mod cli;
pub mod config;
pub mod copy;
pub mod digest;
pub mod error;
pub mod logging;
pub mod manifest;
pub mod module;
pub mod place;
pub mod progress;
pub mod promote;
pub mod quay;
pub mod reference;
pub mod registry;
pub mod report;
pub mod scrub;
pub mod sources;
pub mod stage;
pub mod store;
pub mod transport;

pub use error::{Error, Result};
