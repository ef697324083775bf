//! The sources against a local HTTP server (testkit's `FakeHttp`, with its fault-injecting `Proxy`
//! in front for retries) serving the fixtures in their real formats.

use std::time::Duration;

use copy_containers::sources::http::{Fetcher, HttpOptions};
use copy_containers::sources::tripleo_common::{self, TripleoCommonQuery};
use copy_containers::sources::{dlrn, zuul, HashKind};
use copy_containers::transport::RetryPolicy;
use copy_containers_testkit::{FakeHttp, FaultAction, FaultRule, Proxy, Route};

const BUILDS: &str = include_str!("fixtures/zuul/builds.json");
const PODMAN_LOG: &str = include_str!("fixtures/zuul/containers-successfully-built.log");
const JOB_OUTPUT: &str = include_str!("fixtures/zuul/job-output.txt");
const PROMOTIONS: &str = include_str!("fixtures/dlrn/promotions.json");
const VERSIONS: &str = include_str!("fixtures/dlrn/versions.csv");
const CONTAINERS: &str = include_str!("fixtures/tripleo-common/tripleo_containers.yaml");

const JOB: &str = "periodic-tripleo-ci-build-containers-ubi-9-quay-push-master";
const AGG: &str = "d7c3cd922f91d83aacb5d7555de9d5bc";
const TC_SHA: &str = "9fca209d49497c11558b2537eddba1750c38ad94";

fn fixture_path(rel: &str) -> String {
    format!("{}/tests/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn fetcher() -> Fetcher {
    Fetcher::new(HttpOptions {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
        retry: RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(1),
        },
        ..HttpOptions::default()
    })
    .unwrap()
}

/// builds.json with every log_url moved onto the fake server (`/logs/<short uuid>/`).
fn builds_for(base: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(BUILDS).unwrap();
    for b in v.as_array_mut().unwrap() {
        let uuid = b["uuid"].as_str().unwrap()[..7].to_string();
        b["log_url"] = serde_json::Value::String(format!("{base}/logs/{uuid}/"));
    }
    v.to_string()
}

fn builds_route(f: &FakeHttp, body: &str) {
    f.set_route(
        &format!("/zuul/api/builds?job_name={JOB}"),
        200,
        "application/json",
        body,
    );
}

/// The request paths the server saw, in order.
fn paths(f: &FakeHttp) -> Vec<String> {
    f.requests()
        .iter()
        .map(|r| match &r.query {
            Some(q) => format!("{}?{q}", r.path),
            None => r.path.clone(),
        })
        .collect()
}

const LOG_DIR: &str = "/logs/737b6ed/";

#[tokio::test]
async fn zuul_log_fallback_order() {
    for (i, file) in zuul::LOG_CANDIDATES.iter().enumerate() {
        let f = FakeHttp::start().unwrap();
        builds_route(&f, &builds_for(&f.url()));
        let body = if file.ends_with(".txt") {
            JOB_OUTPUT
        } else {
            PODMAN_LOG
        };
        // Everything else under the log dir is 404 (the server's default).
        f.set(&format!("{LOG_DIR}{file}"), Route::text(body));
        let got = zuul::latest_built_containers(
            &fetcher(),
            &format!("{}/zuul/api/", f.url()),
            JOB,
            Some(zuul::DEFAULT_PREFIX),
        )
        .await
        .unwrap();

        let mut expected = vec![format!("/zuul/api/builds?job_name={JOB}")];
        expected.extend(zuul::LOG_CANDIDATES[..=i].iter().map(|c| format!("{LOG_DIR}{c}")));
        assert_eq!(paths(&f), expected, "serving only {file}");
        assert_eq!(got.log_file, format!("{}{LOG_DIR}{file}", f.url()));
        assert_eq!(
            got.build_uuid.as_deref(),
            Some("737b6ed79182c3c8e288b16437d02410")
        );
        if file.ends_with(".txt") {
            assert_eq!(got.log_format, zuul::LogFormat::JobOutput);
            assert_eq!(got.names, ["aodh-api", "aodh-evaluator"]);
            assert_eq!(got.not_pushed, ["aodh-listener"]);
            assert_eq!(got.hash, "0a1b2c3d4e5f60718293a4b5c6d7e8f9");
        } else {
            assert_eq!(got.log_format, zuul::LogFormat::PodmanImages);
            assert_eq!(got.names.len(), PODMAN_LOG.lines().count());
            assert_eq!(got.names[0], "aodh-api");
            assert_eq!(got.hash, AGG);
            assert_eq!(got.hash_kind, HashKind::Aggregate);
        }
    }
}

#[tokio::test]
async fn zuul_all_logs_missing() {
    let f = FakeHttp::start().unwrap();
    builds_route(&f, &builds_for(&f.url()));
    let e = zuul::latest_built_containers(&fetcher(), &format!("{}/zuul/api", f.url()), JOB, None)
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("job-output.txt") && msg.contains("/logs/737b6ed/"),
        "{msg}"
    );
    assert_eq!(paths(&f).len(), 1 + zuul::LOG_CANDIDATES.len());
}

#[tokio::test]
async fn zuul_non_404_error_stops_the_fallback() {
    let f = FakeHttp::start().unwrap();
    builds_route(&f, &builds_for(&f.url()));
    f.set_route(
        &format!("{LOG_DIR}{}", zuul::LOG_CANDIDATES[0]),
        403,
        "text/html",
        "<h1>Forbidden</h1>",
    );
    f.set(
        &format!("{LOG_DIR}{}", zuul::LOG_CANDIDATES[1]),
        Route::text(PODMAN_LOG),
    );
    let e = zuul::latest_built_containers(&fetcher(), &format!("{}/zuul/api/", f.url()), JOB, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("403") && e.contains("containers-successfully-built.log"),
        "{e}"
    );
    assert!(e.contains("Forbidden"), "{e}");
    assert_eq!(paths(&f).len(), 2, "{:?}", paths(&f));
}

#[tokio::test]
async fn zuul_no_success_build() {
    let f = FakeHttp::start().unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&builds_for(&f.url())).unwrap();
    for b in v.as_array_mut().unwrap() {
        b["result"] = "FAILURE".into();
    }
    builds_route(&f, &v.to_string());
    let e = zuul::latest_built_containers(&fetcher(), &format!("{}/zuul/api/", f.url()), JOB, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no build with result SUCCESS") && e.contains("3 FAILURE"),
        "{e}"
    );
    assert!(e.contains("/zuul/api/builds?job_name="), "{e}");
    assert_eq!(paths(&f).len(), 1);

    // An empty answer (no builds at all).
    builds_route(&f, "[]");
    let e = zuul::latest_built_containers(&fetcher(), &format!("{}/zuul/api/", f.url()), JOB, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no build with result SUCCESS among the 0"), "{e}");
}

#[tokio::test]
async fn zuul_malformed_json() {
    let f = FakeHttp::start().unwrap();
    builds_route(&f, "[{\"result\": \"SUCCESS\", \"log_url\": ");
    let e = zuul::latest_built_containers(&fetcher(), &format!("{}/zuul/api/", f.url()), JOB, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not valid JSON") && e.contains(&f.url()), "{e}");
    builds_route(&f, "<html><body>Zuul is restarting</body></html>");
    let e = zuul::latest_built_containers(&fetcher(), &format!("{}/zuul/api/", f.url()), JOB, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not valid JSON"), "{e}");
}

#[tokio::test]
async fn zuul_empty_log_is_an_error() {
    let f = FakeHttp::start().unwrap();
    builds_route(&f, &builds_for(&f.url()));
    f.set(&format!("{LOG_DIR}{}", zuul::LOG_CANDIDATES[0]), Route::text(""));
    let e = zuul::latest_built_containers(&fetcher(), &format!("{}/zuul/api/", f.url()), JOB, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no line matched") && e.contains("containers-successfully-built.log"),
        "{e}"
    );
}

#[tokio::test]
async fn dlrn_aggregate_and_repo_hash() {
    let f = FakeHttp::start().unwrap();
    let route = "/api-centos9-master-uc/api/promotions?promote_name=current-tripleo&limit=1";
    f.set_route(route, 200, "application/json", PROMOTIONS);
    let api = format!("{}/api-centos9-master-uc", f.url());
    let p = dlrn::promoted_hash(&fetcher(), &api, "current-tripleo")
        .await
        .unwrap();
    assert_eq!(p.hash, AGG);
    assert_eq!(p.kind, HashKind::Aggregate);
    assert_eq!(paths(&f), [route]);

    // Without an aggregate hash: the repo_hash.
    let mut v: Vec<serde_json::Value> = serde_json::from_str(PROMOTIONS).unwrap();
    v[0]["aggregate_hash"] = serde_json::Value::Null;
    f.set_route(route, 200, "application/json", serde_json::to_vec(&v).unwrap());
    let p = dlrn::promoted_hash(&fetcher(), &api, "current-tripleo")
        .await
        .unwrap();
    assert_eq!(p.hash, "9b1e3c4a5d6f7e8091a2b3c4d5e6f708192a3b4c_3f2e1d0c");
    assert_eq!(p.kind, HashKind::Full);
}

#[tokio::test]
async fn dlrn_empty_and_malformed() {
    let f = FakeHttp::start().unwrap();
    let route = "/api/promotions?promote_name=current-tripleo&limit=1";
    f.set_route(route, 200, "application/json", "[]");
    let e = dlrn::promoted_hash(&fetcher(), &f.url(), "current-tripleo")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no promotion to current-tripleo") && e.contains(&f.url()),
        "{e}"
    );
    f.set_route(route, 200, "application/json", "{\"aggregate_hash\": ");
    let e = dlrn::promoted_hash(&fetcher(), &f.url(), "current-tripleo")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not valid JSON"), "{e}");
}

#[tokio::test]
async fn retry_500_then_success() {
    let f = FakeHttp::start().unwrap();
    let route = "/api/promotions?promote_name=current-tripleo&limit=1";
    f.set_route(route, 200, "application/json", PROMOTIONS);
    let proxy = Proxy::start(&f.url()).unwrap();
    proxy.add_rule(FaultRule::status(500).first(2));
    let p = dlrn::promoted_hash(&fetcher(), &proxy.url(), "current-tripleo")
        .await
        .unwrap();
    assert_eq!(p.hash, AGG);
    let statuses: Vec<Option<u16>> = proxy.log().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(200)]);
    assert_eq!(f.requests().len(), 1);
}

#[tokio::test]
async fn retry_gives_up_after_the_attempts() {
    let f = FakeHttp::start().unwrap();
    let proxy = Proxy::start(&f.url()).unwrap();
    proxy.add_rule(FaultRule::status(503).always());
    let e = dlrn::promoted_hash(&fetcher(), &proxy.url(), "current-tripleo")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("HTTP 503") && e.contains("after 3 attempts"), "{e}");
    assert!(e.contains("/api/promotions"), "{e}");
    assert_eq!(proxy.total(), 3);
}

#[tokio::test]
async fn retry_after_a_timeout() {
    let f = FakeHttp::start().unwrap();
    f.set_route("/api/promotions", 200, "application/json", PROMOTIONS);
    let proxy = Proxy::start(&f.url()).unwrap();
    proxy.add_rule(FaultRule::new(FaultAction::Delay(Duration::from_secs(3))).first(1));
    let fetcher = Fetcher::new(HttpOptions {
        read_timeout: Duration::from_millis(500),
        retry: RetryPolicy {
            attempts: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
            max_retry_after: Duration::from_secs(1),
        },
        ..HttpOptions::default()
    })
    .unwrap();
    let p = dlrn::promoted_hash(&fetcher, &proxy.url(), "current-tripleo")
        .await
        .unwrap();
    assert_eq!(p.hash, AGG);
}

#[tokio::test]
async fn typed_404_and_body_cap() {
    let f = FakeHttp::start().unwrap();
    f.set("/big", Route::text(&"x".repeat(10_000)));
    let url = url::Url::parse(&format!("{}/missing", f.url())).unwrap();
    let e = fetcher().get(&url).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e.to_string().contains("/missing"), "{e}");
    // A 404 is not retried.
    assert_eq!(f.requests().len(), 1);

    let small = Fetcher::new(HttpOptions {
        max_body_bytes: 1000,
        ..HttpOptions::default()
    })
    .unwrap();
    let url = url::Url::parse(&format!("{}/big", f.url())).unwrap();
    let e = small.get(&url).await.unwrap_err().to_string();
    assert!(e.contains("1000-byte limit") && e.contains("/big"), "{e}");
}

#[tokio::test]
async fn credentials_in_urls_stay_out_of_errors() {
    let f = FakeHttp::start().unwrap();
    let api = f.url().replace("http://", "http://ciuser:hunter2@");
    let e = dlrn::promoted_hash(&fetcher(), &api, "current-tripleo")
        .await
        .unwrap_err()
        .to_string();
    assert!(!e.contains("hunter2") && !e.contains("ciuser"), "{e}");
}

#[tokio::test]
async fn tripleo_common_chain_from_dlrn() {
    let f = FakeHttp::start().unwrap();
    // DLRN reports a repo_url on our server.
    let mut v: Vec<serde_json::Value> = serde_json::from_str(PROMOTIONS).unwrap();
    v[0]["repo_url"] = format!("{}/centos9-master/d7/c3/{AGG}", f.url()).into();
    f.set_route(
        "/api/promotions?promote_name=current-tripleo&limit=1",
        200,
        "application/json",
        serde_json::to_vec(&v).unwrap(),
    );
    f.set(
        &format!("/centos9-master/d7/c3/{AGG}/versions.csv"),
        Route::text(VERSIONS),
    );
    f.set(
        &format!("/openstack/tripleo-common/raw/commit/{TC_SHA}/container-images/tripleo_containers.yaml"),
        Route::new(200, "text/plain", CONTAINERS),
    );
    let fetcher = fetcher();

    let p = dlrn::promoted_hash(&fetcher, &f.url(), "current-tripleo")
        .await
        .unwrap();
    let sha = tripleo_common::fetch_tripleo_common_sha(&fetcher, &p.versions_csv_url().unwrap())
        .await
        .unwrap();
    assert_eq!(sha, TC_SHA);
    let yaml_url = tripleo_common::tripleo_containers_url(
        &format!("{}/openstack/tripleo-common", f.url()),
        &sha,
        tripleo_common::CONTAINERS_PATH,
    )
    .unwrap();

    // The excludes as a plain path, then as a file:// URL.
    let excludes_path = fixture_path("tripleo-ci/build-containers-vars-main.yaml");
    for excludes in [excludes_path.clone(), format!("file://{excludes_path}")] {
        let got = tripleo_common::fetch_container_lists(
            &fetcher,
            &TripleoCommonQuery {
                containers_yaml: yaml_url.to_string(),
                excludes_yaml: Some(excludes),
                release: "master".into(),
                distro: "centos9".into(),
                keep_all_sources: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(got.listed, 86);
        assert_eq!(got.lists.containers.len(), 85);
        assert!(!got.lists.containers.iter().any(|n| n == "neutron-mlnx-agent"));
        assert_eq!(got.without_prefix, ["tripleo-ansible-ee"]);
        assert_eq!(got.lists.ppc_containers.as_ref().unwrap().len(), 85);
        assert_eq!(
            got.excludes.containers_from.as_deref(),
            Some("exclude_containers.master.centos9")
        );
    }
    // The container list from a local file too, and an unknown release (master's excludes).
    let got = tripleo_common::fetch_container_lists(
        &fetcher,
        &TripleoCommonQuery {
            containers_yaml: fixture_path("tripleo-common/tripleo_containers.yaml"),
            excludes_yaml: Some(excludes_path),
            release: "caracal".into(),
            distro: "centos8".into(),
            keep_all_sources: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(got.lists.containers.len(), 85);
    assert_eq!(got.lists.ppc_containers.unwrap().len(), 84);
    assert!(got.excludes.containers_defaulted);
}

#[tokio::test]
async fn tripleo_common_missing_file_and_yaml_404() {
    let f = FakeHttp::start().unwrap();
    let e = tripleo_common::fetch_container_lists(
        &fetcher(),
        &TripleoCommonQuery {
            containers_yaml: format!("{}/nope/tripleo_containers.yaml", f.url()),
            excludes_yaml: None,
            release: "master".into(),
            distro: "centos9".into(),
            keep_all_sources: None,
        },
    )
    .await
    .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = tripleo_common::fetch_container_lists(
        &fetcher(),
        &TripleoCommonQuery {
            containers_yaml: "/nonexistent/tripleo_containers.yaml".into(),
            excludes_yaml: None,
            release: "master".into(),
            distro: "centos9".into(),
            keep_all_sources: None,
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("/nonexistent/tripleo_containers.yaml"), "{e}");
}
