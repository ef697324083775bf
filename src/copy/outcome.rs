//! Assembling a batch's outcomes from what each phase gave back: one [`CopyOutcome`] per request with
//! one [`DestOutcome`] per destination, so that the phases themselves return values and never
//! reach into the report. Kept apart from the I/O so the bookkeeping is unit-tested.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use super::blobs::{BlobOutcome, BlobResult};
use super::plan::BlobNeed;
use super::plan::{DestGap, DestId, Resolved, SourceKey};
use super::{Action, CopyOutcome, CopyRequest, DestOutcome, Fault};

/// A destination that could not be looked at or written to.
pub(super) struct DestFailure {
    pub at: DestId,
    pub error: Fault,
}

/// One outcome per request, with its source facts and an empty outcome per destination.
pub(super) fn initial(requests: &[CopyRequest], resolved: &Resolved) -> Vec<CopyOutcome> {
    requests
        .iter()
        .map(|r| {
            let res = &resolved[&SourceKey::of(r)];
            let digest = res.as_ref().ok().map(|i| i.root.digest.clone());
            CopyOutcome {
                source: format!("{}:{}", r.source, r.reference),
                reference: r.reference.clone(),
                source_digest: digest.clone(),
                media_type: res.as_ref().ok().map(|i| i.root.media_type.clone()),
                architectures: res.as_ref().map(|i| i.architectures.clone()).unwrap_or_default(),
                error: res.as_ref().err().map(|f| f.message.clone()),
                error_kind: res.as_ref().err().map(|f| f.kind),
                dests: r
                    .dests
                    .iter()
                    .map(|(d, _)| DestOutcome {
                        destination: d.to_string(),
                        digest: digest.clone(),
                        tags: BTreeMap::new(),
                        previous: BTreeMap::new(),
                        blobs_uploaded: 0,
                        blobs_mounted: 0,
                        blobs_present: 0,
                        bytes_uploaded: 0,
                        error: None,
                        error_kind: None,
                    })
                    .collect(),
                seconds: 0.0,
            }
        })
        .collect()
}

fn dest(outcomes: &mut [CopyOutcome], at: DestId) -> &mut DestOutcome {
    &mut outcomes[at.req].dests[at.dest]
}

/// Record what discovery found (each tag's previous digest and action, or the error); returns the
/// destinations that were looked at.
pub(super) fn record_discovery(
    outcomes: &mut [CopyOutcome],
    discovered: Vec<Result<DestGap, DestFailure>>,
    dry_run: bool,
) -> Vec<DestGap> {
    let mut gaps = Vec::new();
    for d in discovered {
        match d {
            Ok(g) => {
                let o = dest(outcomes, g.at);
                o.previous = g.previous.clone();
                o.tags = g.tag_actions(dry_run);
                gaps.push(g);
            }
            Err(f) => fail(dest(outcomes, f.at), f.error),
        }
    }
    gaps
}

/// Count each blob for every destination that needed it; a failed blob fails the destination (the
/// first such error is kept). An uploaded blob's bytes count once, on its first user: two images
/// of one repository (`<fh>` and `<fh>_ppc64le`) share one upload, and the bytes must add up to
/// what went over the wire.
pub(super) fn record_blobs(outcomes: &mut [CopyOutcome], transferred: &[(BlobNeed, BlobResult)]) {
    for (need, res) in transferred {
        for (nth, &at) in need.users.iter().enumerate() {
            let o = dest(outcomes, at);
            match res {
                Ok(BlobOutcome::Present) => o.blobs_present += 1,
                Ok(BlobOutcome::Mounted) => o.blobs_mounted += 1,
                Ok(BlobOutcome::Uploaded(n)) => {
                    o.blobs_uploaded += 1;
                    if nth == 0 {
                        o.bytes_uploaded += n;
                    }
                }
                Err(e) => {
                    if o.error.is_none() {
                        let message = format!("blob {}: {e}", need.descriptor.digest);
                        fail(
                            o,
                            Fault {
                                kind: e.kind,
                                message,
                            },
                        );
                    }
                }
            }
        }
    }
}

/// Record the destinations whose manifests could not be pushed.
pub(super) fn record_push_failures(outcomes: &mut [CopyOutcome], failures: Vec<DestFailure>) {
    for f in failures {
        fail(dest(outcomes, f.at), f.error);
    }
}

/// A destination failed: its error and the error's kind.
fn fail(o: &mut DestOutcome, f: Fault) {
    o.error = Some(f.message);
    o.error_kind = Some(f.kind);
}

/// When each destination of the batch was done with (looked at and found complete, its manifests
/// pushed, or failed), in seconds from the batch's start: an outcome's time is its own, not the
/// batch's.
pub(super) struct Timeline {
    started: Instant,
    done: Mutex<HashMap<DestId, f64>>,
}

impl Timeline {
    pub fn start() -> Timeline {
        Timeline {
            started: Instant::now(),
            done: Mutex::new(HashMap::new()),
        }
    }

    /// `at` is done with, now (a later mark wins).
    pub fn mark(&self, at: DestId) {
        let t = self.started.elapsed().as_secs_f64();
        self.done.lock().unwrap_or_else(|p| p.into_inner()).insert(at, t);
    }

    /// The time a request was done with: its last destination's (its source's failure, when it has
    /// no destination marked).
    fn of(&self, req: usize, dests: usize) -> Option<f64> {
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        (0..dests)
            .filter_map(|dest| done.get(&DestId { req, dest }).copied())
            .reduce(f64::max)
    }
}

/// Close the batch: a failed destination's copied tags are failed, and every outcome gets its own
/// time from the timeline (the batch's, for one never marked).
pub(super) fn finish(outcomes: &mut [CopyOutcome], timeline: &Timeline) {
    let batch = timeline.started.elapsed().as_secs_f64();
    for (req, o) in outcomes.iter_mut().enumerate() {
        for d in &mut o.dests {
            if d.error.is_some() {
                for a in d.tags.values_mut() {
                    if *a == Action::Copied {
                        *a = Action::Failed;
                    }
                }
            }
        }
        o.seconds = timeline.of(req, o.dests.len()).unwrap_or(batch);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::copy::plan::tests::{endpoint, image};
    use crate::copy::SourceImage;

    fn batch() -> (Vec<CopyRequest>, Resolved) {
        let src = endpoint("s:5000", "img");
        let requests = vec![CopyRequest {
            source: src,
            reference: "t".into(),
            dests: vec![
                (endpoint("d:5000", "one"), vec!["t".into()]),
                (endpoint("d:5000", "two"), vec!["t".into()]),
            ],
            known: None,
        }];
        let image = Arc::new(SourceImage {
            root: image(1, &[2]),
            children: vec![],
            architectures: vec!["amd64".into()],
        });
        let mut resolved = Resolved::new();
        resolved.insert(SourceKey::of(&requests[0]), Ok(image));
        (requests, resolved)
    }

    #[test]
    fn initial_outcomes_carry_source_facts() {
        let (requests, resolved) = batch();
        let out = initial(&requests, &resolved);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].source, "s:5000/img:t");
        assert_eq!(out[0].architectures, vec!["amd64".to_string()]);
        assert_eq!(out[0].dests.len(), 2);
        assert_eq!(out[0].dests[1].destination, "d:5000/two");
        assert_eq!(out[0].dests[1].digest, out[0].source_digest);
        assert!(out[0].source_digest.is_some());
    }

    #[test]
    fn failed_destination_turns_copied_tags_failed_only_there() {
        let (requests, resolved) = batch();
        let mut out = initial(&requests, &resolved);
        for d in &mut out[0].dests {
            d.tags.insert("t".into(), Action::Copied);
            d.tags.insert("u".into(), Action::AlreadyPresent);
        }
        let f = DestFailure {
            at: DestId { req: 0, dest: 1 },
            error: Fault::other("refused"),
        };
        record_push_failures(&mut out, vec![f]);
        let timeline = Timeline::start();
        timeline.mark(DestId { req: 0, dest: 0 });
        std::thread::sleep(std::time::Duration::from_millis(20));
        timeline.mark(DestId { req: 0, dest: 1 });
        finish(&mut out, &timeline);
        assert_eq!(out[0].dests[0].tags["t"], Action::Copied);
        assert_eq!(out[0].dests[1].tags["t"], Action::Failed);
        assert_eq!(out[0].dests[1].tags["u"], Action::AlreadyPresent);
        // The request's own time: its last destination's, not the batch's end.
        assert!(out[0].seconds >= 0.02, "{}", out[0].seconds);
        assert!(out[0].seconds < timeline.started.elapsed().as_secs_f64());
        assert!(!out[0].ok());
    }

    #[test]
    fn blob_results_counted_per_user_bytes_once_first_error_kept() {
        let (requests, resolved) = batch();
        let mut out = initial(&requests, &resolved);
        let need = |n: u8, users: Vec<DestId>| BlobNeed {
            descriptor: image(n, &[]).descriptor(),
            source: requests[0].source.clone(),
            dest: requests[0].dests[0].0.clone(),
            users,
        };
        let both = vec![DestId { req: 0, dest: 0 }, DestId { req: 0, dest: 1 }];
        let second = vec![DestId { req: 0, dest: 1 }];
        let transferred = vec![
            (need(1, both.clone()), Ok(BlobOutcome::Uploaded(10))),
            (need(2, both), Ok(BlobOutcome::Mounted)),
            (need(3, second.clone()), Err(Fault::other("first"))),
            (need(4, second), Err(Fault::other("second"))),
        ];
        record_blobs(&mut out, &transferred);
        let (one, two) = (&out[0].dests[0], &out[0].dests[1]);
        assert_eq!(
            (one.blobs_uploaded, one.bytes_uploaded, one.blobs_mounted),
            (1, 10, 1)
        );
        assert!(one.ok());
        // One upload shared by two users: its bytes count once, on the first.
        assert_eq!((two.blobs_uploaded, two.bytes_uploaded), (1, 0));
        let err = two.error.as_deref().unwrap();
        assert!(err.ends_with(": first"), "{err}");
    }
}
