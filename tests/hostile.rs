//! Hostile registries: servers on loopback that try to steal credentials, plant symlinks, send
//! endless bodies. Each test reproduces one finding of issue 14 and checks its outcome (listed in
//! docs/reliability.md, "Hostile registry"); real `docker-registry` processes where the registry's
//! own part matters.

#![allow(clippy::result_large_err)]

mod common;

use std::net::{IpAddr, Ipv4Addr};

use copy_containers::digest::Digest;
use copy_containers::error::Error;
use copy_containers::registry::Registry;
use copy_containers::transport::{Credentials, RegistryConfig};
use copy_containers_testkit::{
    self as tk, seed, FakeHttp, FaultAction, FaultRule, Proxy, RedirectSink, Route,
};

/// A Basic-auth registry redirects a blob GET to another origin, whose 401 names a Bearer realm on a
/// third origin: the registry's credentials must go to neither, and no foreign token is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_target_cannot_choose_where_credentials_go() {
    let reg = tk::Registry::tls_htpasswd("robot", "redirect-secret-1").unwrap();
    let img = seed::seed_image(&reg, "steal/img", "v1", "amd64", 1)
        .await
        .unwrap();
    let thief = FakeHttp::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), 0).unwrap();
    thief.set(
        "/steal",
        Route::json(&serde_json::json!({"token": "stolen-token-xyz"})),
    );
    let storage = FakeHttp::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0).unwrap();
    storage.set_fallback(Some(Route::new(401, "text/plain", "unauthorized").header(
        "WWW-Authenticate",
        &format!(r#"Bearer realm="{}/steal",service="x""#, thief.url()),
    )));
    let proxy = Proxy::start_with(tk::ProxyOptions {
        upstream: reg.url(),
        upstream_ca: reg.ca_pem_path(),
        ..Default::default()
    })
    .unwrap();
    proxy.add_rule(
        FaultRule::new(FaultAction::Redirect(format!("{}/blob", storage.url())))
            .method("GET")
            .path_contains("/blobs/")
            .always(),
    );
    let mut c = RegistryConfig::new(proxy.host());
    c.insecure = true;
    c.credentials = Credentials::basic("robot", "redirect-secret-1");
    c.retry.base_delay = std::time::Duration::from_millis(20);
    let r = copy_containers::registry::Registry::new(c).unwrap();
    let d: Digest = img.layers[0].digest.parse().unwrap();
    let err = r.get_blob_bytes("steal/img", &d, 1 << 24).await.unwrap_err();
    assert!(
        thief.requests().is_empty(),
        "the foreign realm was asked for a token: {:?}",
        thief.requests()
    );
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(err.to_string().contains("redirect target"), "{err}");
    assert!(
        storage
            .requests()
            .iter()
            .all(|q| q.header("authorization").is_none()),
        "credentials reached the redirect target"
    );
    assert!(!storage.requests().is_empty());
    // The registry's own challenge still works afterwards.
    r.get_manifest("steal/img", "v1").await.unwrap();
}

/// An HTTPS registry (real, TLS + htpasswd, behind an HTTPS front: the counting proxy) redirects
/// blob GETs. To a storage host over HTTPS (as quay.io sends layers to its CDN) the blob comes,
/// verified, and the storage host never sees the credentials. To plain HTTP the redirect is not
/// followed: an HTTP error saying so and naming where it pointed (scheme, host and port: a storage
/// URL's query may hold a signature), and the plain-HTTP host is never asked. Before: followed
/// (without credentials, but the body was read and shown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_never_leaves_https() {
    use futures_util::StreamExt;
    let reg = tk::Registry::tls_htpasswd("robot", "downgrade-pw-1").unwrap();
    let img = seed::seed_image(&reg, "red/img", "v1", "amd64", 1).await.unwrap();
    let layer = seed::fetch_blob(&reg, "red/img", &img.layers[0].digest)
        .await
        .unwrap()
        .unwrap();
    let ca = std::sync::Arc::new(tk::TestCa::new().unwrap());
    let cdn = RedirectSink::start_tls(layer.clone(), &ca).unwrap();
    let plain = RedirectSink::start(layer.clone()).unwrap();
    let front = Proxy::start_with(tk::ProxyOptions {
        upstream: reg.url(),
        upstream_ca: reg.ca_pem_path(),
        tls: Some(ca.clone()),
        ..Default::default()
    })
    .unwrap();
    let blobs = |to: String| {
        FaultRule::new(FaultAction::Redirect(to))
            .method("GET")
            .path_contains("/blobs/")
            .always()
    };
    front.add_rule(blobs(cdn.url("/blob?sig=cdn-signature")));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    ca.write_ca(&ca_file).unwrap();
    let mut c = RegistryConfig::new(front.host());
    c.ca_file = Some(ca_file);
    c.credentials = Credentials::basic("robot", "downgrade-pw-1");
    c.retry.base_delay = std::time::Duration::from_millis(20);
    let r = Registry::new(c).unwrap();
    let d: Digest = img.layers[0].digest.parse().unwrap();
    // Whole, and streamed as the copy engine reads layers.
    let bytes = r.get_blob_bytes("red/img", &d, 1 << 24).await.unwrap();
    assert_eq!(bytes.as_ref(), layer.as_slice());
    let mut s = r.get_blob("red/img", &d, Some(layer.len() as u64)).await.unwrap();
    let mut streamed = Vec::new();
    while let Some(c) = s.next().await {
        streamed.extend_from_slice(&c.unwrap());
    }
    assert_eq!(streamed, layer);
    assert_eq!(cdn.hits(), 2);
    assert!(!cdn.any_authorization(), "credentials followed the redirect");
    // To plain HTTP: refused.
    front.clear_rules();
    front.add_rule(blobs(plain.url("/blob?sig=plain-signature")));
    let err = r.get_blob_bytes("red/img", &d, 1 << 24).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Http { status: 307, .. }), "{text}");
    assert!(
        text.contains("redirected to plain HTTP") && text.contains(&plain.url("")),
        "{text}"
    );
    assert!(!text.contains("plain-signature"), "{text}");
    assert_eq!(plain.hits(), 0, "the plain-HTTP host was asked");
    // The registry itself still answers over HTTPS.
    r.get_manifest("red/img", "v1").await.unwrap();
}

/// A target whose writes are redirected to another host (a sink that answers `201` and even the
/// right `Docker-Content-Digest`): a manifest push, an upload's final PUT (in memory and streamed)
/// are not sent there, each fails naming the redirect, and the registry holds nothing; reading back
/// a manifest from a registry written to is not followed off its origin either, while a source's
/// reads still follow. Before: the sink's `201` and digest counted as the target's acknowledgement,
/// so the image was reported pushed and verified though the target never stored it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_redirected_to_another_host_fails_and_is_not_counted() {
    let reg = tk::Registry::plain().unwrap();
    let img = seed::seed_image(&reg, "w/img", "v1", "amd64", 1).await.unwrap();
    let proxy = Proxy::for_registry(&reg).unwrap();
    let sink = FakeHttp::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0).unwrap();
    sink.set_fallback(Some(
        Route::new(201, "application/octet-stream", Vec::new()).header("Docker-Content-Digest", &img.digest),
    ));
    let writes = |method: &str, path: &str| {
        FaultRule::new(FaultAction::Redirect(format!("{}/stored?sig=s3cr3t", sink.url())))
            .method(method)
            .path_contains(path)
            .always()
    };
    proxy.add_rule(writes("PUT", "/manifests/"));
    proxy.add_rule(writes("PUT", "/blobs/uploads/"));
    let r = common::plain_client(&proxy.host());
    let bytes = bytes::Bytes::from(img.manifest.clone());
    let err = r
        .put_manifest_acked("w/img", "v2", &img.media_type, bytes.clone())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Http { status: 307, .. }), "{text}");
    assert!(
        text.contains(&format!(
            "answered the manifest push with a redirect to {}; writes are not followed",
            sink.url()
        )),
        "{text}"
    );
    assert!(!text.contains("s3cr3t"), "{text}");
    // A blob upload's final PUT, from memory and streamed.
    let blob = seed::random_layer(77, 4096);
    let d = Digest::sha256(&blob);
    let err = r
        .upload_bytes("w/img", &d, bytes::Bytes::from(blob.clone()))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("answered the upload with a redirect to"),
        "{err}"
    );
    let loc = r.start_upload("w/img").await.unwrap();
    let chunk: copy_containers::Result<bytes::Bytes> = Ok(bytes::Bytes::from(blob.clone()));
    let stream: copy_containers::registry::BlobStream = Box::pin(futures_util::stream::iter([chunk]));
    let err = r
        .put_upload_stream("w/img", loc, &d, blob.len() as u64, stream)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("answered the upload with a redirect to"),
        "{err}"
    );
    assert_eq!(sink.requests().len(), 0, "a write was sent to the sink");
    let direct = common::plain_client(&reg.host());
    assert!(direct.head_manifest("w/img", "v2").await.unwrap().is_none());
    assert!(direct.blob_exists("w/img", &d).await.unwrap().is_none());
    // Reading back a registry written to stays on its origin; a source's reads still follow.
    proxy.clear_rules();
    proxy.add_rule(
        FaultRule::new(FaultAction::Redirect(format!("{}/elsewhere", sink.url())))
            .path_contains("/manifests/v9")
            .always(),
    );
    sink.set_fallback(Some(
        Route::new(200, &img.media_type, img.manifest.clone()).header("Docker-Content-Digest", &img.digest),
    ));
    let target = r.clone().written_to();
    for e in [
        target.head_manifest("w/img", "v9").await.unwrap_err(),
        target.get_manifest("w/img", "v9").await.unwrap_err(),
    ] {
        assert!(e.to_string().contains("read-back of what was pushed"), "{e}");
    }
    assert_eq!(sink.requests().len(), 0, "a read-back left the target's origin");
    let read = r.head_manifest("w/img", "v9").await.unwrap().unwrap();
    assert_eq!(read.digest.as_str(), img.digest);
    assert_eq!(sink.requests().len(), 1);
}

/// A source whose manifest list names 2,000 images (well within the 4 MiB manifest cap; 19,500
/// fit): the copy is refused as the list is read, with an error saying how many it names and the
/// cap, and no child is fetched. Before: every child was asked for (19,501 GETs, 147 s for the
/// largest list that fits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_list_naming_thousands_of_images_is_refused_unread() {
    use copy_containers::copy::{copy_batch, CopyOptions, CopyRequest, Endpoint};
    use copy_containers::manifest::{build_docker_list, media, ConfigPlatform, Descriptor};
    let children: Vec<_> = (0..2000)
        .map(|i: u32| {
            let d = Descriptor {
                media_type: media::DOCKER_V2S2.into(),
                digest: Digest::sha256(&i.to_be_bytes()),
                size: 500,
            };
            let p = ConfigPlatform {
                architecture: "amd64".into(),
                os: "linux".into(),
                variant: Some(format!("v{i}")),
            };
            (d, p)
        })
        .collect();
    let list = build_docker_list(&children);
    assert!(list.len() < 4 << 20);
    let src = FakeHttp::start().unwrap();
    src.set(
        "/v2/ns/app/manifests/v1",
        Route::new(200, media::DOCKER_LIST, list.to_vec()),
    );
    let s = common::plain_client(&src.addr().to_string());
    let dst = common::plain_client("127.0.0.1:9");
    let req = CopyRequest {
        source: Endpoint::new(&s, "ns/app"),
        reference: "v1".into(),
        dests: vec![(Endpoint::new(&dst, "ns/app"), vec!["v1".into()])],
        known: None,
    };
    let out = copy_batch(&[req], &CopyOptions::default()).await.remove(0);
    let err = out.error.clone().expect("the copy must fail");
    assert!(err.contains("names 2000 images, more than the 256"), "{err}");
    let manifest_gets = src
        .requests()
        .iter()
        .filter(|q| q.path.contains("/manifests/"))
        .count();
    assert_eq!(manifest_gets, 1, "{err}");
}

/// A source whose image manifest names 1,001 layers (container engines stop at 127; the 4 MiB
/// manifest cap fits some 20,000): the copy is refused as the manifest is read, saying how many it
/// names and the cap, before any blob request. Before: every layer was asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_naming_a_thousand_layers_is_refused_unread() {
    use copy_containers::copy::{copy_batch, CopyOptions, CopyRequest, Endpoint};
    use copy_containers::manifest::{media, MAX_LAYERS};
    let layer = |i: u32| {
        serde_json::json!({
            "mediaType": media::DOCKER_LAYER_GZIP,
            "size": 1000,
            "digest": Digest::sha256(&i.to_be_bytes()).to_string(),
        })
    };
    let image = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::DOCKER_V2S2,
        "config": {"mediaType": media::DOCKER_CONFIG, "size": 2, "digest": Digest::sha256(b"{}").to_string()},
        "layers": (0..=MAX_LAYERS as u32).map(layer).collect::<Vec<_>>(),
    });
    let src = FakeHttp::start().unwrap();
    src.set(
        "/v2/ns/app/manifests/v1",
        Route::new(200, media::DOCKER_V2S2, image.to_string()),
    );
    let s = common::plain_client(&src.addr().to_string());
    let dst = common::plain_client("127.0.0.1:9");
    let req = CopyRequest {
        source: Endpoint::new(&s, "ns/app"),
        reference: "v1".into(),
        dests: vec![(Endpoint::new(&dst, "ns/app"), vec!["v1".into()])],
        known: None,
    };
    let out = copy_batch(&[req], &CopyOptions::default()).await.remove(0);
    let err = out.error.clone().expect("the copy must fail");
    assert!(err.contains("names 1001 layers, more than the 1000"), "{err}");
    let asked: Vec<String> = src.requests().iter().map(|q| q.path.clone()).collect();
    assert!(asked.iter().all(|p| !p.contains("/blobs/")), "{asked:?}");
    assert_eq!(asked.len(), 1, "{asked:?}");
}

/// Someone who can write to `tmp_file_root` plants symlinks at the names the tool used to write
/// through (`<path>.tmp.<pid>`) and at the destinations themselves: every list file and report is
/// still written, and the files the symlinks point at are untouched.
#[test]
fn symlinks_planted_in_tmp_file_root_are_not_followed() {
    use copy_containers::report::{self, listfiles::ListFiles, Report};
    use std::os::unix::fs::symlink;
    let root = tempfile::tempdir().unwrap();
    let victims = tempfile::tempdir().unwrap();
    let files = ListFiles::new(root.path(), "centos-9-master");
    let report_json = root.path().join("report.json");
    let report_html = root.path().join("report.html");
    let mut targets: Vec<std::path::PathBuf> = files.all().iter().map(|p| p.to_path_buf()).collect();
    targets.push(report_json.clone());
    targets.push(report_html.clone());
    let mut planted = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let old_tmp = t.with_extension(format!("tmp.{}", std::process::id()));
        if old_tmp.symlink_metadata().is_ok() {
            continue; // report.json and report.html share it
        }
        let victim = victims.path().join(format!("victim-{i}"));
        std::fs::write(&victim, "precious\n").unwrap();
        symlink(&victim, &old_tmp).unwrap();
        planted.push(victim);
    }
    // The destination itself a symlink: replaced, not written through.
    let dest_victim = victims.path().join("dest-victim");
    std::fs::write(&dest_victim, "precious\n").unwrap();
    symlink(&dest_victim, &files.pushed).unwrap();

    files.truncate_all().unwrap();
    report::listfiles::write(&files.pushed, "openstack", &["nova-compute".into()]).unwrap();
    let r = Report::default();
    r.write_json(&report_json).unwrap();
    report::html::write(&r, &report_html).unwrap();

    for v in planted.iter().chain([&dest_victim]) {
        assert_eq!(
            std::fs::read_to_string(v).unwrap(),
            "precious\n",
            "{} was written through a symlink",
            v.display()
        );
    }
    let meta = std::fs::symlink_metadata(&files.pushed).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the destination symlink was written through"
    );
    assert_eq!(
        std::fs::read_to_string(&files.pushed).unwrap(),
        "openstack-nova-compute\n"
    );
    assert!(std::fs::read_to_string(&report_json).unwrap().starts_with('{'));
    // No temporary file is left behind (the planted symlinks are all that remains besides the outputs).
    let left: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

const HUGE: u64 = 256 << 20;
/// Loopback socket buffers hold a few MiB: a client that stops reading at its cap lets the server
/// write no more than that.
const READ_AT_MOST: u64 = 32 << 20;

async fn sent_after_settling(h: &tk::HostileHttp) -> u64 {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    h.body_bytes()
}

/// A registry's 400 with a 256 MiB body: the error names the status, is short, and the client read
/// only the start of the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_registry_error_body_is_not_read_whole() {
    let h = tk::HostileHttp::start(tk::Misbehaviour::HugeBody {
        status: 400,
        len: Some(HUGE),
    })
    .unwrap();
    let r = common::plain_client(&h.host());
    let err = r.get_manifest("ns/app", "v1").await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("400"), "{msg}");
    assert!(msg.len() < 1000, "{} characters", msg.len());
    let sent = sent_after_settling(&h).await;
    assert!(
        sent < READ_AT_MOST,
        "the client read {sent} bytes of an error body"
    );
    // An endless one ends too.
    let endless = tk::HostileHttp::start(tk::Misbehaviour::HugeBody {
        status: 400,
        len: None,
    })
    .unwrap();
    let r = common::plain_client(&endless.host());
    let err = r.get_manifest("ns/app", "v1").await.unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    assert!(sent_after_settling(&endless).await < READ_AT_MOST);
}

/// The same from an HTTP source (Zuul, DLRN, opendev).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_source_error_body_is_not_read_whole() {
    use copy_containers::sources::http::{Fetcher, HttpOptions};
    let h = tk::HostileHttp::start(tk::Misbehaviour::HugeBody {
        status: 400,
        len: Some(HUGE),
    })
    .unwrap();
    let f = Fetcher::new(HttpOptions::default()).unwrap();
    let url = url::Url::parse(&format!("{}/api/builds", h.url())).unwrap();
    let err = f.get(&url).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("400") && msg.len() < 1000, "{msg}");
    let sent = sent_after_settling(&h).await;
    assert!(
        sent < READ_AT_MOST,
        "the client read {sent} bytes of an error body"
    );
}

/// An HTTP source (Zuul, DLRN, opendev) that trickles its answer, a byte every 200 ms (the read
/// timeout never fires): the GET ends at its `request_timeout`, once for all its attempts, on the
/// first connection (was: each of 4 attempts up to 600 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_source_ends_at_its_request_timeout() {
    use copy_containers::sources::http::{Fetcher, HttpOptions};
    let h = tk::HostileHttp::start(tk::Misbehaviour::Trickle {
        status: 200,
        len: 1 << 20,
        every: std::time::Duration::from_millis(200),
    })
    .unwrap();
    let f = Fetcher::new(HttpOptions {
        request_timeout: std::time::Duration::from_secs(2),
        ..HttpOptions::default()
    })
    .unwrap();
    let url = url::Url::parse(&format!("{}/api/builds", h.url())).unwrap();
    let err = f.get(&url).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("request_timeout") && msg.contains("2 s"), "{msg}");
    assert_eq!(
        copy_containers::error::Kind::of(&err),
        copy_containers::error::Kind::Unreachable
    );
    assert_eq!(h.connections(), 1, "one deadline for every attempt: {msg}");
}

/// And from the Quay API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_quay_error_body_is_not_read_whole() {
    use copy_containers::promote::RegistryArgs;
    use copy_containers::quay::{Quay, QuaySpec};
    let h = tk::HostileHttp::start(tk::Misbehaviour::HugeBody {
        status: 400,
        len: Some(HUGE),
    })
    .unwrap();
    let args = RegistryArgs {
        host: "quay.example.org".into(),
        namespace: Some("ns".into()),
        create_repo: Some(true),
        token: Some(copy_containers::transport::Secret::new("quay-token-123456")),
        quay_api: Some(format!("{}/api/v1/", h.url())),
        ..Default::default()
    };
    let spec = QuaySpec::from_registry_args(&args, "target_registries[0]", None)
        .unwrap()
        .unwrap();
    let err = Quay::new(spec).unwrap().list_repositories().await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("400") && msg.len() < 1000, "{msg}");
    let sent = sent_after_settling(&h).await;
    assert!(
        sent < READ_AT_MOST,
        "the client read {sent} bytes of an error body"
    );
}

/// A listener that resets every connection: a manifest GET and a config-blob GET each make exactly
/// the policy's attempts (5), not attempts × attempts, and the error says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_applied_once_per_request() {
    let h = tk::HostileHttp::start(tk::Misbehaviour::Reset).unwrap();
    let r = common::plain_client(&h.host());
    let err = r.get_manifest("ns/app", "v1").await.unwrap_err();
    assert_eq!(h.connections(), 5, "{err}");
    assert!(err.to_string().contains("after 5 attempts"), "{err}");
    let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
    let err = r.get_blob_bytes("ns/app", &d, 1 << 20).await.unwrap_err();
    assert_eq!(h.connections(), 10, "{err}");
    assert!(err.to_string().contains("after 5 attempts"), "{err}");
}

/// With retries off, one attempt is made and the error says why there was no other, rather than
/// "after 1 attempt(s)", which read as if retries had been skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_attempt_says_why() {
    let h = tk::HostileHttp::start(tk::Misbehaviour::Reset).unwrap();
    let mut c = hostile_config(&h.host());
    c.retry.attempts = 1;
    let r = Registry::new(c).unwrap();
    let err = r.get_manifest("ns/app", "v1").await.unwrap_err().to_string();
    assert_eq!(h.connections(), 1, "{err}");
    assert!(err.contains("(1 attempt: retries are off)"), "{err}");
    assert!(!err.contains("attempt(s)"), "{err}");
}

/// A registry answering 503 to every manifest GET: the policy's attempts are made, and the error
/// that ends it says how many (as for a reset connection), rather than a bare "HTTP 503" that
/// leaves a reader wondering whether it was retried at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_retried_to_the_end_says_how_often() {
    let fake = FakeHttp::start().unwrap();
    let body = serde_json::json!({"errors": [{"code": "UNAVAILABLE", "message": "busy"}]});
    fake.set_fallback(Some(Route::new(503, "application/json", body.to_string())));
    let mut c = hostile_config(&fake.addr().to_string());
    c.retry.attempts = 3;
    let r = Registry::new(c).unwrap();
    let err = r.get_manifest("ns/app", "v1").await.unwrap_err().to_string();
    assert_eq!(fake.requests_to("/v2/ns/app/manifests/v1").len(), 3, "{err}");
    assert!(
        err.contains("HTTP 503") && err.contains("after 3 attempts"),
        "{err}"
    );
}

/// A wrong password (a real htpasswd registry, and a real token server): after a few refusals in a
/// row the credentials are not sent again this run, so a promotion of many images does not make
/// hundreds of failed logins (an account with a lockout policy would be locked); every image still
/// fails with the registry's refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_not_sent_again_and_again() {
    for token in [false, true] {
        let reg = if token {
            tk::Registry::token("robot", "right-pw-1").unwrap()
        } else {
            tk::Registry::tls_htpasswd("robot", "right-pw-1").unwrap()
        };
        let mut c = common::config_for(&reg);
        c.credentials = Credentials::basic("robot", "wrong-pw-2");
        let r = Registry::new(c).unwrap();
        for i in 0..20 {
            let err = r.get_manifest_opt(&format!("ns/app{i}"), "v1").await.unwrap_err();
            assert!(
                matches!(err, Error::Auth { .. }),
                "token {token}, image {i}: {err}"
            );
            assert!(err.to_string().contains("robot"), "{err}");
        }
        let stats = r.transport().stats();
        // Today's cost would be 40 requests (20 images × 2) or 20 token requests.
        assert!(stats.requests <= 10, "token {token}: {} requests", stats.requests);
        assert!(
            stats.token_fetches <= 3,
            "token {token}: {} token fetches",
            stats.token_fetches
        );
    }
}

/// The same with requests in flight: 20 manifest GETs at once (a promotion sends up to
/// `per_registry_concurrency` = 16 to a registry) with a wrong password. Until the registry has
/// taken the credentials they go out one request at a time, so no more than the limit of requests
/// carry them: counted at the proxy in front of a real htpasswd registry, and at a real token
/// server. Before: 14 requests carried them (every request in flight passed the check before the
/// first refusal was counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_credentials_in_flight_stop_at_the_limit() {
    use copy_containers::transport::REFUSED_CREDENTIALS_LIMIT as LIMIT;
    use futures_util::future::join_all;
    async fn all_refused(r: &Registry) {
        let gets = (0..20).map(|i| async move { r.get_manifest_opt(&format!("ns/app{i}"), "v1").await });
        for (i, got) in join_all(gets).await.into_iter().enumerate() {
            let err = got.unwrap_err();
            assert!(matches!(err, Error::Auth { .. }), "image {i}: {err}");
            assert!(err.to_string().contains("robot"), "{err}");
        }
    }
    // Basic: the registry itself refuses.
    let reg = tk::Registry::tls_htpasswd("robot", "right-pw-3").unwrap();
    let proxy = Proxy::for_registry(&reg).unwrap();
    let mut c = hostile_config(&proxy.host());
    c.credentials = Credentials::basic("robot", "wrong-pw-4");
    all_refused(&Registry::new(c).unwrap()).await;
    let carried = proxy.log().iter().filter(|q| q.authorization).count();
    assert!(
        carried as u32 <= LIMIT,
        "{carried} requests carried the credentials"
    );
    assert!(carried >= 1, "the credentials were never tried");
    // Bearer: the token server refuses.
    let reg = tk::Registry::token("robot", "right-pw-3").unwrap();
    let mut c = common::config_for(&reg);
    c.credentials = Credentials::basic("robot", "wrong-pw-4");
    all_refused(&Registry::new(c).unwrap()).await;
    let asked = reg.token_server().unwrap().requests();
    let carried = asked.iter().filter(|t| t.had_credentials).count();
    assert!(
        carried as u32 <= LIMIT,
        "{carried} token requests carried the credentials"
    );
    assert!(carried >= 1, "the credentials were never tried");
}

/// A layer trickled a byte at a time never lets the read timeout fire and is exempt from the
/// request deadline (layers go at the copy's pace); the minimum transfer rate ends it, naming what
/// was seen (before: a copy's progress said "ETA 37h").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_layer_ends_at_the_minimum_rate() {
    use futures_util::StreamExt;
    let h = tk::HostileHttp::start(tk::Misbehaviour::Trickle {
        status: 200,
        len: 100_000,
        every: std::time::Duration::from_millis(100),
    })
    .unwrap();
    let mut c = hostile_config(&h.host());
    c.min_rate = (1000, std::time::Duration::from_secs(2));
    let r = Registry::new(c).unwrap();
    let d: Digest = format!("sha256:{}", "b".repeat(64)).parse().unwrap();
    let started = std::time::Instant::now();
    let mut s = r.get_blob("ns/app", &d, Some(100_000)).await.unwrap();
    let err = loop {
        match s.next().await {
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e.to_string(),
            None => panic!("the trickle ended"),
        }
    };
    let took = started.elapsed();
    assert!(
        err.contains("download too slow") && err.contains("below the minimum"),
        "{err}"
    );
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
}

fn hostile_config(host: &str) -> RegistryConfig {
    let mut c = RegistryConfig::new(host);
    c.insecure = true;
    c.retry.base_delay = std::time::Duration::from_millis(20);
    c
}

/// Wait (at most 20 s) until the server has no connection open: the client hung up.
fn hung_up(h: &tk::HostileHttp) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while h.open() > 0 && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    h.open() == 0
}

/// A registry that keeps the connection open and trickles a manifest one byte a second (the read
/// timeout never fires): the request's one deadline (`request_timeout`, 3 s here) ends it, over all
/// its attempts, including the re-reads of a body cut off; the error says so and what to do; the
/// client hangs up. Before: each of the 5 attempts had the whole deadline again (5 connections;
/// with the defaults, 5 × 300 s = 25 minutes for one `inspect`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_manifest_ends_at_the_request_deadline() {
    let h = tk::HostileHttp::start(tk::Misbehaviour::Trickle {
        status: 200,
        len: 120,
        every: std::time::Duration::from_secs(1),
    })
    .unwrap();
    let mut c = hostile_config(&h.host());
    c.request_timeout = std::time::Duration::from_secs(3);
    let r = copy_containers::registry::Registry::new(c).unwrap();
    assert_eq!(r.transport().attempts(), 5);
    let err = r.get_manifest("ns/app", "v1").await.unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err}");
    assert!(err.to_string().contains("request_timeout: 3 s"), "{err}");
    assert_eq!(h.connections(), 1, "{err}");
    assert!(hung_up(&h), "the client is still reading");
    assert!(h.body_bytes() < 120, "the whole body was waited for");
}

/// A registry that accepts the connection and never answers: each attempt ends at the read timeout
/// (1 s here), and the request's deadline (3 s) ends the retries: at most 3 attempts of the
/// policy's 5, and the error names the deadline. Before: all 5 (with the defaults: 5 × 60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_registry_ends_at_the_request_deadline() {
    let h = tk::HostileHttp::start(tk::Misbehaviour::Silent).unwrap();
    let mut c = hostile_config(&h.host());
    c.read_timeout = std::time::Duration::from_secs(1);
    c.request_timeout = std::time::Duration::from_secs(3);
    let r = copy_containers::registry::Registry::new(c).unwrap();
    let err = r.get_manifest("ns/app", "v1").await.unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    let n = h.connections();
    assert!((2..=3).contains(&n), "{n} attempts: {err}");
    assert!(hung_up(&h), "a connection is still open");
}

/// A target that takes a streamed upload and never answers (the blob sits in the socket's
/// buffers): the attempt ends `request_timeout` (2 s here) after the last byte, not at the read
/// timeout (60 s, the default) nor never, with an error saying so and what to do; the client hangs
/// up. An error answer whose body trickles is read within `request_timeout` too. Before: the upload
/// waited on the read timeout, which also cut any healthy upload longer than it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_never_answers_an_upload_ends_at_the_request_timeout() {
    let h = tk::HostileHttp::start(tk::Misbehaviour::Silent).unwrap();
    let mut c = hostile_config(&h.host());
    c.request_timeout = std::time::Duration::from_secs(2);
    assert_eq!(c.read_timeout, std::time::Duration::from_secs(60));
    let r = Registry::new(c).unwrap();
    let blob = seed::random_layer(5, 4096);
    let d = Digest::sha256(&blob);
    let loc = r.transport().url("v2/ns/app/blobs/uploads/u1").unwrap();
    let chunk: copy_containers::Result<bytes::Bytes> = Ok(bytes::Bytes::from(blob.clone()));
    let stream: copy_containers::registry::BlobStream = Box::pin(futures_util::stream::iter([chunk]));
    let err = r
        .put_upload_stream("ns/app", loc, &d, blob.len() as u64, stream)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Network { .. }), "{text}");
    assert!(
        text.contains("the whole blob was sent and the registry gave no answer within request_timeout (2 s)"),
        "{text}"
    );
    assert_eq!(h.connections(), 1, "{text}");
    assert!(hung_up(&h), "the upload is still waiting");
    // An error answer whose body then trickles: its body gets request_timeout too.
    let h = tk::HostileHttp::start(tk::Misbehaviour::Trickle {
        status: 400,
        len: 1000,
        every: std::time::Duration::from_secs(1),
    })
    .unwrap();
    let mut c = hostile_config(&h.host());
    c.request_timeout = std::time::Duration::from_secs(2);
    let r = Registry::new(c).unwrap();
    let loc = r.transport().url("v2/ns/app/blobs/uploads/u1").unwrap();
    let chunk: copy_containers::Result<bytes::Bytes> = Ok(bytes::Bytes::from(blob.clone()));
    let stream: copy_containers::registry::BlobStream = Box::pin(futures_util::stream::iter([chunk]));
    let err = r
        .put_upload_stream("ns/app", loc, &d, blob.len() as u64, stream)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Http { status: 400, .. }), "{text}");
    assert!(
        text.contains("did not come within request_timeout: 2 s"),
        "{text}"
    );
    assert!(hung_up(&h), "the error body is still being read");
}

/// A target that stops taking a streamed upload part-way (it accepts the connection and never
/// reads: the socket's buffers fill): the attempt ends once the registry has taken no data for
/// `request_timeout` (2 s here), saying it stalled. Before: it waited on the read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_stops_reading_an_upload_ends_at_the_request_timeout() {
    use futures_util::StreamExt;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let held = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(4));
        drop(conn);
    });
    let mut c = hostile_config(&host);
    c.request_timeout = std::time::Duration::from_secs(2);
    let r = Registry::new(c).unwrap();
    let size: u64 = 256 << 20;
    let chunk = bytes::Bytes::from(vec![7u8; 64 << 10]);
    let endless = futures_util::stream::repeat_with(move || Ok(chunk.clone())).take((size >> 16) as usize);
    let stream: copy_containers::registry::BlobStream = Box::pin(endless);
    let loc = r.transport().url("v2/ns/app/blobs/uploads/u2").unwrap();
    let d = Digest::sha256(b"not checked by a registry that never reads");
    let err = r
        .put_upload_stream("ns/app", loc, &d, size, stream)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("the upload stalled: the registry took no data for request_timeout (2 s)"),
        "{text}"
    );
    // (The listener hangs up after 4 s: an error from that would not say the upload stalled.)
    held.join().unwrap();
}

/// An upload that keeps moving, at the pace of a slow source (a chunk every 400 ms, 3.2 s in all),
/// to a real registry, with `request_timeout` and the read timeout at 1 s: it completes, because
/// only a stall counts (the time spent waiting on the source never does), and the registry holds
/// the blob. Before: the read timeout, running from the send to the answer, cut it at 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_but_moving_upload_is_not_cut_at_the_request_timeout() {
    let reg = tk::Registry::plain().unwrap();
    let mut c = hostile_config(&reg.host());
    c.request_timeout = std::time::Duration::from_secs(1);
    c.read_timeout = std::time::Duration::from_secs(1);
    let r = Registry::new(c).unwrap();
    let blob = seed::random_layer(6, 8 * 4096);
    let d = Digest::sha256(&blob);
    let chunks: Vec<bytes::Bytes> = blob.chunks(4096).map(bytes::Bytes::copy_from_slice).collect();
    let slow = futures_util::stream::unfold(chunks.into_iter(), |mut rest| async move {
        let next = rest.next()?;
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        Some((Ok(next), rest))
    });
    let stream: copy_containers::registry::BlobStream = Box::pin(slow);
    let loc = r.start_upload("ns/app").await.unwrap();
    let started = std::time::Instant::now();
    r.put_upload_stream("ns/app", loc, &d, blob.len() as u64, stream)
        .await
        .unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_secs(3));
    assert_eq!(
        r.blob_exists("ns/app", &d).await.unwrap(),
        Some(blob.len() as u64)
    );
}

/// A token server that answers its headers and then trickles its body: the token deadline ends the
/// whole exchange, retries included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_token_server_costs_the_token_deadline_once() {
    let ts = tk::HostileHttp::start(tk::Misbehaviour::Trickle {
        status: 200,
        len: 120,
        every: std::time::Duration::from_secs(1),
    })
    .unwrap();
    let reg = FakeHttp::start().unwrap();
    reg.set_fallback(Some(Route::new(401, "application/json", "{}").header(
        "WWW-Authenticate",
        &format!(r#"Bearer realm="{}/token",service="reg""#, ts.url()),
    )));
    let mut c = hostile_config(&reg.addr().to_string());
    c.credentials = Credentials::basic("robot", "token-deadline-pw");
    c.token_timeout = std::time::Duration::from_secs(3);
    let r = copy_containers::registry::Registry::new(c).unwrap();
    let started = std::time::Instant::now();
    let err = r.get_manifest("ns/app", "v1").await.unwrap_err();
    let took = started.elapsed();
    assert!(err.to_string().contains("did not give a token within"), "{err}");
    assert!(took < std::time::Duration::from_secs(8), "took {took:?}: {err}");
    assert_eq!(ts.connections(), 1);
}

/// A token server answering 503 is asked the policy's attempts (5) in all for one manifest GET:
/// the token exchange retries once, through the same retry loop, and the request around it does
/// not run it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_token_server_is_asked_the_policys_attempts_once() {
    let ts = FakeHttp::start().unwrap();
    ts.set_fallback(Some(
        Route::new(503, "text/plain", "busy").header("Retry-After", "0"),
    ));
    let reg = FakeHttp::start().unwrap();
    reg.set_fallback(Some(Route::new(401, "application/json", "{}").header(
        "WWW-Authenticate",
        &format!(r#"Bearer realm="{}/token",service="reg""#, ts.url()),
    )));
    let mut c = hostile_config(&reg.addr().to_string());
    c.credentials = Credentials::basic("robot", "token-503-pw");
    let r = Registry::new(c).unwrap();
    let err = r.get_manifest("ns/app", "v1").await.unwrap_err();
    assert_eq!(ts.requests_to("/token").len(), 5, "{err}");
    assert!(err.to_string().contains("503"), "{err}");
}

fn basic_forms(user: &str, password: &str) -> Vec<String> {
    use base64::Engine;
    let pair = format!("{user}:{password}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&pair);
    vec![password.to_string(), pair, b64.trim_end_matches('=').to_string()]
}

fn assert_clean(what: &str, out: &std::process::Output, secrets: &[String]) {
    let all = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("denied"),
        "{what}: the echo did not come through: {all}"
    );
    for s in secrets {
        assert!(!all.contains(s.as_str()), "{what} printed {s:?}: {all}");
    }
}

/// A registry that echoes the Authorization header (and the decoded `user:password`) in its error:
/// `inspect` and `copy` (text and JSON) print the error without the password, `user:password` or
/// its base64.
#[test]
fn cli_scrubs_credentials_a_registry_echoes() {
    let h = tk::HostileHttp::start(tk::Misbehaviour::EchoAuth { bearer_realm: None }).unwrap();
    let secrets = basic_forms("robot", "echo-pass-5150");
    let image = format!("{}/ns/app:v1", h.host());
    let out = common::bin()
        .args([
            "inspect",
            &image,
            "--insecure",
            "--username",
            "robot",
            "--password-env",
            "CC_ECHO_PW",
        ])
        .env("CC_ECHO_PW", "echo-pass-5150")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_clean("inspect", &out, &secrets);
    for json in [false, true] {
        let mut cmd = common::bin();
        cmd.args([
            "copy",
            &image,
            "127.0.0.1:9/ns/app:v1",
            "--src-insecure",
            "--dest-insecure",
        ])
        .args(["--src-username", "robot", "--src-password-env", "CC_ECHO_PW"])
        .env("CC_ECHO_PW", "echo-pass-5150");
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        assert_clean(&format!("copy (json: {json})"), &out, &secrets);
    }
}

/// The same with a Bearer token obtained during the run: the token is scrubbed too.
#[test]
fn cli_scrubs_a_token_a_registry_echoes() {
    let ts = FakeHttp::start().unwrap();
    ts.set(
        "/token",
        Route::json(&serde_json::json!({"token": "tok-echoed-8a7b6c5d"})),
    );
    let h = tk::HostileHttp::start(tk::Misbehaviour::EchoAuth {
        bearer_realm: Some(format!("{}/token", ts.url())),
    })
    .unwrap();
    let mut secrets = basic_forms("robot", "echo-pass-6160");
    secrets.push("tok-echoed-8a7b6c5d".into());
    let out = common::bin()
        .args(["inspect", &format!("{}/ns/app:v1", h.host()), "--insecure"])
        .args(["--username", "robot", "--password-env", "CC_ECHO_PW", "-vv"])
        .env("CC_ECHO_PW", "echo-pass-6160")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(ts.requests_to("/token").len(), 1);
    assert_clean("inspect", &out, &secrets);
}

/// A loopback registry over plain HTTP (no warning of its own: what goes to it stays on the
/// machine) whose Bearer challenge names a token realm off the machine over plain HTTP
/// (`http://realm.test/token`): the Basic credentials sent there travel in clear, so a warning says
/// so, naming the registry and the realm's host. The decision is the realm URL's (a loopback address
/// or `localhost` is this machine, any other name is not), made before the token request; the test
/// reaches `realm.test` only through an HTTP proxy on loopback (`http_proxy`), which answers as the
/// token server, so nothing leaves the machine. Before: sent silently.
#[test]
fn credentials_to_a_plain_http_realm_off_the_machine_are_warned_of() {
    let relay = FakeHttp::start().unwrap();
    relay.set(
        "/token",
        Route::json(&serde_json::json!({"token": "tok-relayed-4d3c2b1a"})),
    );
    let h = tk::HostileHttp::start(tk::Misbehaviour::EchoAuth {
        bearer_realm: Some("http://realm.test/token".into()),
    })
    .unwrap();
    let mut cmd = common::bin();
    cmd.args(["inspect", &format!("{}/ns/app:v1", h.host()), "--insecure"])
        .args(["--username", "robot", "--password-env", "CC_REALM_PW"])
        .env("CC_REALM_PW", "realm-pass-8181");
    for k in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        cmd.env_remove(k);
    }
    for k in ["HTTP_PROXY", "http_proxy"] {
        cmd.env(k, relay.url());
    }
    for k in ["NO_PROXY", "no_proxy"] {
        cmd.env(k, "127.0.0.1,localhost");
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // The token request went to realm.test (by name, through the relay), carrying the credentials.
    let asked = relay.requests_to("/token");
    assert_eq!(asked.len(), 1, "{err}");
    assert_eq!(asked[0].header("host"), Some("realm.test"), "{asked:?}");
    assert!(asked[0].header("authorization").is_some());
    let warned: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("credentials are sent over plain HTTP to its token server realm.test"))
        .collect();
    assert_eq!(warned.len(), 1, "one warning: {err}");
    assert!(warned[0].contains(&h.host()), "{err}");
    assert!(!err.contains("realm-pass-8181"), "{err}");
    // A realm on this machine over plain HTTP (the token server beside a local registry) is not
    // warned of.
    let local = tk::HostileHttp::start(tk::Misbehaviour::EchoAuth {
        bearer_realm: Some(format!("{}/token", relay.url())),
    })
    .unwrap();
    let out = common::bin()
        .args(["inspect", &format!("{}/ns/app:v1", local.host()), "--insecure"])
        .args(["--username", "robot", "--password-env", "CC_REALM_PW"])
        .env("CC_REALM_PW", "realm-pass-8181")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(relay.requests_to("/token").len(), 2, "{err}");
    assert!(!err.contains("plain HTTP"), "{err}");
}

/// An error body cut for display (the first 200 characters of a plain-text one) with the cut
/// falling inside an echoed secret: no part of it is shown (masking comes before the cut; masking
/// after it would leave a prefix that no longer matches, e.g. all but the last characters of a
/// password).
#[test]
fn an_echo_cut_inside_a_secret_shows_no_part_of_it() {
    use base64::Engine;
    let password = "echo-cut-7271";
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("robot:{password}"));
    let fake = FakeHttp::start().unwrap();
    // The cut at 200 characters falls 16 characters into the base64 (pad 170), then 8 characters
    // into the password itself (pad 143).
    for pad in [170usize, 143] {
        let body = format!("denied {} Basic {b64} robot:{password}", "x".repeat(pad));
        fake.set_fallback(Some(Route::new(400, "text/plain", body)));
        let out = common::bin()
            .args(["inspect", &format!("{}/ns/app:v1", fake.addr()), "--insecure"])
            .args(["--username", "robot", "--password-env", "CC_CUT_PW"])
            .env("CC_CUT_PW", password)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("denied xxx"), "pad {pad}: {all}");
        for part in [&b64[..16], &password[..5]] {
            assert!(!all.contains(part), "pad {pad}: {part:?} shown: {all}");
        }
    }
}

/// A registry whose distribution error (`{"errors":[{"message":…}]}`) carries a 60 KB message: the
/// error shows its start, not the whole (the body cap bounds memory, not what lands in a log line,
/// the summary, `msg` and the reports, once per image).
#[test]
fn a_huge_distribution_error_message_is_shown_in_part() {
    let fake = FakeHttp::start().unwrap();
    let message = format!("denied {}", "y".repeat(60_000));
    let body = serde_json::json!({"errors": [{"code": "DENIED", "message": message}]});
    fake.set_fallback(Some(Route::new(400, "application/json", body.to_string())));
    let out = common::bin()
        .args(["inspect", &format!("{}/ns/app:v1", fake.addr()), "--insecure"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DENIED: denied yyy"), "{err}");
    assert!(err.len() < 1000, "{} bytes: {}", err.len(), &err[..300]);
}

fn mkfifo(path: &std::path::Path) {
    let st = std::process::Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success());
}

/// Run the binary with one argument; fail the test (killing it) if it blocks.
fn module_with(arg: &std::path::Path) -> serde_json::Value {
    let mut child = common::bin()
        .arg(arg)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the module blocked on {}", arg.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "not one JSON result ({e}): {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Any single file argument is a module run: not JSON, an array, empty, a FIFO each give `failed`
/// JSON (not clap's "unrecognized subcommand", not a hang).
#[test]
fn any_single_file_argument_gets_a_failed_module_result() {
    let d = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8]); 4] = [
        ("not-json", b"full_hash=abc named_label=x"),
        ("array.json", b"[1, 2]"),
        ("empty.json", b""),
        ("spaces.json", b"  \n"),
    ];
    for (name, bytes) in cases {
        let p = d.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let r = module_with(&p);
        assert_eq!(r["failed"], true, "{name}: {r}");
        assert!(
            r["msg"].as_str().unwrap().contains("module arguments"),
            "{name}: {r}"
        );
    }
    let fifo = d.path().join("args.fifo");
    mkfifo(&fifo);
    let r = module_with(&fifo);
    assert_eq!(r["failed"], true, "{r}");
    assert!(r["msg"].as_str().unwrap().contains("not a regular file"), "{r}");
}

/// A FIFO as `containers_list_file` is refused at once.
#[test]
fn a_fifo_as_the_container_list_file_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("list.fifo");
    mkfifo(&fifo);
    let (tx, rx) = std::sync::mpsc::channel();
    let f = fifo.clone();
    std::thread::spawn(move || {
        let _ = tx.send(copy_containers::promote::model::read_list_file(&f).map(|_| ()));
    });
    let r = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("reading a FIFO blocked");
    let err = r.unwrap_err().to_string();
    assert!(err.contains("not a regular file"), "{err}");
}

/// Every other file a user names is read the same way: a FIFO as a config file, an auth file, a
/// CA bundle is refused at once, naming the file (before: the config and the CA bundle blocked
/// forever); one in a certs.d directory is not a certificate file and is passed over.
#[test]
fn a_fifo_as_any_input_file_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("in.fifo");
    mkfifo(&fifo);
    let f = fifo.to_str().unwrap();
    let certs_d = d.path().join("certs.d");
    std::fs::create_dir_all(certs_d.join("127.0.0.1:9")).unwrap();
    std::os::unix::fs::symlink(&fifo, certs_d.join("127.0.0.1:9").join("ca.crt")).unwrap();
    let auth = d.path().join("auth");
    std::fs::create_dir_all(&auth).unwrap();
    std::os::unix::fs::symlink(&fifo, auth.join("auth.json")).unwrap();
    type Case<'a> = (&'a str, Vec<String>, Vec<(&'a str, String)>);
    let cases: Vec<Case> = vec![
        (
            "config file",
            vec!["promote".into(), "--config".into(), f.into()],
            vec![],
        ),
        (
            "CA bundle",
            vec![
                "inspect".into(),
                "127.0.0.1:9/ns/app:v1".into(),
                "--ca-file".into(),
                f.into(),
            ],
            vec![],
        ),
        (
            "cannot connect",
            vec!["inspect".into(), "127.0.0.1:9/ns/app:v1".into()],
            vec![("COPY_CONTAINERS_CERTS_D", certs_d.display().to_string())],
        ),
        (
            "auth file",
            vec!["inspect".into(), "127.0.0.1:9/ns/app:v1".into()],
            vec![("REGISTRY_AUTH_FILE", auth.join("auth.json").display().to_string())],
        ),
    ];
    for (what, args, envs) in cases {
        let mut c = common::bin();
        c.args(&args).stdin(std::process::Stdio::null());
        for (k, v) in envs {
            c.env(k, v);
        }
        let mut child = c
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > std::time::Duration::from_secs(20) {
                let _ = child.kill();
                panic!("{what}: reading a FIFO blocked");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}");
        let expected = if what == "cannot connect" {
            what
        } else {
            "not a regular file"
        };
        assert!(err.contains(expected) && err.contains(what), "{what}: {err}");
    }
}

/// Credentials over plain HTTP to another host, and TLS verification switched off: one warning per
/// registry, in the module's `warnings` (which Ansible shows).
#[test]
fn the_module_warns_of_plain_http_credentials_and_unverified_tls() {
    let d = tempfile::tempdir().unwrap();
    let args = serde_json::json!({
        "full_hash": "d7c3cd922f91d83aacb5d7555de9d5bc",
        "named_label": "current-tripleo",
        "containers_list": ["nova-compute"],
        "retries": 1,
        "tmp_file_root": d.path(),
        "source_registry": {"host": "127.0.0.1:9", "namespace": "ns", "tls_verify": false},
        "target_registries": [
            {"host": "registry.invalid:5000", "namespace": "ns", "insecure": true,
             "username": "robot", "password": "plain-http-pw-1"},
            {"host": "127.0.0.1:9", "namespace": "other", "tls_verify": false},
        ],
        "_ansible_check_mode": true,
    });
    let p = d.path().join("args.json");
    std::fs::write(&p, args.to_string()).unwrap();
    let r = module_with(&p);
    let warnings: Vec<String> = r["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("no warnings: {r}"))
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let tls: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("verification is switched off"))
        .collect();
    assert_eq!(tls.len(), 1, "once per registry: {warnings:?}");
    assert!(tls[0].contains("127.0.0.1:9"), "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("registry.invalid:5000") && w.contains("plain HTTP")),
        "{warnings:?}"
    );
    assert!(!r.to_string().contains("plain-http-pw-1"));
}

/// A source that resets every GET of one layer: the copy's transfer rounds and the transport's
/// retries share one budget, so the layer is asked for the policy's 5 times, not 5 × 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_layer_is_fetched_only_the_policys_attempts() {
    use copy_containers::copy::{copy_batch, CopyOptions, CopyRequest, Endpoint};
    let src = tk::Registry::plain().unwrap();
    let dst = tk::Registry::plain().unwrap();
    let img = seed::seed_image(&src, "ns/app", "v1", "amd64", 1).await.unwrap();
    let layer = img.layers[0].digest.clone();
    let proxy = Proxy::for_registry(&src).unwrap();
    proxy.add_rule(
        FaultRule::new(FaultAction::ResetConnection)
            .method("GET")
            .path_contains(&layer)
            .always(),
    );
    let s = common::plain_client(&proxy.host());
    let d = common::client(&dst);
    let req = CopyRequest {
        source: Endpoint::new(&s, "ns/app"),
        reference: "v1".into(),
        dests: vec![(Endpoint::new(&d, "ns/app"), vec!["v1".into()])],
        known: None,
    };
    let out = copy_batch(&[req], &CopyOptions::default()).await.remove(0);
    assert!(!out.ok(), "the copy cannot succeed without the layer");
    let gets = proxy
        .log()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains(&layer))
        .count();
    assert_eq!(gets, 5, "{:?}", out.error);
}
