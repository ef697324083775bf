//! copy-containers: promote container images between registries for RDO/TripleO CI, registry to
//! registry, byte-exact, verified.
//!
//! Layers, bottom up (a change finds its room by folder). A module uses only modules of the layers
//! below its own, never one above nor a sibling on its own line, so there are no import cycles;
//! `tests/layers.rs` holds the same order and checks it.
//! - Vocabulary: [`error`], then [`input`] (reading the files users name), [`digest`], [`reference`]
//!   (image names, hosts), [`manifest`] (raw manifests, what they contain, blob streams), and
//!   [`terminal`] (its width, lines wrapped under it).
//! - Run-wide services: [`scrub`] (the secrets every output is masked of), [`progress`] and
//!   [`stop`] (signals and deadlines that stop a run cleanly); then [`logging`] (log setup, the run's
//!   warnings).
//! - [`transport`]: HTTP (every client made in one place), TLS, auth (Basic, Bearer tokens), one
//!   retry loop, rate limits, capped body reads.
//! - [`registry`]: the distribution API (manifests, blobs, tags, mounts) over the transport; beside
//!   it [`oci`]: an OCI image layout (one folder) with the same operations.
//! - [`place`]: a registry or an OCI layout, behind one type.
//! - On places: [`store`] (the local store: a layout per release and its bookkeeping: root, lock,
//!   delete, fsck, label history), [`copy`] (the engine that moves images between places: all
//!   architectures, deduplicated blobs) and [`sources`] (where lists and hashes come from); then
//!   [`quay`] (creating Quay repositories).
//! - [`report`]: what a run did (JSON, HTML, text, the promoter's list files); beside it
//!   [`options`]: every option declared once (the promotion's, a registry's keys, the faces' own),
//!   and what is derived from the declaration (the module's argument spec and documentation, the
//!   command line's flags and help).
//! - [`promote`]: the engine of the verbs (promote, verify, tag, rollback) with their typed inputs, and where their
//!   reports are written; then [`stage`] (staged test releases) and [`config`] (releases files).
//! - [`verbs`]: each user action one call, typed request → finished outcome (reports written,
//!   secrets masked): the promotion's verbs, a releases file's, the local store's (list, delete,
//!   fsck), one image's (inspect, copy), stage. The faces use nothing below it but the vocabulary,
//!   the run-wide services, the reports they render and the options' declaration.
//! - Faces, siblings that never use each other: [`cli`] (the command line) and [`module`] (the
//!   Ansible module); `main.rs` picks one.

pub mod cli;
pub mod config;
pub mod copy;
pub mod digest;
pub mod error;
pub mod input;
pub mod logging;
pub mod manifest;
pub mod module;
pub mod oci;
pub mod options;
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
pub mod stop;
pub mod store;
pub mod terminal;
pub mod transport;
pub mod verbs;

pub use error::{Error, Result};
