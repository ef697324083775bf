//! The Quay API client against a local fake Quay (testkit's `FakeHttp`) answering with recorded
//! shapes: paginated listings, 201 created, 400 "already exists", 401, 5xx, garbage.

use std::time::Duration;

use copy_containers::promote::RegistryArgs;
use copy_containers::quay::{self, Quay, QuaySpec};
use copy_containers::transport::{RetryPolicy, Secret};
use copy_containers_testkit::{FakeHttp, Route};

const NS: &str = "tripleomastercentos9";
const TOKEN: &str = "quay-test-token-7f3a9c";
const PAGE1: &str = include_str!("fixtures/config/quay/repositories-page1.json");
const PAGE2: &str = include_str!("fixtures/config/quay/repositories-page2.json");
const PAGE3: &str = include_str!("fixtures/config/quay/repositories-page3.json");
const CREATED: &str = include_str!("fixtures/config/quay/create-201.json");
const EXISTS: &str = include_str!("fixtures/config/quay/create-exists-400.json");
const UNAUTHORIZED: &str = include_str!("fixtures/config/quay/unauthorized-401.json");
const INVALID: &str = include_str!("fixtures/config/quay/invalid-name-400.json");

const LIST: &str = "/api/v1/repository";

fn list_key(page: Option<&str>) -> String {
    match page {
        None => format!("{LIST}?namespace={NS}&public=true"),
        Some(p) => format!("{LIST}?namespace={NS}&public=true&next_page={p}"),
    }
}

fn args(f: &FakeHttp) -> RegistryArgs {
    RegistryArgs {
        host: "quay.example.org".into(),
        namespace: Some(NS.into()),
        create_repo: Some(true),
        token: Some(Secret::new(TOKEN)),
        quay_api: Some(format!("{}/api/v1/", f.url())),
        ..Default::default()
    }
}

fn spec(f: &FakeHttp) -> QuaySpec {
    let mut s = QuaySpec::from_registry_args(&args(f), "target_registries[0]", None)
        .unwrap()
        .unwrap();
    s.retry = RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(1),
    };
    s
}

fn paginated(f: &FakeHttp) {
    f.set(&list_key(None), Route::new(200, "application/json", PAGE1));
    f.set(
        &list_key(Some("gAAAAABnX1page2")),
        Route::new(200, "application/json", PAGE2),
    );
    f.set(
        &list_key(Some("gAAAAABnX1page3")),
        Route::new(200, "application/json", PAGE3),
    );
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn listing_follows_next_page() {
    let f = FakeHttp::start().unwrap();
    paginated(&f);
    let q = Quay::new(spec(&f)).unwrap();
    let got = q.list_repositories().await.unwrap();
    assert_eq!(
        got,
        [
            "openstack-aodh-api",
            "openstack-base",
            "openstack-cron",
            "openstack-nova-compute"
        ]
    );
    let reqs = f.requests_to(LIST);
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(r.method, "GET");
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
    assert_eq!(
        reqs[2].query.as_deref(),
        Some(format!("namespace={NS}&public=true&next_page=gAAAAABnX1page3").as_str())
    );
}

#[tokio::test]
async fn missing_repositories_are_created_public() {
    let f = FakeHttp::start().unwrap();
    paginated(&f);
    f.set(LIST, Route::new(201, "application/json", CREATED));
    let wanted = names(&[
        "openstack-base",
        "openstack-neutron-server",
        "openstack-nova-compute",
        "openstack-ovn-controller",
        "openstack-neutron-server",
    ]);
    let created = quay::ensure_repositories(&spec(&f), &wanted).await.unwrap();
    assert_eq!(created, ["openstack-neutron-server", "openstack-ovn-controller"]);
    let posts: Vec<_> = f
        .requests_to(LIST)
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2, "one POST per missing repository, duplicates once");
    for (p, name) in posts
        .iter()
        .zip(["openstack-neutron-server", "openstack-ovn-controller"])
    {
        assert_eq!(
            p.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert!(p.header("content-type").unwrap().starts_with("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(body["namespace"], NS);
        assert_eq!(body["repository"], name);
        assert_eq!(body["visibility"], "public");
        assert!(body["description"].as_str().unwrap().contains("copy-containers"));
    }
}

#[tokio::test]
async fn already_exists_counts_as_there() {
    let f = FakeHttp::start().unwrap();
    f.set(
        &list_key(None),
        Route::json(&serde_json::json!({"repositories": []})),
    );
    f.set(LIST, Route::new(400, "application/json", EXISTS));
    let o = quay::ensure(&spec(&f), &names(&["openstack-a", "openstack-b"]), false)
        .await
        .unwrap();
    assert!(o.created.is_empty());
    assert_eq!(o.existing, ["openstack-a", "openstack-b"]);
}

#[tokio::test]
async fn dry_run_lists_only() {
    let f = FakeHttp::start().unwrap();
    paginated(&f);
    let o = quay::ensure(&spec(&f), &names(&["openstack-base", "openstack-new"]), true)
        .await
        .unwrap();
    assert_eq!(o.existing, ["openstack-base"]);
    assert_eq!(o.would_create, ["openstack-new"]);
    assert!(f.requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test]
async fn failures_are_clear_and_never_show_the_token() {
    // 401 on the listing.
    let f = FakeHttp::start().unwrap();
    f.set(&list_key(None), Route::new(401, "application/json", UNAUTHORIZED));
    let e = quay::ensure_repositories(&spec(&f), &names(&["openstack-a"]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("401") && e.contains("token was refused") && e.contains(NS),
        "{e}"
    );
    assert!(!e.contains(TOKEN), "{e}");

    // Another 400 on create is an error, not "exists".
    let f = FakeHttp::start().unwrap();
    f.set(
        &list_key(None),
        Route::json(&serde_json::json!({"repositories": []})),
    );
    f.set(LIST, Route::new(400, "application/json", INVALID));
    let e = quay::ensure_repositories(&spec(&f), &names(&["openstack-a"]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("POST") && e.contains("HTTP 400") && e.contains("Invalid repository name"),
        "{e}"
    );

    // Garbage listing.
    let f = FakeHttp::start().unwrap();
    f.set(
        &list_key(None),
        Route::new(200, "text/html", "<html>maintenance</html>"),
    );
    let e = Quay::new(spec(&f))
        .unwrap()
        .list_repositories()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Quay repository listing") && e.contains("expected"),
        "{e}"
    );

    // A listing whose next_page loops.
    let f = FakeHttp::start().unwrap();
    f.set(
        &list_key(None),
        Route::json(&serde_json::json!({"repositories": [], "next_page": "p2"})),
    );
    f.set(
        &list_key(Some("p2")),
        Route::json(&serde_json::json!({"repositories": [], "next_page": "p2"})),
    );
    let e = Quay::new(spec(&f))
        .unwrap()
        .list_repositories()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("loops"), "{e}");

    // 5xx is retried, then reported.
    let f = FakeHttp::start().unwrap();
    f.set(&list_key(None), Route::new(503, "text/plain", "busy"));
    let e = Quay::new(spec(&f))
        .unwrap()
        .list_repositories()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("503"), "{e}");
    assert_eq!(f.requests().len(), 3, "three attempts");
    assert!(!e.contains(TOKEN));

    // Nobody listening.
    let dead = {
        let f = FakeHttp::start().unwrap();
        spec(&f)
    };
    let e = Quay::new(dead)
        .unwrap()
        .list_repositories()
        .await
        .unwrap_err()
        .to_string();
    assert!(!e.contains(TOKEN), "{e}");
}

#[test]
fn tokens_from_env_and_file() {
    let f = FakeHttp::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "from-file-token\n").unwrap();
    let mut a = args(&f);
    a.token = None;
    a.token_file = Some(file);
    let s = QuaySpec::from_registry_args(&a, "t", None).unwrap().unwrap();
    assert_eq!(s.token.expose(), "from-file-token");
    assert!(!format!("{s:?}").contains("from-file-token"));

    let mut a = args(&f);
    a.token = None;
    std::env::set_var("CC_TEST_QUAY_TOKEN_ENV", "from-env-token");
    a.token_env = Some("CC_TEST_QUAY_TOKEN_ENV".into());
    let s = QuaySpec::from_registry_args(&a, "t", None).unwrap().unwrap();
    assert_eq!(s.token.expose(), "from-env-token");

    let mut a = args(&f);
    a.token = None;
    a.token_file = Some(dir.path().join("missing"));
    let e = QuaySpec::from_registry_args(&a, "target_registries[1]", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("target_registries[1]") && e.contains("token_file"),
        "{e}"
    );
}

/// copy-quay's tag move: `PUT <api>/repository/<ns>/<name>/tag/<tag>` with the digest, 201
/// `"Updated"`; a refused token or a digest Quay does not hold is a clear error, no token shown.
#[tokio::test]
async fn tags_move_through_the_api() {
    let f = FakeHttp::start().unwrap();
    let path = format!("/api/v1/repository/{NS}/openstack-base/tag/current-tripleo");
    f.set(&path, Route::new(201, "application/json", "\"Updated\""));
    let q = Quay::new(spec(&f)).unwrap();
    let d = copy_containers::digest::Digest::sha256(b"manifest");
    let repo = format!("{NS}/openstack-base");
    q.set_tag(&repo, "current-tripleo", &d).await.unwrap();
    let puts = f.requests_to(&path);
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].method, "PUT");
    assert_eq!(
        puts[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let body: serde_json::Value = serde_json::from_slice(&puts[0].body).unwrap();
    assert_eq!(body, serde_json::json!({"manifest_digest": d.as_str()}));

    f.set(&path, Route::new(401, "application/json", UNAUTHORIZED));
    let e = q
        .set_tag(&repo, "current-tripleo", &d)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("401") && e.contains("write access to") && e.contains(&repo),
        "{e}"
    );
    assert!(!e.contains(TOKEN), "{e}");
    f.set(
        &path,
        Route::new(
            404,
            "application/json",
            r#"{"detail": "Not Found", "status": 404}"#,
        ),
    );
    let e = q
        .set_tag(&repo, "current-tripleo", &d)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("PUT") && e.contains("404"), "{e}");
    let e = q.set_tag(&repo, "bad tag", &d).await.unwrap_err().to_string();
    assert!(e.contains("bad tag") || e.contains("tag"), "{e}");
}
