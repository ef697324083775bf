//! Each subcommand's examples, shown at the end of its `--help`; `tests/cli_help.rs` parses every
//! one, so they cannot drift from the flags.

pub const PROMOTE: &str = "Examples:
  # Promote a hash from the RDO registry to quay.io, with the promoter's list file
  copy-containers promote --full-hash 360d335e94246d7095672c5aa92b59afa380a059_9e598812 \\
    --named-label current-tripleo --containers-file extra-vars.yaml --manifest-push true \\
    --source quay.rdoproject.org/tripleomastercentos9 \\
    --target host=quay.io,namespace=tripleomastercentos9,username=robot,password_env=QUAY_PASSWORD
  # The same fields from a file; show what would change, change nothing
  copy-containers promote --config promote.yaml --dry-run
  # Every entry of a releases file (copy-quay's config too)
  copy-containers promote --config releases.yaml --release all";

pub const VERIFY: &str = "Examples:
  # Check that a promotion is complete on every target (changes nothing)
  copy-containers verify --config promote.yaml
  copy-containers verify --full-hash d7c3cd922f91d83aacb5d7555de9d5bc --named-label current-tripleo \\
    --containers nova-compute,neutron-server --source quay.rdoproject.org/tripleomastercentos9 \\
    --target quay.io/tripleomastercentos9";

pub const TAG: &str = "Examples:
  # Put current-tripleo on a hash's images on quay.io, copying nothing
  copy-containers tag --full-hash d7c3cd922f91d83aacb5d7555de9d5bc --named-label current-tripleo \\
    --containers nova-compute,neutron-server \\
    --registry host=quay.io,namespace=tripleomastercentos9,username=robot,password_env=QUAY_PASSWORD";

pub const ROLLBACK: &str = "Examples:
  # Where the label would move back, then move it
  copy-containers rollback --config promote.yaml --full-hash d7c3cd922f91d83aacb5d7555de9d5bc --dry-run
  copy-containers rollback --config promote.yaml --full-hash d7c3cd922f91d83aacb5d7555de9d5bc";

pub const STAGE: &str = "Examples:
  # A 20-image release in a local registry, then its names as JSON
  copy-containers stage --registry host=127.0.0.1:5000,namespace=tripleomaster,insecure=true --images 20
  copy-containers stage --registry 127.0.0.1:5000/tripleomaster --names base,nova-compute --json";

pub const COPY: &str = "Examples:
  copy-containers copy quay.io/tripleomastercentos9/openstack-base:current-tripleo \\
    127.0.0.1:5000/tripleomaster/openstack-base --dest-insecure
  copy-containers copy --dry-run quay.io/ns/openstack-base:tag registry.example/ns/openstack-base:tag";

pub const INSPECT: &str = "Examples:
  copy-containers inspect quay.io/tripleomastercentos9/openstack-nova-compute:current-tripleo
  copy-containers inspect --raw quay.io/tripleomastercentos9/openstack-nova-compute:current-tripleo";

pub const RELEASES: &str = "Examples:
  # Where each entry's list and hash come from (read-only), then the plan alone, offline
  copy-containers releases --config releases.yaml
  copy-containers releases --config copy-quay.yaml --no-fetch --json";

pub const LOCAL: &str = "Examples:
  copy-containers local list
  copy-containers local delete --container nova-compute --release master --dry-run
  copy-containers local delete --release master
  copy-containers local fsck";

pub const COPY_QUAY: &str = "Examples:
  # copy-quay's cron lines, the program changed only: the latest build's images copied, then labelled
  copy-containers copy-quay --config /root/copy-quay/config.yaml --token-env QUAY_TOKEN \\
    --release mastercentos9 --html /root/logs/master-centos9-report.html copy
  copy-containers copy-quay --config /root/copy-quay/config.yaml --token-env QUAY_TOKEN \\
    --release mastercentos9 --html /root/logs/tag/master-centos9-report.html tag
  # Two images at a given hash, from quay.io to quay.rdoproject.org; what would be done
  copy-containers copy-quay --config config.yaml --pull-registry quay.io \\
    --push-registry quay.rdoproject.org --hash 360d335e94246d7095672c5aa92b59afa380a059_9e598812 \\
    --release mastercentos9 --dry-run copy openstack-base openstack-nova-compute";
