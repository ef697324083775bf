//! The registry client against real `docker-registry` processes: plain, TLS + htpasswd and token
//! auth; byte-exact copies checked with skopeo; mounts; pagination; deletes; retries through a
//! fault-injecting proxy; credentials never following a redirect.

#![allow(clippy::result_large_err)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use copy_containers::copy::{copy_batch, CopyOptions, CopyRequest, Endpoint};
use copy_containers::digest::Digest;
use copy_containers::error::Error;
use copy_containers::manifest::media;
use copy_containers::registry::MountResult;
use copy_containers::transport::{Credentials, RegistryConfig};
use copy_containers_testkit::{
    self as tk, seed, skopeo_inspect_raw, FaultAction, FaultRule, PathKind, Proxy, RedirectSink,
};
use futures_util::StreamExt;

use common::*;

async fn copy_one(
    src: &copy_containers::registry::Registry,
    srepo: &str,
    reference: &str,
    dst: &copy_containers::registry::Registry,
    drepo: &str,
    tag: &str,
) -> copy_containers::copy::CopyOutcome {
    let req = CopyRequest {
        source: Endpoint::new(src, srepo),
        reference: reference.into(),
        dests: vec![(Endpoint::new(dst, drepo), vec![tag.into()])],
        known: None,
    };
    copy_batch(&[req], &CopyOptions::default()).await.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_v2s2_list_and_oci_index_byte_exact_to_tls_htpasswd() {
    let src = tk::Registry::plain().unwrap();
    let dst = tk::Registry::tls_htpasswd("robot", "s3cret-pass").unwrap();
    let img = seed::seed_image(&src, "ns/single", "v1", "amd64", 2)
        .await
        .unwrap();
    let list = seed::seed_index(
        &src,
        "ns/multi",
        "v1",
        &["amd64", "ppc64le"],
        seed::Format::Docker,
    )
    .await
    .unwrap();
    let oci = seed::seed_index(&src, "ns/oci", "v1", &["amd64", "arm64"], seed::Format::Oci)
        .await
        .unwrap();
    let (s, d) = (client(&src), client(&dst));
    for (repo, seeded) in [
        ("ns/single", &img.manifest),
        ("ns/multi", &list.manifest),
        ("ns/oci", &oci.manifest),
    ] {
        let out = copy_one(&s, repo, "v1", &d, repo, "copied").await;
        assert!(out.ok(), "{repo}: {out:?}");
        let theirs = skopeo_inspect_raw(&dst, &format!("{repo}:copied")).unwrap();
        assert_eq!(&theirs, seeded, "{repo}: bytes differ");
        let mine = skopeo_inspect_raw(&src, &format!("{repo}:v1")).unwrap();
        assert_eq!(theirs, mine);
    }
    // the list's children arrived by digest, with their blobs
    for child in &list.images {
        let m = d.get_manifest("ns/multi", &child.digest).await.unwrap();
        assert_eq!(m.bytes.as_ref(), child.manifest.as_slice());
        for l in &child.layers {
            assert!(d
                .blob_exists("ns/multi", &l.digest.parse().unwrap())
                .await
                .unwrap()
                .is_some());
        }
    }
    // a second copy sends nothing
    let again = copy_one(&s, "ns/multi", "v1", &d, "ns/multi", "copied").await;
    assert!(again.ok());
    assert!(!again.dests[0].changed());
    assert_eq!(again.dests[0].bytes_uploaded, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_names_registry_not_password() {
    let reg = tk::Registry::tls_htpasswd("robot", "right-password").unwrap();
    let mut c = config_for(&reg);
    c.credentials = Credentials::basic("robot", "wr0ng-Passw0rd-xyz");
    let r = copy_containers::registry::Registry::new(c).unwrap();
    let err = r.ping().await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Auth { .. }), "{msg}");
    assert!(msg.contains(&reg.host()), "{msg}");
    assert!(msg.contains("robot"), "{msg}");
    assert!(!msg.contains("wr0ng-Passw0rd-xyz"), "{msg}");
    assert!(!format!("{err:?}").contains("wr0ng-Passw0rd-xyz"));
    // anonymous: clear too
    let mut c = config_for(&reg);
    c.credentials = Credentials::Anonymous;
    let msg = copy_containers::registry::Registry::new(c)
        .unwrap()
        .ping()
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("anonymous"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ca_is_a_clear_tls_error_and_the_ca_fixes_it() {
    let reg = tk::Registry::tls_htpasswd("u", "p").unwrap();
    let mut c = config_for(&reg);
    c.ca_file = None;
    c.retry.attempts = 3;
    let unknown_ca = copy_containers::registry::Registry::new(c).unwrap();
    let err = unknown_ca.ping().await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Tls { .. }), "{msg}");
    assert!(msg.contains("unknown CA") && msg.contains("ca_file"), "{msg}");
    // A refused certificate does not heal: not retried.
    assert_eq!(unknown_ca.transport().stats().retries, 0);
    // A TLS client against a plain HTTP registry: said so at once, not retried either.
    let plain = tk::Registry::plain().unwrap();
    let mut c = config_for(&plain);
    c.insecure = false;
    c.retry.attempts = 3;
    let tls_to_plain = copy_containers::registry::Registry::new(c).unwrap();
    let err = tls_to_plain.ping().await.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Tls { .. }) && msg.contains("plain HTTP"),
        "{msg}"
    );
    assert_eq!(tls_to_plain.transport().stats().retries, 0, "{msg}");
    client(&reg).ping().await.unwrap();
    // explicit opt-out works too
    let mut c = config_for(&reg);
    c.ca_file = None;
    c.tls_verify = false;
    copy_containers::registry::Registry::new(c)
        .unwrap()
        .ping()
        .await
        .unwrap();
    // plain HTTP client against a TLS port: an error, not a hang or panic
    let mut c = config_for(&reg);
    c.insecure = true;
    c.retry.attempts = 1;
    assert!(copy_containers::registry::Registry::new(c)
        .unwrap()
        .ping()
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_with_scopes_reauth_and_mount() {
    let reg = tk::Registry::token("robot", "tok-pass-123").unwrap();
    let ts = reg.token_server().unwrap();
    let c = client(&reg);
    // push via our client (upload + manifest) into a token-protected registry
    let src = tk::Registry::plain().unwrap();
    let img = seed::seed_image(&src, "a/one", "v1", "amd64", 2).await.unwrap();
    let out = copy_one(&client(&src), "a/one", "v1", &c, "a/one", "v1").await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(skopeo_inspect_raw(&reg, "a/one:v1").unwrap(), img.manifest);
    // tokens are cached: far fewer token requests than registry requests
    let stats = c.transport().stats();
    assert!(
        stats.token_fetches >= 1 && stats.token_fetches * 3 < stats.requests,
        "{stats:?}"
    );
    // a mount asks one token for both repositories
    ts.reset_counters();
    let layer: Digest = img.layers[0].digest.parse().unwrap();
    match c.mount_blob("b/two", &layer, "a/one").await.unwrap() {
        MountResult::Mounted => {}
        MountResult::Upload(_) => panic!("expected a 201 mount"),
    }
    assert!(
        ts.scope_sets()
            .iter()
            .any(|s| s.iter().any(|x| x.contains("b/two")) && s.iter().any(|x| x.contains("a/one"))),
        "{:?}",
        ts.scope_sets()
    );
    assert!(c.blob_exists("b/two", &layer).await.unwrap().is_some());
    // insufficient scope: the server withholds push once; we ask again and succeed
    ts.withhold_action("push", 1);
    let d = Digest::sha256(b"scoped blob");
    c.upload_bytes("c/three", &d, Bytes::from_static(b"scoped blob"))
        .await
        .unwrap();
    assert!(c.blob_exists("c/three", &d).await.unwrap().is_some());
    // wrong password at the token server
    let mut cfg = config_for(&reg);
    cfg.credentials = Credentials::basic("robot", "nope-nope-nope");
    let err = copy_containers::registry::Registry::new(cfg)
        .unwrap()
        .head_manifest("a/one", "v1")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Auth { .. }) && msg.contains("token server") && !msg.contains("nope-nope-nope"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_202_fallback_chunked_upload_pagination_and_delete() {
    let reg = tk::Registry::plain().unwrap();
    let c = client(&reg);
    // 202: mounting from a repository that lacks the blob opens an upload session instead
    let data = Bytes::from(seed::random_layer(9, 50_000));
    let d = Digest::sha256(&data);
    match c.mount_blob("x/target", &d, "x/nowhere").await.unwrap() {
        MountResult::Upload(url) => {
            let body: copy_containers::registry::BlobStream =
                Box::pin(futures_util::stream::iter(vec![Ok::<_, Error>(data.clone())]));
            c.put_upload_stream("x/target", url, &d, data.len() as u64, body)
                .await
                .unwrap();
        }
        MountResult::Mounted => panic!("expected 202"),
    }
    assert_eq!(
        c.blob_exists("x/target", &d).await.unwrap(),
        Some(data.len() as u64)
    );
    // streamed download verifies
    let mut s = c.get_blob("x/target", &d, Some(data.len() as u64)).await.unwrap();
    let mut got = Vec::new();
    while let Some(chunk) = s.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, data);
    // chunked upload
    let data2 = Bytes::from(seed::random_layer(10, 40_000));
    let d2 = Digest::sha256(&data2);
    let body: copy_containers::registry::BlobStream = Box::pin(futures_util::stream::iter(
        data2
            .chunks(7000)
            .map(|c| Ok::<_, Error>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    ));
    c.upload_chunked("x/chunked", &d2, body, 16_384).await.unwrap();
    assert_eq!(
        c.blob_exists("x/chunked", &d2).await.unwrap(),
        Some(data2.len() as u64)
    );
    // catalog pagination (2.8 paginates _catalog)
    for i in 0..7 {
        seed::seed_image(&reg, &format!("page/r{i}"), "t", "amd64", 1)
            .await
            .unwrap();
    }
    let all = c.catalog(2).await.unwrap();
    for i in 0..7 {
        assert!(all.contains(&format!("page/r{i}")), "{all:?}");
    }
    // tags and delete by digest
    let img = seed::seed_image(&reg, "x/del", "a", "amd64", 1).await.unwrap();
    c.put_manifest("x/del", "b", &img.media_type, Bytes::from(img.manifest.clone()))
        .await
        .unwrap();
    let mut tags = c.list_tags("x/del").await.unwrap();
    tags.sort();
    assert_eq!(tags, ["a", "b"]);
    c.delete_manifest("x/del", &img.digest.parse().unwrap())
        .await
        .unwrap();
    assert!(c.head_manifest("x/del", "a").await.unwrap().is_none());
    assert!(c.head_manifest("x/del", "b").await.unwrap().is_none());
    assert!(c.list_tags("never/there").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_listing_follows_link_headers() {
    let f = tk::FakeHttp::start().unwrap();
    let host = f.url().trim_start_matches("http://").to_string();
    f.set("/v2/", tk::Route::json(&serde_json::json!({})));
    f.set(
        "/v2/ns/app/tags/list",
        tk::Route::json(&serde_json::json!({"name": "ns/app", "tags": ["a", "b"]}))
            .header("Link", "</v2/ns/app/tags/list?last=b&n=2>; rel=\"next\""),
    );
    f.set(
        "/v2/ns/app/tags/list?last=b&n=2",
        tk::Route::json(&serde_json::json!({"name": "ns/app", "tags": ["c"]})),
    );
    let c = plain_client(&host);
    assert_eq!(c.list_tags("ns/app").await.unwrap(), ["a", "b", "c"]);
    // null tags
    f.set(
        "/v2/ns/empty/tags/list",
        tk::Route::json(&serde_json::json!({"name": "ns/empty", "tags": null})),
    );
    assert!(c.list_tags("ns/empty").await.unwrap().is_empty());
    // schema 1 is refused clearly
    f.set(
        "/v2/ns/old/manifests/v1",
        tk::Route::new(
            200,
            media::DOCKER_V2S1_SIGNED,
            br#"{"schemaVersion":1,"name":"ns/old","tag":"v1","fsLayers":[]}"#.to_vec(),
        ),
    );
    let err = c.get_manifest("ns/old", "v1").await.unwrap_err().to_string();
    assert!(err.contains("schema 1"), "{err}");
    // a manifest whose Docker-Content-Digest lies
    f.set(
        "/v2/ns/liar/manifests/v1",
        tk::Route::new(200, media::DOCKER_V2S2, b"{\"schemaVersion\":2}".to_vec()).header(
            "Docker-Content-Digest",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ),
    );
    let err = c.get_manifest("ns/liar", "v1").await.unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_503_429_with_retry_after_on_get_upload_and_manifest_put() {
    let src = tk::Registry::plain().unwrap();
    let dst = tk::Registry::plain().unwrap();
    let img = seed::seed_image(&src, "r/img", "v1", "amd64", 2).await.unwrap();
    let sp = Proxy::for_registry(&src).unwrap();
    let dp = Proxy::for_registry(&dst).unwrap();
    sp.add_rule(
        FaultRule::status(503)
            .method("GET")
            .path_contains("/manifests/")
            .first(2),
    );
    sp.add_rule(
        FaultRule::new(FaultAction::ResetMidBody)
            .method("GET")
            .path_contains("/blobs/")
            .first(1),
    );
    dp.add_rule(
        FaultRule::new(FaultAction::Status {
            code: 429,
            retry_after: Some(1),
        })
        .method("POST")
        .path_contains("/blobs/uploads/")
        .first(1),
    );
    dp.add_rule(
        FaultRule::status(502)
            .method("PUT")
            .path_contains("/manifests/")
            .first(1),
    );
    dp.add_rule(
        FaultRule::new(FaultAction::ResetConnection)
            .method("HEAD")
            .first(1),
    );
    dp.add_rule(
        FaultRule::status(503)
            .method("PUT")
            .path_contains("/blobs/uploads/")
            .first(1),
    );
    let s = plain_client(&sp.host());
    let d = plain_client(&dp.host());
    let started = Instant::now();
    let out = copy_one(&s, "r/img", "v1", &d, "r/img", "v1").await;
    assert!(out.ok(), "{out:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured"
    );
    assert_eq!(skopeo_inspect_raw(&dst, "r/img:v1").unwrap(), img.manifest);
    for (i, p) in [(0, &sp), (1, &sp), (0, &dp), (1, &dp), (2, &dp), (3, &dp)] {
        assert!(p.rule_fired(i) >= 1, "rule {i} did not fire");
    }
    assert!(s.transport().stats().retries >= 2);
    assert!(d.transport().stats().retries >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_to_another_host_carries_no_credentials() {
    let reg = tk::Registry::tls_htpasswd("robot", "redirect-secret").unwrap();
    let img = seed::seed_image(&reg, "red/img", "v1", "amd64", 1).await.unwrap();
    let layer = seed::fetch_blob(&reg, "red/img", &img.layers[0].digest)
        .await
        .unwrap()
        .unwrap();
    let sink = RedirectSink::start(layer.clone()).unwrap();
    let proxy = Proxy::start_with(tk::ProxyOptions {
        upstream: reg.url(),
        upstream_ca: reg.ca_pem_path(),
        ..Default::default()
    })
    .unwrap();
    proxy.add_rule(
        FaultRule::new(FaultAction::Redirect(sink.url("/blob")))
            .method("GET")
            .path_contains("/blobs/")
            .always(),
    );
    let mut c = RegistryConfig::new(proxy.host());
    c.insecure = true;
    c.credentials = Credentials::basic("robot", "redirect-secret");
    let r = copy_containers::registry::Registry::new(c).unwrap();
    let d: Digest = img.layers[0].digest.parse().unwrap();
    let bytes = r.get_blob_bytes("red/img", &d, 1 << 24).await.unwrap();
    assert_eq!(bytes.as_ref(), layer.as_slice());
    assert!(sink.hits() >= 1);
    assert!(!sink.any_authorization(), "credentials followed the redirect");
    // the registry itself did get them (the manifest GET through the proxy worked)
    r.get_manifest("red/img", "v1").await.unwrap();
    // a redirect target serving other bytes is caught by the digest check
    let bad = RedirectSink::start(b"not the layer".to_vec()).unwrap();
    proxy.clear_rules();
    proxy.add_rule(
        FaultRule::new(FaultAction::Redirect(bad.url("/blob")))
            .method("GET")
            .path_contains("/blobs/")
            .always(),
    );
    let err = r.get_blob_bytes("red/img", &d, 1 << 24).await.unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
}

#[test]
fn cli_copies_a_multi_arch_image_and_skopeo_agrees() {
    let src = tk::Registry::plain().unwrap();
    let dst = tk::Registry::tls_htpasswd("robot", "cli-pass-42").unwrap();
    let list = seed::blocking::seed_index(&src, "cli/app", "v1", &["amd64", "ppc64le"], seed::Format::Docker)
        .unwrap();
    let out = bin()
        .args([
            "copy",
            &format!("{}/cli/app:v1", src.host()),
            &format!("{}/cli/app:v1", dst.host()),
        ])
        .args(["--src-insecure", "--dest-ca-file"])
        .arg(dst.ca_pem_path().unwrap())
        .args(["--dest-username", "robot", "--dest-password-env", "CC_TEST_PW"])
        .env("CC_TEST_PW", "cli-pass-42")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("copied"), "{stdout}");
    assert!(!stdout.contains("cli-pass-42") && !stderr.contains("cli-pass-42"));
    assert_eq!(
        tk::skopeo_inspect_digest(&dst, "cli/app:v1").unwrap(),
        list.digest
    );
    assert_eq!(
        tk::skopeo_inspect_digest(&src, "cli/app:v1").unwrap(),
        list.digest
    );
    // inspect shows both architectures
    let out = bin()
        .args(["inspect", "--insecure", &format!("{}/cli/app:v1", src.host())])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("linux/amd64") && s.contains("linux/ppc64le"), "{s}");
    // raw inspect is byte-exact
    let out = bin()
        .args([
            "inspect",
            "--raw",
            "--insecure",
            &format!("{}/cli/app:v1", src.host()),
        ])
        .output()
        .unwrap();
    assert_eq!(out.stdout, list.manifest);
    // a bad reference is a clear usage error, exit 2 (as clap's), no panic
    let out = bin().args(["copy", "Bad//Ref", "x/y"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("invalid") && !e.contains("panicked"), "{e}");
}

#[test]
fn proxy_counts_are_visible() {
    // guards the counting the idempotence tests rely on
    let reg = tk::Registry::plain().unwrap();
    let p = Proxy::for_registry(&reg).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = plain_client(&p.host());
        assert!(c.head_manifest("n/a", "t").await.unwrap().is_none());
    });
    assert_eq!(p.count("HEAD", PathKind::Manifests), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_token_uses_the_oauth2_refresh_grant() {
    let reg = tk::Registry::token("robot", "idtok-pass-5").unwrap();
    let ts = reg.token_server().unwrap();
    // get a refresh token the way `docker login` does (password grant, offline access)
    let body = format!(
        "grant_type=password&username=robot&password=idtok-pass-5&service={}&client_id=test&access_type=offline",
        ts.service()
    );
    let resp = tk::http::request(
        "POST",
        &ts.realm(),
        &[("content-type", "application/x-www-form-urlencoded")],
        body,
        reg.client_config().unwrap(),
    )
    .await
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    let refresh = v["refresh_token"].as_str().expect("refresh token").to_string();
    ts.reset_counters();
    let mut c = config_for(&reg);
    c.credentials = Credentials::IdentityToken {
        username: String::new(),
        token: copy_containers::transport::Secret::new(refresh.clone()),
    };
    let r = copy_containers::registry::Registry::new(c).unwrap();
    let d = Digest::sha256(b"idtoken blob");
    r.upload_bytes("id/repo", &d, Bytes::from_static(b"idtoken blob"))
        .await
        .unwrap();
    assert!(r.blob_exists("id/repo", &d).await.unwrap().is_some());
    let reqs = ts.requests();
    assert!(!reqs.is_empty());
    assert!(
        reqs.iter()
            .all(|q| q.method == "POST" && q.grant_type.as_deref() == Some("refresh_token")),
        "{reqs:#?}"
    );
    // a bad refresh token is refused clearly, without echoing it
    let mut c = config_for(&reg);
    c.credentials = Credentials::IdentityToken {
        username: String::new(),
        token: copy_containers::transport::Secret::new("not-a-valid-refresh-token-xyz"),
    };
    let err = copy_containers::registry::Registry::new(c)
        .unwrap()
        .ping()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("identity token") || err.contains("token server"),
        "{err}"
    );
    assert!(!err.contains("not-a-valid-refresh-token-xyz"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_rate_limit_pauses_instead_of_spending_the_last_pulls() {
    let f = tk::FakeHttp::start().unwrap();
    let host = f.url().trim_start_matches("http://").to_string();
    let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}"#;
    f.set("/v2/", tk::Route::json(&serde_json::json!({})));
    f.set(
        "/v2/lim/app/manifests/v1",
        tk::Route::new(200, media::DOCKER_V2S2, m.to_vec())
            .header("ratelimit-remaining", "2;w=21600")
            .header("Docker-Content-Digest", Digest::sha256(m).as_str()),
    );
    let mut c = RegistryConfig::new(host.clone());
    c.insecure = true;
    c.ratelimit_reserve = 5;
    c.ratelimit_max_wait = Duration::from_millis(400);
    let r = copy_containers::registry::Registry::new(c).unwrap();
    r.get_manifest("lim/app", "v1").await.unwrap();
    // the budget is nearly spent: the next pull waits, probes /v2/ (no header: recovered), goes on
    let started = Instant::now();
    r.get_manifest("lim/app", "v1").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert!(!f.requests_to("/v2/").is_empty(), "no probe");
    // when it does not recover, a clear error instead of burning the last pulls
    f.set(
        "/v2/",
        tk::Route::json(&serde_json::json!({})).header("ratelimit-remaining", "0;w=21600"),
    );
    let err = r.get_manifest("lim/app", "v1").await.unwrap_err().to_string();
    assert!(err.contains("rate limit"), "{err}");
    // HEADs do not count as pulls and are not held back
    assert!(r.head_manifest("lim/app", "v1").await.unwrap().is_some());
}

/// Log lines written by the subscriber [`capture_logs`] installs.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Lines holding every one of `words`.
    fn count(&self, words: &[&str]) -> usize {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).to_string();
        text.lines()
            .filter(|l| words.iter().all(|w| l.contains(w)))
            .count()
    }
}

/// INFO and above, of every test of this file (one global subscriber: a thread's own is not
/// reliably told of events whose callsite another thread met first); count lines naming the
/// test's own server.
fn capture_logs() -> Logs {
    static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let w = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || w.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        logs
    })
    .clone()
}

/// Docker Hub's pull limit reached with 8 pulls waiting: one WARN when the pause starts (not one per
/// waiter and pause), one probe of `/v2/` per pause, and each waiter fails as a rate limit (`Busy`,
/// naming the limit and its window, so the advice is to wait or log in), not as an unreachable
/// registry; when the limit resets, one INFO and the pull goes on. A `429` to the end is a rate limit
/// too, and a `Retry-After` longer than we wait is said once. Before: a WARN per waiter per pause,
/// a probe each, and `unreachable` ("rerun once it answers").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_rate_limit_is_one_warning_and_a_rate_limit_error() {
    let logs = capture_logs();
    let f = tk::FakeHttp::start().unwrap();
    let host = f.url().trim_start_matches("http://").to_string();
    let ours = format!("registry={host}");
    let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}"#;
    let limited = |r: tk::Route| r.header("ratelimit-remaining", "0;w=21600");
    f.set("/v2/", limited(tk::Route::json(&serde_json::json!({}))));
    f.set(
        "/v2/lim/app/manifests/v1",
        limited(tk::Route::new(200, media::DOCKER_V2S2, m.to_vec()))
            .header("Docker-Content-Digest", Digest::sha256(m).as_str()),
    );
    let mut c = RegistryConfig::new(host.clone());
    c.insecure = true;
    c.retry.base_delay = Duration::from_millis(10);
    c.retry.max_retry_after = Duration::from_millis(50);
    c.ratelimit_reserve = 5;
    c.ratelimit_max_wait = Duration::from_millis(300);
    let r = copy_containers::registry::Registry::new(c).unwrap();
    r.get_manifest("lim/app", "v1").await.unwrap();
    let waiting = (0..8).map(|_| r.get_manifest("lim/app", "v1"));
    for e in futures_util::future::join_all(waiting).await {
        let e = e.unwrap_err();
        assert!(matches!(e, Error::Busy { .. }), "{e}");
        assert!(
            e.to_string().contains(
                "pull rate limit reached: 0 pulls left (it counts pulls over 6 h), and it did not \
                 reset within ratelimit_max_wait"
            ),
            "{e}"
        );
    }
    assert_eq!(logs.count(&[&ours, "WARN", "pull rate limit"]), 1);
    assert_eq!(f.requests_to("/v2/").len(), 1, "one probe per pause");
    // The limit resets: one INFO, and the pull goes on.
    f.set("/v2/", tk::Route::json(&serde_json::json!({})));
    r.get_manifest("lim/app", "v1").await.unwrap();
    assert_eq!(logs.count(&[&ours, "INFO", "pulls resume"]), 1);
    assert_eq!(logs.count(&[&ours, "WARN", "pull rate limit"]), 1);
    // A 429 to the end (HEADs are not held back by the pull limit), asking for an hour each time.
    f.set(
        "/v2/lim/app/manifests/v2",
        tk::Route::new(429, "text/plain", "Too Many Requests").header("Retry-After", "3600"),
    );
    for _ in 0..3 {
        let e = r.head_manifest("lim/app", "v2").await.unwrap_err();
        assert!(matches!(e, Error::Busy { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("HTTP 429 Too Many Requests: rate limit reached"),
            "{e}"
        );
    }
    assert_eq!(logs.count(&[&ours, "WARN", "Retry-After asks for more"]), 1);
}
