//! `/tmp/stage-info.yaml` as ci-config's staging writes it (`ci-scripts/dlrnapi_promoter`):
//! `StagingRegistries` builds each registry from the staging config (`name`, `port`, `secure`,
//! `schema`) with `host: localhost:<port>`, `url: http://localhost:<port>` — for every registry, the
//! secure one too — and the namespace; a `secure` one gets `username: username`,
//! `password: password` and `auth_url: https://localhost:<port>`, the others `unused`; the first
//! `source` wins, every `target` is appended. `StageOrchestrator` dumps the whole stage info with
//! `yaml.safe_dump`: block style, keys sorted. The `dlrn` and `containers` parts carry what the
//! promoter's checks and the module read, in the same format.

/// A registry of the staging config (`config_environments/staging/*.yaml`: `registries`).
pub struct Staged {
    pub name: &'static str,
    pub port: u16,
    pub secure: bool,
}

impl Staged {
    pub fn host(&self) -> String {
        format!("localhost:{}", self.port)
    }
}

/// One registry entry, as `yaml.safe_dump` writes it at `indent` (keys sorted).
fn registry(r: &Staged, namespace: &str, first: &str, rest: &str) -> String {
    let (user, password) = match r.secure {
        true => ("username", "password"),
        false => ("unused", "unused"),
    };
    let mut keys: Vec<(&str, String)> = vec![
        ("host", r.host()),
        ("name", r.name.to_string()),
        ("namespace", namespace.to_string()),
        ("password", password.to_string()),
        ("port", r.port.to_string()),
        ("schema", "v2_s2".to_string()),
        ("secure", r.secure.to_string()),
        ("url", format!("http://{}", r.host())),
        ("username", user.to_string()),
    ];
    if r.secure {
        keys.insert(0, ("auth_url", format!("https://{}", r.host())));
    }
    keys.iter()
        .enumerate()
        .map(|(i, (k, v))| format!("{}{k}: {v}\n", if i == 0 { first } else { rest }))
        .collect()
}

/// The stage-info file for a candidate `full_hash` (commit `commit_hash`, distro `distro_hash`),
/// its registries, and the images the containers scene pushed (`<namespace>/<name>:<tag>`).
pub fn stage_info_yaml(
    full_hash: &str,
    namespace: &str,
    source: &Staged,
    targets: &[Staged],
    images: &[String],
) -> String {
    let mut y = String::new();
    y.push_str("containers:\n");
    y.push_str("  containers_list_base_url: file:///tmp/promoter-staging/containers/tripleo-common\n");
    y.push_str(
        "  containers_list_exclude_config: file:///tmp/promoter-staging/containers/build-containers-main.yaml\n",
    );
    y.push_str("  images:\n");
    for i in images {
        y.push_str(&format!("  - {i}\n"));
    }
    y.push_str("dlrn:\n");
    y.push_str("  promotion_target: tripleo-ci-staging-promoted\n");
    y.push_str("  promotions:\n");
    y.push_str("    promotion_candidate:\n");
    y.push_str(&format!("      full_hash: {full_hash}\n"));
    y.push_str("      name: tripleo-ci-staging\n");
    y.push_str("  server:\n");
    y.push_str("    api_url: http://localhost:58080\n");
    y.push_str("    repo_url: file:///tmp/promoter-staging/dlrn/data/repos/centos8-master\n");
    y.push_str("main:\n");
    y.push_str("  distro_name: centos\n");
    y.push_str("  distro_version: '8'\n");
    y.push_str("  log_file: ~/web/promoter_logs/centos8_master.log\n");
    y.push_str("  pipeline_type: single\n");
    y.push_str("  promoter_user: promoter\n");
    y.push_str("  release: master\n");
    y.push_str("  scenes:\n  - registries\n  - dlrn\n  - containers\n");
    y.push_str("registries:\n");
    y.push_str("  source:\n");
    y.push_str(&registry(source, namespace, "    ", "    "));
    y.push_str("  targets:\n");
    for t in targets {
        y.push_str(&registry(t, namespace, "  - ", "    "));
    }
    y
}
