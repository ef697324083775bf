//! Typed identifiers of a run's containers and targets ([`ContainerId`], [`TargetId`]), instead of
//! bare indexes joined across parallel lists: the lists they reach ([`Facts`] and the sources'
//! [`Place`]s by container; the targets' specs and clients by target) take only their own kind
//! ([`ById`]), so a target's number cannot reach a container's list.

use super::model::RegistrySpec;
use super::source::Facts;
use crate::copy::Place;
use crate::quay::Quay;
use crate::registry::Registry;

/// A container of the run: its position in the run's [`Facts`] (the source check's order, the
/// report's), and in the sources it is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ContainerId(pub usize);

/// A target of the run: its position among the run's targets (a promotion's `target_registries`;
/// the registries `tag` and `rollback` act on), in their specs and clients alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TargetId(pub usize);

/// Each item of `list` with its identifier.
pub(crate) fn with_ids<T, I: From<usize>>(list: &[T]) -> impl Iterator<Item = (I, &T)> {
    list.iter().enumerate().map(|(i, x)| (I::from(i), x))
}

impl From<usize> for ContainerId {
    fn from(i: usize) -> ContainerId {
        ContainerId(i)
    }
}

impl From<usize> for TargetId {
    fn from(i: usize) -> TargetId {
        TargetId(i)
    }
}

/// A list reached by one kind of identifier only: `facts.by_id(container)`,
/// `p.targets.by_id(target)`.
pub(crate) trait ById<I> {
    type Item;
    fn by_id(&self, id: I) -> &Self::Item;
}

macro_rules! by_id {
    ($id:ty: $($t:ty),+) => {
        $(impl ById<$id> for [$t] {
            type Item = $t;
            fn by_id(&self, id: $id) -> &$t {
                &self[id.0]
            }
        })+
    };
}

by_id!(ContainerId: Facts, Place);
by_id!(TargetId: RegistrySpec, Registry, Option<Quay>);
