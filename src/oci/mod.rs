//! An OCI image layout: one folder holding `oci-layout`, an `index.json` naming its references, and
//! the blobs (`blobs/sha256/<hex>`: manifests, configs, layers, list children) they reference, read
//! and written with the registry client's operations ([`Layout`] mirrors
//! [`crate::registry::Registry`]), so that a [`crate::place::Place`] can be either and the copy engine
//! and the verification read and write both the same way.
//!
//! This is what a layout *is*, and nothing more: the folder, its files, their atomic writes and the
//! checks on what goes in (a manifest only once everything it references is present; blobs hashed as
//! they stream in). The local store ([`crate::store`]) keeps one layout per release and does the
//! bookkeeping around them (root and marker, the lock between processes, label history, list, fsck,
//! delete); a layout learns of it only as its [`Keeper`], whose lock every write holds. A layout
//! opened on its own ([`Layout::open`], e.g. to verify a kept copy) takes no lock.
//!
//! It sits beside the registry client (neither uses the other) and below [`crate::place`].

pub(crate) mod fsutil;
pub(crate) mod index;
mod layout;
pub(crate) mod shared_host;

pub use index::{ANN_CREATED, ANN_HASH, ANN_NAME, ANN_REF_NAME, ANN_RELEASE, ANN_REPOSITORY, ANN_SOURCE};
pub use layout::Layout;
pub(crate) use layout::MANIFEST_LIMIT;

use crate::error::Result;

/// Who keeps a layout: what a write holds while it runs (the local store's lock, so that no other
/// process sees or makes a half-written release). A layout without a keeper takes no lock.
pub trait Keeper: std::fmt::Debug + Send + Sync {
    /// The lock held for the length of one write (re-entrant: a run holding it already gets it).
    fn write_lock(&self) -> Result<Box<dyn Send>>;
}
