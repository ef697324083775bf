//! The fault-injecting proxy in front of a real registry, FakeHttp and
//! RedirectSink.

use copy_containers_testkit::http::{request_blocking, HttpResponse};
use copy_containers_testkit::seed::blocking as sb;
use copy_containers_testkit::{
    sha256_digest, FakeHttp, FaultAction, FaultRule, PathKind, Proxy, RedirectSink, Registry, Route,
};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn get(url: &str) -> anyhow::Result<HttpResponse> {
    request_blocking("GET", url, &[], Vec::new(), None)
}

/// Sends a GET on a raw socket and returns (headers, body bytes received
/// before the server closed the connection).
fn raw_get(host: &str, path: &str) -> (String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").expect("headers");
    (
        String::from_utf8_lossy(&all[..split]).into_owned(),
        all[split + 4..].to_vec(),
    )
}

#[test]
fn proxy_forwards_and_counts() {
    let reg = Registry::plain().unwrap();
    let proxy = Proxy::for_registry(&reg).unwrap();
    assert!(proxy.url().starts_with("http://127.0.0.1:"));

    // Pushing through the proxy exercises Location rewriting: the upload
    // URL must point at the proxy, or the PUT would bypass it.
    let img = sb::seed_image(proxy.url().as_str(), "p/q", "v1", "amd64", 2).unwrap();
    assert_eq!(proxy.count("POST", PathKind::Uploads), 3);
    assert_eq!(proxy.count("PUT", PathKind::Uploads), 3);
    assert_eq!(proxy.count("PUT", PathKind::Manifests), 1);
    assert_eq!(proxy.count_method("PUT"), 4);
    assert!(proxy
        .log()
        .iter()
        .all(|r| r.status.is_some() && r.fault.is_none()));
    let put = proxy.log().into_iter().find(|r| r.method == "PUT").unwrap();
    assert!(put.query.unwrap().contains("digest=sha256%3A") || put.path.contains("uploads"));

    proxy.reset();
    assert_eq!(proxy.total(), 0);
    let (_, m) = sb::fetch_manifest(proxy.url().as_str(), "p/q", "v1")
        .unwrap()
        .unwrap();
    assert_eq!(m, img.manifest);
    let blob = sb::fetch_blob(proxy.url().as_str(), "p/q", &img.layers[0].digest)
        .unwrap()
        .unwrap();
    assert_eq!(sha256_digest(&blob), img.layers[0].digest);
    assert_eq!(get(&format!("{}/v2/", proxy.url())).unwrap().status, 200);
    assert_eq!(
        sb::list_tags(proxy.url().as_str(), "p/q").unwrap(),
        vec!["v1".to_string()]
    );
    // HEAD keeps Content-Length.
    let head = request_blocking(
        "HEAD",
        &format!("{}/v2/p/q/blobs/{}", proxy.url(), img.layers[0].digest),
        &[],
        Vec::new(),
        None,
    )
    .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(img.layers[0].size.to_string().as_str())
    );

    assert_eq!(proxy.count_kind(PathKind::Manifests), 1);
    assert_eq!(proxy.count_kind(PathKind::Blobs), 2);
    assert_eq!(proxy.count_kind(PathKind::Base), 1);
    assert_eq!(proxy.count_kind(PathKind::Tags), 1);
    assert_eq!(proxy.count_method("HEAD"), 1);
    assert_eq!(proxy.total(), 5);
    assert_eq!(proxy.faults().total(), 0);
    let stats = proxy.stats_json();
    assert_eq!(stats["requests"], 5);
    assert_eq!(stats["by_kind"]["blobs"], 2);
}

#[test]
fn status_fault_first_n_with_retry_after() {
    let reg = Registry::plain().unwrap();
    sb::seed_image(&reg, "f/s", "v", "amd64", 1).unwrap();
    let proxy = Proxy::for_registry(&reg).unwrap();
    proxy.add_rule(
        FaultRule::new(FaultAction::Status {
            code: 503,
            retry_after: Some(2),
        })
        .method("get")
        .path_contains("/manifests/")
        .first(2),
    );
    let url = format!("{}/v2/f/s/manifests/v", proxy.url());
    let accept = [("accept", "application/vnd.docker.distribution.manifest.v2+json")];
    let statuses: Vec<u16> = (0..3)
        .map(|_| {
            let r = request_blocking("GET", &url, &accept, Vec::new(), None).unwrap();
            if r.status == 503 {
                assert_eq!(r.header("retry-after"), Some("2"));
                assert!(r.text().contains("UNAVAILABLE"));
            }
            r.status
        })
        .collect();
    assert_eq!(statuses, vec![503, 503, 200]);
    // Other paths and methods are untouched.
    assert_eq!(get(&format!("{}/v2/", proxy.url())).unwrap().status, 200);
    assert_eq!(proxy.faults().status, 2);
    assert_eq!(proxy.rule_fired(0), 2);
    let log = proxy.log();
    assert_eq!(log[0].fault, Some(copy_containers_testkit::FaultKind::Status));
    assert_eq!(log[2].fault, None);

    // skip(1): the first match passes, the second is hit.
    proxy.clear_rules();
    proxy.add_rule(FaultRule::status(429).path_contains("/v2/").skip(1).first(1));
    let s: Vec<u16> = (0..3)
        .map(|_| get(&format!("{}/v2/", proxy.url())).unwrap().status)
        .collect();
    assert_eq!(s, vec![200, 429, 200]);
}

#[test]
fn reset_connection_fault() {
    let reg = Registry::plain().unwrap();
    let proxy = Proxy::for_registry(&reg).unwrap();
    proxy.add_rule(FaultRule::new(FaultAction::ResetConnection).first(1));
    let err = get(&format!("{}/v2/", proxy.url())).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("reset") || msg.contains("closed") || msg.contains("incomplete"),
        "{msg}"
    );
    assert_eq!(get(&format!("{}/v2/", proxy.url())).unwrap().status, 200);
    assert_eq!(proxy.faults().reset_connection, 1);
    assert_eq!(proxy.log()[0].status, None);
}

#[test]
fn reset_mid_body_fault() {
    let reg = Registry::plain().unwrap();
    let img = sb::seed_image(&reg, "m/b", "v", "amd64", 1).unwrap();
    let layer = &img.layers[0];
    let proxy = Proxy::for_registry(&reg).unwrap();
    proxy.add_rule(
        FaultRule::new(FaultAction::ResetMidBody)
            .path_contains("/blobs/")
            .first(1),
    );
    let path = format!("/v2/m/b/blobs/{}", layer.digest);
    let (headers, body) = raw_get(&proxy.host(), &path);
    assert!(headers.starts_with("HTTP/1.1 200"), "{headers}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains(&format!("content-length: {}", layer.size)),
        "{headers}"
    );
    assert_eq!(body.len() as u64, layer.size / 2, "body cut at half");
    // Through a normal client this is an error; the next try succeeds.
    let (_, full) = raw_get(&proxy.host(), &path);
    assert_eq!(full.len() as u64, layer.size);
    assert_eq!(sha256_digest(&full), layer.digest);
    assert_eq!(proxy.faults().reset_mid_body, 1);

    proxy.add_rule(
        FaultRule::new(FaultAction::ResetMidBody)
            .path_contains("/blobs/")
            .first(1),
    );
    assert!(sb::fetch_blob(proxy.url().as_str(), "m/b", &layer.digest).is_err());
}

#[test]
fn delay_fault() {
    let reg = Registry::plain().unwrap();
    let proxy = Proxy::for_registry(&reg).unwrap();
    proxy.add_rule(FaultRule::new(FaultAction::Delay(Duration::from_millis(400))).first(1));
    let t = Instant::now();
    assert_eq!(get(&format!("{}/v2/", proxy.url())).unwrap().status, 200);
    assert!(t.elapsed() >= Duration::from_millis(400));
    let t = Instant::now();
    assert_eq!(get(&format!("{}/v2/", proxy.url())).unwrap().status, 200);
    assert!(t.elapsed() < Duration::from_millis(400));
    assert_eq!(proxy.faults().delay, 1);
}

#[test]
fn redirect_fault_to_sink_on_another_host() {
    let reg = Registry::plain().unwrap();
    let img = sb::seed_image(&reg, "r/d", "v", "amd64", 1).unwrap();
    let layer = &img.layers[0];
    let blob = sb::fetch_blob(&reg, "r/d", &layer.digest).unwrap().unwrap();
    let sink = RedirectSink::start(blob.clone()).unwrap();
    assert!(sink.url("/x").starts_with("http://127.0.0.2:"));

    let proxy = Proxy::for_registry(&reg).unwrap();
    let target = sink.url("/storage/blob");
    proxy.add_rule(
        FaultRule::new(FaultAction::Redirect(target.clone()))
            .method("GET")
            .path_contains("/blobs/"),
    );
    let r = request_blocking(
        "GET",
        &format!("{}/v2/r/d/blobs/{}", proxy.url(), layer.digest),
        &[("authorization", "Bearer secret-token")],
        Vec::new(),
        None,
    )
    .unwrap();
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some(target.as_str()));
    assert_eq!(proxy.faults().redirect, 1);

    // A well-behaved client follows without credentials; a leaky one doesn't.
    let ok = get(&target).unwrap();
    assert_eq!(ok.body, blob);
    request_blocking(
        "GET",
        &target,
        &[("authorization", "Bearer leaked")],
        Vec::new(),
        None,
    )
    .unwrap();
    assert_eq!(sink.hits(), 2);
    assert_eq!(sink.authorization_flags(), vec![false, true]);
    assert!(sink.any_authorization());
    assert_eq!(sink.requests()[0].path, "/storage/blob");
}

#[test]
fn probabilistic_faults_are_deterministic() {
    let reg = Registry::plain().unwrap();
    let run = |seed: u64| -> Vec<u16> {
        let proxy = Proxy::for_registry(&reg).unwrap();
        proxy.add_rule(FaultRule::status(500).probability(0.3, seed));
        let v: Vec<u16> = (0..40)
            .map(|_| get(&format!("{}/v2/", proxy.url())).unwrap().status)
            .collect();
        assert_eq!(proxy.faults().status, v.iter().filter(|s| **s == 500).count());
        v
    };
    let a = run(42);
    let b = run(42);
    let c = run(7);
    assert_eq!(a, b);
    assert_ne!(a, c);
    let fails = a.iter().filter(|s| **s == 500).count();
    assert!((3..=25).contains(&fails), "{fails} of 40 with p=0.3");
}

#[test]
fn down_refuses_connections_until_up() {
    let reg = Registry::plain().unwrap();
    let proxy = Proxy::for_registry(&reg).unwrap();
    let url = format!("{}/v2/", proxy.url());
    assert_eq!(get(&url).unwrap().status, 200);
    proxy.down();
    assert!(!proxy.is_up());
    let err = std::net::TcpStream::connect(proxy.addr()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    proxy.up().unwrap();
    assert!(proxy.is_up());
    assert_eq!(get(&url).unwrap().status, 200);
}

#[test]
fn down_drops_open_connections() {
    let reg = Registry::plain().unwrap();
    let proxy = Proxy::for_registry(&reg).unwrap();
    let mut s = std::net::TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    proxy.down();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the open connection must be closed by down()");
}

#[test]
fn proxy_in_front_of_tls_registry() {
    let reg = Registry::tls_htpasswd("u", "p").unwrap();
    let img = sb::seed_image(&reg, "t/p", "v", "amd64", 1).unwrap();
    let proxy = Proxy::for_registry(&reg).unwrap();
    let ep = proxy.endpoint(reg.credentials());
    let (_, m) = sb::fetch_manifest(&ep, "t/p", "v").unwrap().unwrap();
    assert_eq!(m, img.manifest);
    // 401 first (challenge passed through), then 200 with Basic.
    let statuses: Vec<Option<u16>> = proxy.log().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![Some(401), Some(200)]);
}

#[test]
fn proxy_upstream_down_gives_502() {
    let reg = Registry::plain().unwrap();
    let proxy = Proxy::for_registry(&reg).unwrap();
    reg.stop();
    let r = get(&format!("{}/v2/", proxy.url())).unwrap();
    assert_eq!(r.status, 502);
    reg.restart().unwrap();
    assert_eq!(get(&format!("{}/v2/", proxy.url())).unwrap().status, 200);
}

#[test]
fn fake_http_routes_and_records() {
    let f = FakeHttp::start().unwrap();
    f.set_route("/api/v1/builds", 200, "application/json", r#"[{"uuid":"a"}]"#);
    f.set(
        "/api/v1/builds?page=2",
        Route::json(&serde_json::json!([])).header("X-Total", "1"),
    );
    let r = get(&format!("{}/api/v1/builds?page=1", f.url())).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, r#"[{"uuid":"a"}]"#));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = get(&format!("{}/api/v1/builds?page=2", f.url())).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "[]"));
    assert_eq!(r.header("x-total"), Some("1"));
    assert_eq!(get(&format!("{}/nope", f.url())).unwrap().status, 404);

    let post = request_blocking(
        "POST",
        &format!("{}/api/v1/builds", f.url()),
        &[("x-token", "abc"), ("content-type", "text/plain")],
        b"payload".to_vec(),
        None,
    )
    .unwrap();
    assert_eq!(post.status, 200);

    let reqs = f.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/api/v1/builds");
    assert_eq!(reqs[0].query.as_deref(), Some("page=1"));
    assert_eq!(reqs[3].method, "POST");
    assert_eq!(reqs[3].header("x-token"), Some("abc"));
    assert_eq!(reqs[3].body, b"payload");
    assert_eq!(f.requests_to("/api/v1/builds").len(), 3);

    // Routes change at runtime; fallback for unknown paths.
    f.set_route("/api/v1/builds", 500, "text/plain", "boom");
    assert_eq!(get(&format!("{}/api/v1/builds", f.url())).unwrap().status, 500);
    f.set_fallback(Some(Route::text("fallback")));
    assert_eq!(get(&format!("{}/anything", f.url())).unwrap().text(), "fallback");
    f.remove("/api/v1/builds");
    assert_eq!(
        get(&format!("{}/api/v1/builds", f.url())).unwrap().text(),
        "fallback"
    );
    f.clear_requests();
    assert!(f.requests().is_empty());
}

#[tokio::test]
async fn servers_work_inside_a_current_thread_runtime() {
    // The servers run on the testkit's runtime, so a test runtime with one
    // thread that awaits a client does not starve them.
    let f = FakeHttp::start().unwrap();
    f.set_route("/x", 200, "text/plain", "ok");
    let r = copy_containers_testkit::http::request("GET", &format!("{}/x", f.url()), &[], Vec::new(), None)
        .await
        .unwrap();
    assert_eq!(r.text(), "ok");
    drop(f);
}
