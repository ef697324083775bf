//! The plan of a promotion, pure: from the options and what the source holds ([`Facts`]), which tags
//! are copied to which target, which manifest lists are pushed where, what verification expects on
//! each target, and where the label moves. No I/O: the steps that follow ([`super::execute`],
//! [`super::verify`], [`super::label`]) carry it out, and tests read it directly.

use bytes::Bytes;

use super::ids::{with_ids, ContainerId, TargetId};
use super::model::{Promotion, RegistrySpec, Schema};
use super::source::Facts;
use crate::digest::Digest;
use crate::manifest::{media, Manifest};
use crate::reference::RepoPath;
use crate::report::{PlanSummary, TargetPlan};

/// What a tag must look like.
#[derive(Clone, Debug)]
pub struct Expectation {
    pub repo: RepoPath,
    pub tag: String,
    pub digest: Digest,
    /// For lists: the architectures it must hold (any order).
    pub architectures: Option<Vec<String>>,
    /// Check the image's blobs (config and layers) too.
    pub deep: bool,
}

/// One image copy: `reference` at the source, put under `tags` on one destination.
#[derive(Clone, Debug)]
pub(crate) struct PlannedCopy {
    pub container: ContainerId,
    /// Unused for local copies.
    pub target: TargetId,
    pub reference: String,
    pub tags: Vec<String>,
    /// What the source check read for `reference` (the copy does not read it again).
    pub known: Manifest,
}

/// One `<fh>_manifest` push.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PlannedList {
    pub container: ContainerId,
    pub target: TargetId,
    pub repo: RepoPath,
    pub tag: String,
    pub media_type: String,
    pub bytes: Bytes,
    pub digest: Digest,
}

/// One tag verification on a target.
#[derive(Clone, Debug)]
pub(crate) struct PlannedCheck {
    pub container: ContainerId,
    pub target: TargetId,
    pub expect: Expectation,
}

/// A container whose list cannot be built (its architectures could not be found), per target that
/// wanted one: it counts as missed there.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Unbuildable {
    pub container: ContainerId,
    pub target: TargetId,
    pub repo: RepoPath,
    pub tag: String,
    pub reason: String,
}

/// The whole plan.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    pub copies: Vec<PlannedCopy>,
    pub lists: Vec<PlannedList>,
    pub checks: Vec<PlannedCheck>,
    pub unbuildable: Vec<Unbuildable>,
    /// Labels move on the targets (a promotion that pushes; not `verify`).
    pub moves_labels: bool,
}

impl Plan {
    /// Per target, what this plan does there.
    pub fn summary(&self, p: &Promotion, containers: usize) -> PlanSummary {
        let targets = with_ids(&p.targets).map(|(ti, t): (TargetId, _)| {
            let copies = self.copies.iter().filter(|c| c.target == ti);
            TargetPlan {
                registry: t.name.clone(),
                images: copies.clone().count(),
                tags: copies.map(|c| c.tags.len()).sum(),
                lists: self.lists.iter().filter(|l| l.target == ti).count(),
                checks: self.checks.iter().filter(|c| c.target == ti).count(),
                labels: if self.moves_labels { containers } else { 0 },
            }
        });
        PlanSummary {
            containers,
            targets: targets.collect(),
            source_label: p.label_source,
        }
    }
}

/// Does target `t` get manifest lists?
pub(crate) fn lists_for(p: &Promotion, t: &RegistrySpec) -> bool {
    p.manifest_push && t.schema == Schema::V2S2
}

/// Plan a promotion (`verify_only`: the checks alone, the label's included).
pub(crate) fn plan(p: &Promotion, facts: &[Facts], verify_only: bool) -> Plan {
    let mut plan = Plan {
        moves_labels: p.push && !verify_only,
        ..Plan::default()
    };
    for (ti, t) in with_ids::<_, TargetId>(&p.targets) {
        for (ci, f) in with_ids::<_, ContainerId>(facts) {
            if p.push && !verify_only {
                let arches = lists_for(p, t) && f.arch_error.is_none() && !f.root.is_index();
                let rename = |tag: &str| target_tag(p, tag);
                for c in copies(p, f, p.target_hash(), arches, true, rename) {
                    plan.copies.push(PlannedCopy {
                        container: ci,
                        target: ti,
                        ..c
                    });
                }
                if let Some(l) = list(p, t, f) {
                    plan.lists.push(PlannedList {
                        container: ci,
                        target: ti,
                        ..l
                    });
                }
            }
            if p.push {
                for expect in expectations(p, t, f, verify_only) {
                    plan.checks.push(PlannedCheck {
                        container: ci,
                        target: ti,
                        expect,
                    });
                }
            }
            if let (true, Some(reason)) = (p.push && lists_for(p, t), &f.arch_error) {
                plan.unbuildable.push(Unbuildable {
                    container: ci,
                    target: ti,
                    repo: t.repo(&p.prefix, &f.name),
                    tag: p.target_manifest_tag(),
                    reason: reason.to_string(),
                });
            }
        }
    }
    plan
}

/// On targets, the source's tag names become the target's (`push_hash`).
fn target_tag(p: &Promotion, tag: &str) -> String {
    if tag == p.x86_tag() {
        p.target_x86_tag()
    } else if tag == p.ppc_tag() {
        p.target_ppc_tag()
    } else {
        tag.to_string()
    }
}

/// The copies that put one container's images somewhere: the hash image under `hash_tag`, then, with
/// `arches`, the x86 and ppc images under `rename(source tag)`. When the x86 image is the hash image
/// itself (found under the hash, or under `<fh>_x86_64` with the same digest, as the promoter's
/// sources hold it), `fold_x86` adds its name to the hash image's tags instead: one copy, asked about
/// and pushed once. `container`/`target` are the first's: the caller sets them.
pub(crate) fn copies(
    p: &Promotion,
    f: &Facts,
    hash_tag: &str,
    arches: bool,
    fold_x86: bool,
    rename: impl Fn(&str) -> String,
) -> Vec<PlannedCopy> {
    let copy = |reference: String, tags: Vec<String>, known: &Manifest| PlannedCopy {
        container: ContainerId(0),
        target: TargetId(0),
        reference,
        tags,
        known: known.clone(),
    };
    let mut hash_tags = vec![hash_tag.to_string()];
    let mut extra = Vec::new();
    if arches {
        if let Some((src_tag, x86, _)) = &f.x86 {
            let under_hash = *src_tag == p.full_hash;
            match (under_hash || x86.digest == f.root.digest, fold_x86) {
                (true, true) => hash_tags.push(rename(&p.x86_tag())),
                _ if under_hash => {}
                _ => extra.push(copy(src_tag.clone(), vec![rename(src_tag)], x86)),
            }
        }
        if let Some((ppc, _)) = &f.ppc {
            extra.push(copy(p.ppc_tag(), vec![rename(&p.ppc_tag())], ppc));
        }
    }
    let mut out = vec![copy(p.full_hash.to_string(), hash_tags, &f.root)];
    out.extend(extra);
    out
}

/// The `<fh>_manifest` list for container `f` on target `t`, when it gets one.
fn list(p: &Promotion, t: &RegistrySpec, f: &Facts) -> Option<PlannedList> {
    if !lists_for(p, t) {
        return None;
    }
    let (bytes, _) = f.list.clone()?;
    let media_type = if f.root.is_index() {
        f.root.media_type.clone()
    } else {
        media::DOCKER_LIST.to_string()
    };
    Some(PlannedList {
        container: ContainerId(0),
        target: TargetId(0),
        repo: t.repo(&p.prefix, &f.name),
        tag: p.target_manifest_tag(),
        media_type,
        digest: Digest::sha256(&bytes),
        bytes,
    })
}

/// The tags that must be on a target for one container, with their digests.
pub(crate) fn expectations(p: &Promotion, t: &RegistrySpec, f: &Facts, with_label: bool) -> Vec<Expectation> {
    let repo = t.repo(&p.prefix, &f.name);
    let expect = |tag: String, digest: &Digest, architectures: Option<Vec<String>>, deep: bool| Expectation {
        repo: repo.clone(),
        tag,
        digest: digest.clone(),
        architectures,
        deep,
    };
    let mut v = vec![expect(
        p.target_hash().to_string(),
        &f.root.digest,
        None,
        f.root.is_index(),
    )];
    if lists_for(p, t) && f.arch_error.is_none() {
        if !f.root.is_index() {
            if let Some((_, m, _)) = &f.x86 {
                v.push(expect(p.target_x86_tag(), &m.digest, None, false));
            }
            if let Some((m, _)) = &f.ppc {
                v.push(expect(p.target_ppc_tag(), &m.digest, None, false));
            }
        }
        if let (Some(d), Some((_, archs))) = (f.list_digest(), &f.list) {
            v.push(expect(p.target_manifest_tag(), &d, Some(archs.clone()), true));
        }
    }
    if with_label {
        v.push(expect(p.named_label.to_string(), &f.root.digest, None, false));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ConfigPlatform;
    use crate::promote::PromoteArgs;

    const FH: &str = "360d335e94246d7095672c5aa92b59afa380a059_9e598812";

    fn promotion(extra: serde_json::Value) -> Promotion {
        let mut args = serde_json::json!({
            "full_hash": FH,
            "named_label": "current-tripleo",
            "containers_list": ["nova-compute", "base"],
            "ppc_containers_list": ["nova-compute"],
            "source_registry": {"host": "localhost:6000", "namespace": "tripleomaster", "schema": "v2_s2"},
            "target_registries": [
                {"host": "localhost:6500", "namespace": "tripleomaster", "schema": "v2_s2"},
                {"host": "localhost:6600", "namespace": "old", "schema": "v2_s1"}
            ],
            "manifest_push": true,
            "target_registries_push": true
        });
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        let args: PromoteArgs = serde_json::from_value(args).unwrap();
        args.resolve(|_| Err(crate::Error::Config("no file".into())))
            .unwrap()
    }

    fn image(n: u8) -> Manifest {
        let bytes = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{n},"digest":"sha256:{}"}},"layers":[]}}"#,
            format!("{n:02x}").repeat(32)
        );
        Manifest::from_bytes("r", "m", Bytes::from(bytes), None).unwrap()
    }

    fn plat(arch: &str) -> ConfigPlatform {
        ConfigPlatform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: None,
        }
    }

    /// nova-compute: the hash image is the x86 image, with a ppc image; base: an x86 image of its own.
    fn facts(p: &Promotion) -> Vec<Facts> {
        let mut nova = Facts::new("nova-compute", p.source.repo(&p.prefix, "nova-compute"), image(1));
        nova.x86 = Some((FH.into(), image(1), plat("amd64")));
        nova.ppc = Some((image(2), plat("ppc64le")));
        nova.list = Some((
            Bytes::from_static(b"{list-1}"),
            vec!["amd64".into(), "ppc64le".into()],
        ));
        let mut base = Facts::new("base", p.source.repo(&p.prefix, "base"), image(3));
        base.x86 = Some((format!("{FH}_x86_64"), image(4), plat("amd64")));
        base.list = Some((Bytes::from_static(b"{list-3}"), vec!["amd64".into()]));
        vec![nova, base]
    }

    fn copies_of(plan: &Plan, ci: usize, ti: usize) -> Vec<(String, Vec<String>)> {
        let mine = plan
            .copies
            .iter()
            .filter(|c| c.container == ContainerId(ci) && c.target == TargetId(ti));
        mine.map(|c| (c.reference.clone(), c.tags.clone())).collect()
    }

    #[test]
    fn lists_and_architecture_tags_only_where_the_schema_takes_them() {
        let p = promotion(serde_json::json!({}));
        let plan = plan(&p, &facts(&p), false);
        let x86 = format!("{FH}_x86_64");
        let ppc = format!("{FH}_ppc64le");
        // The x86 image is the hash image: its tag is folded into the hash copy, not copied twice.
        assert_eq!(
            copies_of(&plan, 0, 0),
            vec![
                (FH.to_string(), vec![FH.to_string(), x86.clone()]),
                (ppc.clone(), vec![ppc.clone()])
            ]
        );
        assert_eq!(
            copies_of(&plan, 1, 0),
            vec![
                (FH.to_string(), vec![FH.to_string()]),
                (x86.clone(), vec![x86.clone()])
            ]
        );
        // The schema 1 target gets the hash image alone, and no list.
        assert_eq!(
            copies_of(&plan, 0, 1),
            vec![(FH.to_string(), vec![FH.to_string()])]
        );
        assert_eq!(plan.lists.len(), 2);
        assert!(plan
            .lists
            .iter()
            .all(|l| l.target == TargetId(0) && l.tag == format!("{FH}_manifest")));
        assert_eq!(plan.lists[0].digest, Digest::sha256(b"{list-1}"));
        assert_eq!(plan.lists[0].media_type, media::DOCKER_LIST);
        let tags = |ci: usize, ti: usize| -> Vec<String> {
            let mine = plan
                .checks
                .iter()
                .filter(|c| c.container == ContainerId(ci) && c.target == TargetId(ti));
            mine.map(|c| c.expect.tag.clone()).collect()
        };
        assert_eq!(
            tags(0, 0),
            vec![FH.to_string(), x86, ppc, format!("{FH}_manifest")]
        );
        assert_eq!(tags(0, 1), vec![FH.to_string()]);
        assert!(plan.unbuildable.is_empty());
        let summary = plan.summary(&p, 2);
        let first = &summary.targets[0];
        assert_eq!(
            (first.images, first.tags, first.lists, first.checks, first.labels),
            (4, 5, 2, 7, 2)
        );
        let old = &summary.targets[1];
        assert_eq!((old.images, old.tags, old.lists, old.checks), (2, 2, 0, 2));
    }

    #[test]
    fn push_hash_renames_on_targets_and_verify_adds_the_label() {
        let p = promotion(serde_json::json!({"push_hash": "abc123"}));
        let plan = plan(&p, &facts(&p), false);
        assert_eq!(
            copies_of(&plan, 1, 0),
            vec![
                (FH.to_string(), vec!["abc123".to_string()]),
                (format!("{FH}_x86_64"), vec!["abc123_x86_64".to_string()])
            ]
        );
        let verify = super::plan(&p, &facts(&p), true);
        assert!(verify.copies.is_empty() && verify.lists.is_empty());
        assert_eq!(
            verify.summary(&p, 2).targets[0].labels,
            0,
            "verify moves no label"
        );
        let label = verify.checks.iter().filter(|c| c.expect.tag == "current-tripleo");
        assert_eq!(label.count(), 4, "the label on both targets for both containers");
        assert!(verify
            .checks
            .iter()
            .any(|c| c.expect.tag == "abc123_manifest" && c.expect.deep));
    }

    #[test]
    fn an_image_without_architectures_gets_no_list_and_counts_as_unbuildable() {
        let p = promotion(serde_json::json!({}));
        let mut f = facts(&p);
        f[1].list = None;
        f[1].arch_error = Some(std::sync::Arc::new(crate::Error::Config("no x86 image".into())));
        let plan = plan(&p, &f, false);
        assert_eq!(
            copies_of(&plan, 1, 0),
            vec![(FH.to_string(), vec![FH.to_string()])]
        );
        assert_eq!(
            plan.lists
                .iter()
                .filter(|l| l.container == ContainerId(1))
                .count(),
            0
        );
        assert_eq!(plan.unbuildable.len(), 1);
        assert_eq!(
            (plan.unbuildable[0].container, plan.unbuildable[0].target),
            (ContainerId(1), TargetId(0))
        );
        let no_push = promotion(serde_json::json!({"target_registries_push": false}));
        let plan = super::plan(&no_push, &facts(&no_push), false);
        assert!(plan.copies.is_empty() && plan.checks.is_empty() && plan.lists.is_empty());
    }

    #[test]
    fn an_x86_tag_holding_the_hash_image_is_folded_into_its_copy() {
        let p = promotion(serde_json::json!({}));
        let mut os = Facts::new("os", p.source.repo(&p.prefix, "os"), image(5));
        os.x86 = Some((format!("{FH}_x86_64"), image(5), plat("amd64")));
        os.list = Some((Bytes::from_static(b"{list-5}"), vec!["amd64".into()]));
        let plan = plan(&p, &[os], false);
        let x86 = format!("{FH}_x86_64");
        assert_eq!(
            copies_of(&plan, 0, 0),
            vec![(FH.to_string(), vec![FH.to_string(), x86])]
        );
    }

    #[test]
    fn local_copies_keep_the_source_names() {
        let p = promotion(serde_json::json!({"push_hash": "abc123"}));
        let f = facts(&p);
        let kept = copies(&p, &f[1], FH, true, false, |t: &str| t.to_string());
        let refs: Vec<_> = kept
            .iter()
            .map(|c| (c.reference.as_str(), c.tags.clone()))
            .collect();
        let x86 = format!("{FH}_x86_64");
        assert_eq!(
            refs,
            vec![(FH, vec![FH.to_string()]), (x86.as_str(), vec![x86.clone()])]
        );
        // Not folded: the hash image is kept once, under the hash.
        let kept = copies(&p, &f[0], FH, true, false, |t: &str| t.to_string());
        assert_eq!(kept[0].tags, vec![FH.to_string()]);
    }
}
