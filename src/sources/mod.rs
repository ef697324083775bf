//! Where the container list and the hash come from, when they do not come from the command line:
//!
//! - [`list`]: the promoter's extra-vars YAML or a plain list file.
//! - [`zuul`]: the latest successful build job and its logs (copy-quay's way, running alone).
//! - [`tripleo_common`]: tripleo-common's `tripleo_containers.yaml` minus tripleo-ci's excludes
//!   (the promoter's way), with the `versions.csv` lookup that finds the right commit.
//! - [`dlrn`]: the hash a DLRN label points at.
//! - [`hash`]: the DLRN hash forms every source's hash is checked against.
//! - [`http`]: the small fetcher these sources share (retries, typed 404, size cap, files too).
//! - [`release`]: a release's list and hash found through the sources above, in the order a query
//!   asks, with fallbacks (the network half of running a releases file's entry).
//! - [`stage_info`]: the promoter's staging switch, a file that names the staging registries and
//!   the candidate hash (the module's `stage_info`), checked against the hash being promoted.
//!
//! Parsers are pure functions taking the source's name (URL or file) for their messages; the
//! `async` functions only fetch and call them.

pub mod dlrn;
pub mod hash;
pub mod http;
pub mod list;
pub mod release;
pub mod stage_info;
pub mod tripleo_common;
pub mod zuul;

pub use dlrn::{promoted_hash, DlrnPromotion, PromotedHash};
pub use hash::{validate_full_hash, HashKind};
pub use http::{Fetched, Fetcher, HttpOptions, Location};
pub use list::{parse_list_file, ContainerLists};
pub use tripleo_common::{fetch_container_lists, Excludes, TripleoCommonLists, TripleoCommonQuery};
pub use zuul::{latest_built_containers, BuildLog, BuiltContainers, ZuulBuild};
