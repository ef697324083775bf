#!/usr/bin/python
# -*- coding: utf-8 -*-
# WANT_JSON
#
# The copy_containers Ansible module: a thin launcher for the copy-containers binary, which is the
# module itself (it reads the JSON arguments file Ansible passes as argv[1] and prints one JSON result).
#
# Why a launcher and not the binary: Ansible copies a module to a temporary folder before it runs it,
# and a checkout has no binary until it is built, so `library/` holds this small script and the binary
# comes from the first of:
#   1. $COPY_CONTAINERS_BIN (the playbooks in ansible/ set it to <checkout>/target/release/copy-containers
#      when that exists);
#   2. copy-containers beside the Python running this module (the virtualenv where the wheel was
#      pip-installed: the promoter's venv);
#   3. copy-containers on PATH.
# Otherwise the task fails with a message saying how to install it.
# Why `.py`: Ansible 2.9's ansible-doc reads the documentation of `.py` modules only (and ansible-core
# reads it from the `.py` too), so DOCUMENTATION, EXAMPLES and RETURN are here, generated from their
# one source, src/module/copy_containers.yml (`ansible-doc -M library copy_containers`).
# Python 2.7 and 3.6+ (the module runs with whatever interpreter Ansible picks on the host).

# BEGIN GENERATED from src/module/copy_containers.yml by tests/launcher_doc.rs
# (COPY_CONTAINERS_BLESS=1 cargo test --test launcher_doc): do not edit by hand.
DOCUMENTATION = r"""
module: copy_containers
short_description: Promote a DLRN hash's container images between registries, registry to registry, verified
description:
  - Promotes the container images of a DLRN hash the way the RDO promoter expects, without a container
    daemon and without pulling anything to local storage. Manifests are copied byte-exact (digests are
    the same on every registry); each blob is fetched once per run and sent once per target.
  - C(action=promote) checks that every C(<prefix>-<name>:<full_hash>) exists in the source registry
    (and fails listing all missing ones), copies C(<full_hash>) to every target registry, builds the
    C(<full_hash>_manifest) lists when C(manifest_push) is true (C(amd64) + C(ppc64le), C(amd64) alone for
    a container whose C(<full_hash>_ppc64le) is missing), verifies every registry, image, tag and
    architecture, and then moves C(named_label) - on a target only where that image verified, on the
    source last and only when everything succeeded.
  - C(action=verify) only checks that all of the above is in place, changing nothing.
  - C(action=tag) moves C(named_label) to the image tagged C(full_hash) (C(push_hash) when given) on
    C(registries), or to the image tagged C(full_hash) on the source registry when C(registries) is
    not given, without copying anything.
  - C(action=rollback) points C(named_label) back where it was before the promotion of C(full_hash)
    (the C(previous-<label>) tag, else the local store's label history), only where it still points at
    C(full_hash).
  - C(action=delete_local) removes local copies (the local store, C(local_store)) by C(scope) and verifies the store.
  - Images of a failed promotion are kept in a local store (OCI layouts, one per release), so that a
    rerun does not depend on the source any more; see C(keep_local).
  - Writes the old C(containers-promote) role's six list files under C(tmp_file_root), and optional
    JSON and HTML reports.
  - C(library/copy_containers.py) is a small Python launcher for the C(copy-containers) binary, which runs
    on the target host, normally C(localhost); the binary is C($COPY_CONTAINERS_BIN), else the one beside
    the Python running the module (the virtualenv where the wheel was pip-installed), else the one on
    C(PATH).
version_added: "0.1.0"
author:
  - copy-containers developers
requirements:
  - the copy-containers binary for the target host - the copy-containers wheel pip-installed into the
    virtualenv that runs Ansible, or C(cargo build --release); nothing else (no docker, podman or skopeo)
attributes:
  check_mode:
    support: full
    description: Plans without changing anything; C(changed) tells whether a real run would change tags.
  diff_mode:
    support: full
    description: Returns the tags that move, with the digests before and after.
  platform:
    support: full
    platforms: posix
    description: Linux hosts of the architecture the binary was built for.
# Generated from src/options (run scripts/regenerate); edit the options there.
options:
  action:
    description:
      - What to do. C(promote) copies, builds manifest lists, verifies and labels; C(verify) only checks; C(tag)
        only moves C(named_label); C(rollback) moves C(named_label) back; C(delete_local) removes local copies.
    type: str
    choices: [promote, verify, tag, rollback, delete_local]
    default: promote
  registries:
    description:
      - For C(action=tag) - the registries to move C(named_label) on; default C(source_registry).
      - Each takes the same keys as C(source_registry).
    type: list
    elements: dict
    suboptions: &registry_suboptions
      name:
        description:
          - A label for messages and reports (for example C(local-target-registry-1)); defaults to the host.
        type: str
      host:
        description:
          - The registry host, with its port if any (C(quay.io), C(localhost:6000)).
        type: str
        required: true
      namespace:
        description:
          - The namespace (organisation); defaults to C(source_namespace) or C(target_namespace).
        type: str
      username:
        description:
          - User name. C(unused) (the staging files' value) or empty means anonymous.
        type: str
      password:
        description:
          - The password. C(unused) or empty means none. Never printed; prefer C(source_registry.password_env).
        type: str
        no_log: true
      password_env:
        description:
          - Name of an environment variable holding the password, read by the module itself, so that the secret
            never goes through Ansible variables. Fails when the variable is not set.
        type: str
      authfile:
        description:
          - A docker C(config.json) or containers C(auth.json) to take credentials from when no username is given
            (credential helpers included). Without it, the default files are read (C(REGISTRY_AUTH_FILE), containers
            C(auth.json), docker C(config.json)), as C(podman login) or C(docker login) left them.
        type: path
      auth_url:
        description:
          - Where the old playbook logged in; informational (the registry's challenge is followed).
        type: str
      schema:
        description:
          - Manifest schema the registry takes. C(v2_s1) registries (quay.io in production) get no manifest lists.
        type: str
        choices: [v2_s1, v2_s2]
        default: v2_s2
      port:
        description:
          - The staging files' port; informational (the port is part of C(source_registry.host)).
        type: int
      url:
        description:
          - The staging files' C(http://host:port) form; C(http://) means plain HTTP unless
            C(source_registry.secure) is C(true).
        type: str
      secure:
        description:
          - The staging files' flag. C(true) means HTTPS whatever C(source_registry.url) says (ci-config's staging
            gives every registry C(http://localhost:PORT) as its C(source_registry.url), its TLS + htpasswd one too,
            and the old role never read it). On a loopback host the certificate is then not checked unless
            C(source_registry.tls_verify) is given - docker, which the role used, does not check registries on
            127.0.0.0/8, and the staging registry's self-signed certificate expired in 2020. C(false) means plain
            HTTP unless C(source_registry.url) or C(source_registry.auth_url) says C(https://).
        type: bool
      insecure:
        description:
          - Plain HTTP (overrides C(source_registry.url); C(true) with C(source_registry.secure=true) is an error).
        type: bool
      tls_verify:
        description:
          - Verify the registry's TLS certificate (by default, except for a loopback C(source_registry.secure=true)
            staging registry).
        type: bool
        default: true
      ca_file:
        description:
          - A PEM file of CA certificates to trust for this registry (besides the system ones).
        type: path
      cert_dir:
        description:
          - This registry's certs.d directory, as skopeo's C(--cert-dir) - C(*.crt) files are CA certificates (or
            the registry's own self-signed certificate) to trust, a C(*.cert) + C(*.key) pair is a client
            certificate.
          - Without it, C(<host[:port]>) is looked for in C(/etc/containers/certs.d) then C(/etc/docker/certs.d)
            (the first found is used; the environment variable C(COPY_CONTAINERS_CERTS_D) replaces that list).
        type: path
      token:
        description:
          - A Quay API token given inline (discouraged; prefer C(source_registry.token_env)). Never printed.
        type: str
        no_log: true
      create_repo:
        description:
          - Create missing repositories as public through the Quay API before pushing (needs a token).
        type: bool
        default: false
      token_env:
        description:
          - Name of an environment variable holding the Quay API token.
        type: str
      token_file:
        description:
          - A file whose first line is the Quay API token.
        type: path
      quay_api:
        description:
          - The Quay API root.
        type: str
        default: https://<host>/api/v1/
  stage_info:
    description:
      - The promoter's staging switch, the path of its C(stage-info.yaml) file (the playbook passes
        C(/tmp/stage-info.yaml) when it exists). Its C(registries.source), C(registries.targets) and
        C(dlrn.promotions.promotion_candidate.full_hash) replace C(source_registry), C(target_registries) and
        C(full_hash), which it then makes optional.
      - A C(full_hash) given that is not the file's candidate fails the task before any registry is asked anything,
        naming both hashes, the file and its age (a file left behind by a staging run would otherwise take a
        production run to the staging registries); a file older than a day is a warning.
      - Read by the module only, so the staging registries' passwords never go through Ansible variables or
        templating.
    type: path
  full_result:
    description:
      - Return every per-image detail (C(found), C(pushed), C(containers), C(problems), ...), as the JSON report
        has them.
      - By default the result holds the outcome, the counts, each cause of failure once with a few of its images,
        and the report files - C(ansible-playbook -v) prints the whole result into the log the promoter publishes,
        and the per-image details would make most of it; they are in the JSON report.
    type: bool
    default: false
  scope:
    description:
      - For C(action=delete_local) (required there) - what to remove. C(container) the images of C(containers_list)
        (of C(release) when given), C(release) everything of C(release), C(all) everything.
      - A scope that matches nothing changes nothing and is reported in C(ignore:warnings) (a rerun stays a
        harmless no-op). Only what the store wrote is removed; a release folder that is not a layout of its own is
        reported and left alone.
    type: str
    choices: [container, release, all]
  full_hash:
    description:
      - The DLRN hash, the tag to promote. C(<commit_hash>_<distro_hash[:8]>), the extended form
        C(<commit>_<distro8>_<a8>_<b8>), or a 32-hex aggregate hash.
      - Required unless C(action=delete_local).
    type: str
  named_label:
    description:
      - The promotion label to apply, for example C(current-tripleo).
      - Required unless C(action=delete_local).
    type: str
  push_hash:
    description:
      - Tag the images get on the targets instead of C(full_hash), like copy-quay's C(--push-hash); the source is
        still read (and labelled) at C(full_hash).
      - The targets get C(<push_hash>), C(<push_hash>_x86_64), C(<push_hash>_ppc64le) and C(<push_hash>_manifest);
        C(named_label) points at the same image. C(action=verify), C(action=rollback) and C(action=tag) on
        C(registries) read the targets at C(push_hash).
      - Equal to C(full_hash) means no change; it must be a valid tag with room for the C(_manifest) suffix.
    type: str
  candidate_label:
    description:
      - The label the hash has now (for example C(tripleo-ci-testing)); recorded in the reports.
    type: str
  release:
    description:
      - The release (C(master), C(wallaby), ...), used in the list file names.
    type: str
    default: master
  distro_name:
    description:
      - Distribution name, used in the list file names.
    type: str
    default: centos
  distro_version:
    description:
      - Distribution version, used in the list file names. An integer is accepted.
    type: str
    default: "9"
  containers_list:
    description:
      - The container names, without prefix (C(nova-compute), not C(openstack-nova-compute)).
      - A comma-separated string is accepted. Required unless C(containers_list_file) is given.
    type: list
    elements: str
    aliases: [containers]
  ppc_containers_list:
    description:
      - The containers that should have a C(ppc64le) image (C(<full_hash>_ppc64le)).
    type: list
    elements: str
    aliases: [ppc_containers]
  containers_list_file:
    description:
      - A file to take C(containers_list) (and C(ppc_containers_list)) from when they are not given - the promoter's
        extra-vars YAML file, or one name per line.
    type: path
  container_name_prefix:
    description:
      - Prefix of the image names, C(<prefix>-<name>). C(centos-binary) for the old releases.
    type: str
    default: openstack
  base_container_images:
    description:
      - Images always added to C(containers_list) (once).
    type: list
    elements: str
    default: [base]
  source_namespace:
    description:
      - Namespace of C(source_registry) when its dictionary has none.
    type: str
  target_namespace:
    description:
      - Namespace of the target registries whose dictionary has none.
    type: str
  source_registry:
    description:
      - The registry the images are promoted from. Required for C(action=promote), C(verify) and C(rollback).
      - A JSON string is accepted (ad-hoc use).
    type: dict
    suboptions: *registry_suboptions
  target_registries:
    description:
      - The registries to promote to (a single dictionary is accepted as a list of one).
      - A JSON string is accepted (ad-hoc use).
      - Each takes the same keys as C(source_registry).
    type: list
    elements: dict
    suboptions: *registry_suboptions
  target_registries_push:
    description:
      - Push to C(target_registries). When false only the source is checked and labelled.
      - Booleans are accepted the Ansible way (C(true), C("true"), C(yes), C(1), ...).
    type: bool
    default: true
  manifest_push:
    description:
      - Copy C(<full_hash>_x86_64) (and C(_ppc64le)) and build C(<full_hash>_manifest) lists on the C(v2_s2)
        targets.
    type: bool
    default: false
  ppc_manifests:
    description:
      - Put the C(ppc64le) images in the manifest lists (for the containers that have one).
    type: bool
    default: true
  tmp_file_root:
    description:
      - Folder of the old role's six list files (C(parsed_containers-<distro>-<version>-<release>.txt), ...),
        written as the role wrote them (the differences are listed in the project's C(docs/promoter.md)). Not
        written in check mode.
    type: path
    default: /var/tmp/promoter_logs
  x86_tag:
    description:
      - Suffix of the x86 tag, C(<full_hash>_<x86_tag>).
    type: str
    default: x86_64
  ppc_tag:
    description:
      - Suffix of the ppc tag, C(<full_hash>_<ppc_tag>).
    type: str
    default: ppc64le
  manifest_tag:
    description:
      - Suffix of the manifest list tag, C(<full_hash><manifest_tag>).
    type: str
    default: _manifest
  per_registry_concurrency:
    description:
      - Requests in flight per registry.
      - From C(1) to C(256); a value outside counts as the nearest.
    type: int
    default: 16
  blob_concurrency:
    description:
      - Blob transfers in flight.
      - From C(1) to C(256); a value outside counts as the nearest.
    type: int
    default: 8
  retries:
    description:
      - Attempts per request, with backoff; C(Retry-After) is honoured.
      - From C(1) to C(20); a value outside counts as the nearest.
    type: int
    default: 5
  request_timeout:
    description:
      - Seconds one registry request may take in all, from its first attempt to the end of its answer - headers and
        body, its retries and their waits included. A registry that keeps the connection open and trickles its
        answer, or never answers, costs this once, not once per attempt.
      - Layers are exempt (they go at the copy's pace and must keep a minimum transfer rate instead).
      - From C(1) to C(86400); a value outside counts as the nearest.
    type: int
    default: 180
  token_timeout:
    description:
      - Seconds a token exchange with a registry's token server may take, its retries included.
      - From C(1) to C(86400); a value outside counts as the nearest.
    type: int
    default: 120
  report_json:
    description:
      - Write the JSON report of the run here. Not written in check mode.
    type: path
  report_html:
    description:
      - Write a self-contained HTML report of the run here. Not written in check mode.
    type: path
  label_source:
    description:
      - Move C(named_label) on the source registry too (after everything else succeeded), as the old role did.
    type: bool
    default: true
  keep_previous_label:
    description:
      - Before moving C(named_label), tag what it pointed at as C(previous-<named_label>), for C(action=rollback)
        (and so that registries pruning untagged images keep it).
    type: bool
    default: true
  keep_local:
    description:
      - Local copies of the promoted images (the local store) - C(on_failure) keeps them when the promotion fails (a
        rerun reads them, even if the source is down or pruned) and removes them after a verified success; C(never)
        keeps none; C(always) keeps them.
    type: str
    choices: [never, on_failure, always]
    default: on_failure
  local_store:
    description:
      - Root of the local store. When not given, C($COPY_CONTAINERS_LOCAL_ROOT), else
        C($XDG_DATA_HOME/copy-containers), else C(~/.local/share/copy-containers) (the same order as the command
        line's C(promote), C(rollback) and C(local)).
      - The store only ever deletes what it wrote. A folder that holds other files and lacks the store's marker
        (C(.copy-containers-store)) is refused with an error, nothing touched, for every action.
    type: path
  lock_timeout:
    description:
      - Seconds to wait when another run holds the local store's lock (another release promoted on the same host);
        C(0) fails at once.
      - At most C(86400); more counts as C(86400).
    type: int
    default: 600
  report_keep:
    description:
      - Reports kept per action and release in C(tmp_file_root) - after each run the older runs' reports are removed
        and the newest this many stay (the C(latest) copies aside). C(0) keeps every report.
      - Only the default report names are pruned; C(report_json) and C(report_html) are left as they are.
      - At most C(100000); more counts as C(100000).
    type: int
    default: 10
  report_group_readable:
    description:
      - Reports are this user's only (mode 0600, as they name registry users and hosts); C(true) makes them readable
        by the group too (0640).
    type: bool
    default: false
  local_max_age_days:
    description:
      - Kept local copies older than this many days are removed by every run that uses the local store (through the
        same verified delete as C(action=delete_local)); the hash the run promotes is spared. C(0) means no age
        limit.
    type: int
    default: 7
  local_max_size_gib:
    description:
      - When the local store holds more than this many GiB, every run that uses it removes the oldest kept copies
        until it does not; the hash the run promotes is spared. C(0) means no size limit.
    type: int
    default: 20
  phase_timeout:
    description:
      - Seconds each phase of the run (source check, architectures, copies and lists, verification and labels, the
        source label) may take. A phase that runs over stops the run there with an error naming it; nothing after it
        is done, so no label moves onto anything not verified. Set it below the caller's own limit (the promoter
        kills its run after 115 minutes) to get a report instead of a killed process.
      - C(0) means no limit of its own (the run's C(deadline) bounds every phase). A value not shorter than
        C(deadline) is ignored, with a warning (the deadline comes first).
      - At most C(604800); more counts as C(604800).
    type: int
    default: 0
  deadline:
    description:
      - Seconds the whole run may take, from its start. A run that reaches it stops as on SIGTERM - work in flight
        is ended or abandoned within seconds, no label moves after it, kept local copies stay, the list files it
        knows are written (the others removed, never left empty or partial) and its report says C(interrupted) - and
        the task fails, naming the deadline. Rerunning resumes the promotion.
      - The default, 90 minutes, is below the promoter's 115-minute C(timeout), so a push that has not ended by then
        stops itself with a report instead of being killed. A phase that never ends is cut sooner by
        C(phase_timeout), when set.
      - SIGTERM, SIGINT and SIGHUP stop the run the same way (the result names the signal); a second signal ends it
        at once.
      - C(0) means no limit.
      - At most C(604800); more counts as C(604800).
    type: int
    default: 5400
notes:
  - Secrets (registry C(password) and C(token)) are removed from everything the module prints -
    C(VALUE_SPECIFIED_IN_NO_LOG_PARAMETER) in C(invocation), C(********) inside messages.
    Prefer C(source_registry.password_env) so they never go through Ansible at all.
  - Ad-hoc C(-a 'k=v') arguments are converted as Ansible does - booleans from strings, lists from
    comma-separated strings, dictionaries and lists of dictionaries from JSON strings.
  - The binary is also a command line tool; see C(copy-containers --help).
seealso:
  - name: The promotion playbook
    description: ansible/container-push.yml, a drop-in for the promoter's container-push.yml.
    link: https://github.com/rdo-infra/ci-config
"""
EXAMPLES = r"""
# What the promoter's container push does (see ansible/container-push.yml)
- name: Promote the containers of a hash to quay.io
  copy_containers:
    full_hash: 360d335e94246d7095672c5aa92b59afa380a059_9e598812
    named_label: current-tripleo
    candidate_label: tripleo-ci-testing
    release: master
    distro_name: centos
    distro_version: 9
    containers_list: [aodh-api, base, neutron-server, nova-compute]
    ppc_containers_list: [aodh-api, nova-compute]
    manifest_push: true
    source_registry:
      host: quay.rdoproject.org
      namespace: tripleomastercentos9
      username: tripleomastercentos9+cirobot
      password_env: tripleomastercentos9_PASSWORD
    target_registries:
      - host: quay.io
        namespace: tripleomastercentos9
        username: "{{ lookup('env', 'QUAYDOTIO_USERNAME') }}"
        password_env: QUAYDOTIO_PASSWORD
        schema: v2_s1
  register: push

- name: Show what moved
  ansible.builtin.debug:
    msg: "{{ push.msg }}; pushed {{ push.counts.pushed }}, ppc manifests: {{ push.ppc_manifests }}"

# Only check that a promotion is complete (changes nothing)
- name: Verify
  copy_containers:
    action: verify
    full_hash: 360d335e94246d7095672c5aa92b59afa380a059_9e598812
    named_label: current-tripleo
    containers_list_file: /tmp/extra-vars.yaml
    source_registry: {host: quay.rdoproject.org, namespace: tripleomastercentos9}
    target_registries: [{host: quay.io, namespace: tripleomastercentos9, schema: v2_s1}]

# Move a label on a registry without copying anything
- name: Label
  copy_containers:
    action: tag
    full_hash: d7c3cd922f91d83aacb5d7555de9d5bc
    named_label: current-tripleo
    containers_list: [nova-compute, neutron-server]
    registries:
      - {host: quay.io, namespace: tripleomastercentos9, username: robot, password_env: QUAYDOTIO_PASSWORD}

# Ad hoc (dictionaries as JSON strings):
#   ansible localhost -M library -m copy_containers -a 'action=verify full_hash=d7c3cd922f91d83aacb5d7555de9d5bc
#     named_label=current-tripleo containers_list=nova-compute,neutron-server
#     source_registry={"host":"localhost:6000","namespace":"tripleomaster","insecure":true}
#     target_registries=[{"host":"localhost:6500","namespace":"tripleomaster","insecure":true}]'
"""
RETURN = r"""
changed:
  description: Whether a tag was moved or an image copied (in check mode - would be).
  returned: always
  type: bool
msg:
  description: A one-line summary, or what went wrong, one phrase per cause with the images it
    affected and one example (secrets masked); every single failure is in the JSON report (and in
    C(errors) and C(problems) with C(full_result)). A run stopped by a signal or its C(deadline) says so,
    in which phase, and how to resume.
  returned: always
  type: str
  sample: "promoted d7c3cd922f91d83aacb5d7555de9d5bc as current-tripleo on 2 registries: 3 containers, 17 tags changed, 0 already in place"
kind:
  description:
    - When it failed, the kind of the first cause, as C(causes) names kinds - C(invalid) for arguments
      it refused (nothing was attempted), C(unreachable), C(auth), C(tls), C(not_found), C(io), ...
  returned: when failed
  type: str
  sample: unreachable
full_hash:
  description: The hash promoted.
  returned: when the arguments are valid, except for C(action=delete_local)
  type: str
  sample: 360d335e94246d7095672c5aa92b59afa380a059_9e598812
named_label:
  description: The label applied.
  returned: when the arguments are valid, except for C(action=delete_local)
  type: str
  sample: current-tripleo
status:
  description: How the run ended - C(ok), C(failed) (it went to its end with failures) or C(interrupted)
    (stopped by SIGTERM, SIGINT, SIGHUP or its C(deadline); see C(interrupted)).
  returned: when the arguments are valid, except for C(action=delete_local)
  type: str
  sample: ok
counts:
  description: How many containers and tags are in each state (the names are in the JSON report, and in the
    lists C(found) ... C(missed) with C(full_result)).
  returned: when the arguments are valid, except for C(action=delete_local)
  type: dict
  contains:
    found:
      description: Containers found at the source with C(full_hash).
      type: int
    missing:
      description: Containers missing at the source.
      type: int
    ppc_found:
      description: Containers of C(ppc_containers_list) with C(<full_hash>_ppc64le) at the source.
      type: int
    ppc_missing:
      description: Containers of C(ppc_containers_list) without it.
      type: int
    pushed:
      description: Containers verified (and labelled) on every target.
      type: int
    missed:
      description: Containers found but not promoted on every target.
      type: int
    tags_changed:
      description: Tags copied or moved (would be, in check mode).
      type: int
    tags_in_place:
      description: Tags that already pointed at the right image.
      type: int
    local_reused:
      description: Images read from the local store instead of the source.
      type: int
    local_kept:
      description: Images kept in the local store after the run.
      type: int
    local_removed:
      description: Images removed from the local store after the run.
      type: int
  sample: {found: 150, missing: 0, ppc_found: 0, ppc_missing: 0, pushed: 150, missed: 0, tags_changed: 300,
           tags_in_place: 0, local_reused: 0, local_kept: 0, local_removed: 0}
causes:
  description: What went wrong, each cause once (empty on success) - causes first, biggest first.
  returned: when the arguments are valid, except for C(action=delete_local)
  type: list
  elements: dict
  contains:
    phase:
      description: The step it arose in, as in C(problems).
      type: str
    kind:
      description: Its kind, as in C(problems).
      type: str
    registry:
      description: The registry, when one.
      type: str
    cause:
      description: The message, per-image parts replaced by an ellipsis.
      type: str
    count:
      description: How many failures it caused.
      type: int
    images:
      description: How many containers it affected.
      type: int
    examples:
      description: The first few of them (at most 3; all are in the JSON report).
      type: list
      elements: str
    todo:
      description: What to do about it, when the cause says (as in the report's groups).
      type: str
interrupted:
  description: Why and where a stopped run stopped, what it had done and what it left.
  returned: when the run was stopped (SIGTERM, SIGINT, SIGHUP, its C(deadline))
  type: dict
  contains:
    by:
      description: C(SIGTERM), C(SIGINT), C(SIGHUP) or C(deadline).
      type: str
    phase:
      description: The phase it was in, as in C(problems).
      type: str
    done:
      description: The phases it finished.
      type: list
      elements: str
    left:
      description: The phases it did not finish (the first is C(interrupted.phase)).
      type: list
      elements: str
    list_files_unknown:
      description: List files removed because the run did not learn what they hold (never left empty or partial).
      type: list
      elements: str
found:
  description: Containers found in the source registry with C(full_hash).
  returned: with C(full_result), when the arguments are valid, except for C(action=delete_local)
  type: list
  elements: str
  sample: [base, nova-compute, neutron-server]
missing:
  description: Containers missing in the source registry (the run fails when any is).
  returned: with C(full_result), when the arguments are valid, except for C(action=delete_local)
  type: list
  elements: str
  sample: []
ppc_found:
  description: Containers of C(ppc_containers_list) that have C(<full_hash>_ppc64le) at the source.
  returned: with C(full_result), when the arguments are valid, except for C(action=delete_local)
  type: list
  elements: str
  sample: [base, nova-compute]
ppc_missing:
  description: Containers of C(ppc_containers_list) without C(<full_hash>_ppc64le) (never a failure).
  returned: with C(full_result), when the arguments are valid, except for C(action=delete_local)
  type: list
  elements: str
  sample: [neutron-server]
ppc_manifests:
  description:
    - Whether the manifest lists carry C(ppc64le) for every container of C(ppc_containers_list) -
      C(ppc_manifests) and no C(ppc64le) image missing.
  returned: when C(action) is C(promote) or C(verify) and the arguments are valid
  type: bool
  sample: false
ppc_checked:
  description:
    - Whether the C(<full_hash>_ppc64le) images were looked for - the source check passed, and the run
      pushed with C(manifest_push) and C(ppc_manifests) to a C(v2_s2) target - which is when the old role
      appended C(ppc_manifests) with the value of C(ppc_manifests) to the stage-info file. The staging
      playbook does the same.
  returned: when C(action) is C(promote) or C(verify) and the arguments are valid
  type: bool
  sample: true
pushed:
  description: Containers verified on every target.
  returned: with C(full_result), when the arguments are valid, except for C(action=delete_local)
  type: list
  elements: str
  sample: [base, nova-compute, neutron-server]
missed:
  description: Containers not verified on some target.
  returned: with C(full_result), when the arguments are valid, except for C(action=delete_local)
  type: list
  elements: str
  sample: []
errors:
  description: Everything that went wrong (empty on success).
  returned: with C(full_result), when the arguments are valid, except for C(action=delete_local)
  type: list
  elements: str
  sample: []
problems:
  description: The same failures as C(errors), typed, one per line of C(errors).
  returned: with C(full_result), when the arguments are valid, except for C(action=delete_local)
  type: list
  elements: dict
  contains:
    phase:
      description: The step it arose in (C(setup), C(source_check), C(architectures), C(repositories),
        C(copy), C(lists), C(verify), C(label), C(source_label), C(local_store), C(list_files), C(reports)).
      type: str
    kind:
      description: The cause (C(unreachable), C(auth), C(tls), C(http), C(busy), C(not_found),
        C(digest_mismatch), C(unsupported), C(invalid), C(io), C(verification), C(not_attempted), C(deadline),
        C(interrupted), C(other)).
      type: str
    container:
      description: The container it concerns, when one.
      type: str
    registry:
      description: The registry it concerns, when one.
      type: str
    tag:
      description: The tag it concerns, when one.
      type: str
    message:
      description: The cause alone.
      type: str
    text:
      description: The whole line, as in C(errors).
      type: str
problem_groups:
  description: C(problems) grouped by cause (registry, kind, message without per-image parts), causes
    first, biggest first.
  returned: with C(full_result), when the arguments are valid, except for C(action=delete_local)
  type: list
  elements: dict
  contains:
    phase:
      description: The step of the group's first problem.
      type: str
    kind:
      description: The cause's kind, as in C(problems).
      type: str
    registry:
      description: The registry, when one.
      type: str
    cause:
      description: The shared message, per-image parts replaced by an ellipsis.
      type: str
    containers:
      description: The containers affected.
      type: list
      elements: str
    count:
      description: How many problems the group holds.
      type: int
    todo:
      description: What to do about the cause, when the tool can say (the password's variable, the folder to fix, ...).
      type: str
plan:
  description: What a promotion planned per target before anything was read there (shown in check mode).
  returned: in check mode (or with C(full_result)), when a promotion reached planning
  type: dict
  contains:
    containers:
      description: Containers found at the source.
      type: int
    targets:
      description: Per target - images copied, tags, manifest lists, tags read back, label moves.
      type: list
      elements: dict
    source_label:
      description: Whether the source's label moves last.
      type: bool
containers:
  description: Per container, what happened to each tag on each registry.
  returned: with C(full_result), when the arguments are valid, except for C(action=delete_local)
  type: list
  elements: dict
  contains:
    name:
      description: The container name, without prefix.
      type: str
      sample: nova-compute
    source_image:
      description: The source image reference.
      type: str
      sample: quay.rdoproject.org/tripleomastercentos9/openstack-nova-compute:d7c3cd922f91d83aacb5d7555de9d5bc
    source_digest:
      description: Digest of the source manifest (null when missing).
      type: str
      sample: sha256:3e91f99dd9d379ec2ff1fbd8f7adf99fb7b36021423c240964f4082b63cb310f
    manifest_architectures:
      description: Architectures put in C(<full_hash>_manifest) (empty when no list was built).
      type: list
      elements: str
      sample: [amd64, ppc64le]
    pushed:
      description: Verified on every target.
      type: bool
    entries:
      description: One per registry and tag.
      type: list
      elements: dict
      contains:
        registry:
          description: The registry's name (or host).
          type: str
          sample: quay.io
        repository:
          description: The repository, C(<namespace>/<prefix>-<name>).
          type: str
          sample: tripleomastercentos9/openstack-nova-compute
        tag:
          description: The tag.
          type: str
          sample: d7c3cd922f91d83aacb5d7555de9d5bc_manifest
        digest:
          description: The digest the tag points at (should point at).
          type: str
        previous:
          description: The digest the tag pointed at before the run (null when absent).
          type: str
        action:
          description: What was done.
          type: str
          choices: [copied, mounted, tagged, already_present, would_change, skipped, failed]
        verified:
          description: Verification result (null when not verified - check mode, skipped).
          type: bool
        blobs_uploaded:
          description: Blobs uploaded.
          type: int
        blobs_mounted:
          description: Blobs mounted from another repository of the registry.
          type: int
        blobs_present:
          description: Blobs already there.
          type: int
        bytes_uploaded:
          description: Bytes uploaded.
          type: int
        seconds:
          description: Time taken.
          type: float
        error:
          description: What went wrong (null when nothing did).
          type: str
registries:
  description: The run's registries with their request counters (counted once, at the transport).
  returned: with C(full_result), when the arguments are valid, except for C(action=delete_local)
  type: list
  elements: dict
  contains:
    name:
      description: The registry's name (its host unless named).
      type: str
    host:
      description: Its host (C(name[:port])).
      type: str
    role:
      description: C(source) or C(target).
      type: str
    requests:
      description: HTTP requests sent.
      type: int
    retries:
      description: Requests retried.
      type: int
    token_fetches:
      description: Bearer tokens fetched.
      type: int
    bytes_sent:
      description: Bytes sent.
      type: int
    bytes_received:
      description: Bytes received.
      type: int
local:
  description: The local store's part in the run.
  returned: when C(action) is C(promote), C(verify), C(tag) or C(rollback) and the arguments are valid
  type: dict
  contains:
    root:
      description: The local store's root (null when not used).
      type: str
    reused:
      description: Images read from the local store instead of the source (with C(full_result)).
      type: list
      elements: str
    kept:
      description: Images kept in the local store after the run (with C(full_result)).
      type: list
      elements: str
    removed:
      description: Images removed from the local store after the run (with C(full_result)).
      type: list
      elements: str
    bytes:
      description: Bytes the kept images take.
      type: int
freed_bytes:
  description: Bytes freed (would be, in check mode).
  returned: when C(action=delete_local)
  type: int
deleted:
  description: One report per deletion.
  returned: when C(action=delete_local)
  type: list
  elements: dict
  contains:
    scope:
      description: What was asked, in words.
      type: str
    removed:
      description: The image references removed (would be, in check mode), with release, container, tag, digest, size.
      type: list
      elements: dict
    freed_bytes:
      description: Bytes of blob files removed.
      type: int
    blobs_removed:
      description: Blob files removed.
      type: int
    releases_removed:
      description: Release folders removed.
      type: list
      elements: str
    verification:
      description: The check of the store after the deletion (ok, references, blobs, bytes, problems, warnings).
      type: dict
    changed:
      description: Whether anything changed (would, in check mode).
      type: bool
    dry_run:
      description: Check mode.
      type: bool
    warnings:
      description: Things worth knowing that did not stop the deletion.
      type: list
      elements: str
local_store:
  description: The local store's root.
  returned: when C(action=delete_local)
  type: str
report_files:
  description: Files written (list files, reports); empty in check mode.
  returned: when the arguments are valid, except for C(action=delete_local)
  type: list
  elements: str
  sample: [/var/tmp/promoter_logs/parsed_containers-centos-9-master.txt]
seconds:
  description: Duration of the run.
  returned: when the arguments are valid, except for C(action=delete_local)
  type: float
  sample: 4.2
diff:
  description: The tags that move, C(<registry>/<repository>:<tag> <digest>) before and after.
  returned: in diff mode, when the arguments are valid
  type: dict
  contains:
    before:
      description: Digests before (C((absent)) for a new tag).
      type: str
    after:
      description: Digests after.
      type: str
    before_header:
      description: C(tags before).
      type: str
    after_header:
      description: C(tags after).
      type: str
"""
# END GENERATED

import json
import os
import sys

BINARY = "copy-containers"


def candidates():
    explicit = os.environ.get("COPY_CONTAINERS_BIN", "").strip()
    if explicit:
        yield "COPY_CONTAINERS_BIN", explicit
        return
    yield "beside " + sys.executable, os.path.join(os.path.dirname(sys.executable), BINARY)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if d:
            yield "PATH", os.path.join(d, BINARY)


def fail(msg):
    print(json.dumps({"failed": True, "changed": False, "msg": msg}))
    sys.exit(1)


def main():
    if len(sys.argv) != 2:
        fail("copy_containers is an Ansible module: it takes the path of Ansible's arguments file")
    tried = []
    for where, path in candidates():
        if os.path.isfile(path) and os.access(path, os.X_OK):
            try:
                os.execv(path, [path, sys.argv[1]])
            except OSError as e:
                fail("cannot run the copy-containers binary %s (%s): %s" % (path, where, e))
        if where != "PATH":
            tried.append("%s (%s)" % (path, where))
    if os.environ.get("COPY_CONTAINERS_BIN", "").strip():
        fail(
            "COPY_CONTAINERS_BIN=%s is not an executable file: point it at the copy-containers binary"
            % os.environ["COPY_CONTAINERS_BIN"]
        )
    tried.append("PATH=%s" % os.environ.get("PATH", ""))
    fail(
        "the copy-containers binary was not found (looked at %s): install the copy-containers wheel "
        "(built by scripts/build-wheel in a copy-containers checkout; see its docs/promoter.md) into "
        "the Python environment that runs Ansible with `pip install <the wheel>`, or build it with "
        "`cargo build --release` in a copy-containers checkout and set "
        "COPY_CONTAINERS_BIN=<checkout>/target/release/copy-containers" % ", ".join(tried)
    )


if __name__ == "__main__":
    main()
