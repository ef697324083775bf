//! Shared helpers for the integration tests: registry clients for testkit registries, promotion
//! arguments, and running the binary.
#![allow(dead_code)]

pub mod staging;

use std::path::Path;

use copy_containers::promote::{PromoteArgs, RegistryArgs};
use copy_containers::registry::Registry;
use copy_containers::transport::{Credentials, RegistryConfig};
use copy_containers_testkit as tk;

/// A client config for a testkit registry (plain → insecure; TLS → its CA; credentials if any).
pub fn config_for(r: &tk::Registry) -> RegistryConfig {
    let mut c = RegistryConfig::new(r.host());
    c.insecure = !r.is_tls();
    c.ca_file = r.ca_pem_path();
    if let Some((u, p)) = r.credentials() {
        c.credentials = Credentials::basic(u, p);
    }
    c.retry.base_delay = std::time::Duration::from_millis(20);
    c
}

pub fn client(r: &tk::Registry) -> Registry {
    Registry::new(config_for(r)).expect("client")
}

/// A client for a plain-HTTP address (a proxy, a fake server).
pub fn plain_client(host: &str) -> Registry {
    let mut c = RegistryConfig::new(host);
    c.insecure = true;
    c.retry.base_delay = std::time::Duration::from_millis(20);
    Registry::new(c).expect("client")
}

/// Registry args for the promotion model.
pub fn registry_args(r: &tk::Registry, namespace: &str) -> RegistryArgs {
    RegistryArgs {
        host: r.host(),
        namespace: Some(namespace.into()),
        insecure: Some(!r.is_tls()),
        ca_file: r.ca_pem_path(),
        username: r.credentials().map(|c| c.0),
        password: r
            .credentials()
            .map(|c| copy_containers::transport::Secret::new(c.1)),
        ..Default::default()
    }
}

/// Registry args for a plain-HTTP address (a proxy in front of a registry).
pub fn proxy_args(host: &str, namespace: &str) -> RegistryArgs {
    RegistryArgs {
        host: host.into(),
        namespace: Some(namespace.into()),
        insecure: Some(true),
        ..Default::default()
    }
}

pub const FH: &str = "d7c3cd922f91d83aacb5d7555de9d5bc";
pub const NS: &str = "tripleomaster";

/// Promotion arguments for a staged release.
pub fn promote_args(
    source: RegistryArgs,
    targets: Vec<RegistryArgs>,
    containers: &[&str],
    tmp: &Path,
) -> PromoteArgs {
    PromoteArgs {
        full_hash: Some(FH.into()),
        named_label: Some("current-tripleo".into()),
        containers: Some(containers.iter().map(|s| s.to_string()).collect()),
        source_registry: Some(source),
        target_registries: Some(targets),
        tmp_file_root: Some(tmp.to_path_buf()),
        local_store: Some(tmp.join("store")),
        retries: Some(3),
        ..Default::default()
    }
}

/// The binary under test, with its own local store (never the user's).
pub fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_copy-containers"));
    let data = tempfile::tempdir().expect("temp dir").keep();
    c.env("XDG_DATA_HOME", data);
    c
}

/// A staged release on `reg` (names from TripleO's list, small layers).
pub async fn stage(
    reg: &Registry,
    names: &[&str],
    ppc_missing: &[&str],
) -> Vec<copy_containers::stage::StagedImage> {
    let opts = copy_containers::stage::StageOptions {
        names: names.iter().map(|s| s.to_string()).collect(),
        ppc_missing: ppc_missing.iter().map(|s| s.to_string()).collect(),
        base_layer_size: 32 << 10,
        unique_layer_size: 8 << 10,
        ..Default::default()
    };
    copy_containers::stage::stage(reg, &opts).await.expect("stage")
}
