//! Real docker-registry processes: every variant, the token flow, seeding,
//! skopeo reading what was seeded, restart.

use base64::Engine;
use copy_containers_testkit::http::{parse_www_authenticate, request_blocking, HttpResponse};
use copy_containers_testkit::seed::{self, blocking as sb, media, Format};
use copy_containers_testkit::{
    sha256_digest, skopeo_copy, skopeo_inspect_digest, skopeo_inspect_raw, skopeo_list_tags, Access,
    Registry, RegistryOptions,
};
use std::sync::Arc;

fn get(reg: &Registry, path: &str, auth: Option<&str>) -> HttpResponse {
    let mut h = Vec::new();
    if let Some(a) = auth {
        h.push(("authorization", a));
    }
    request_blocking(
        "GET",
        &format!("{}{path}", reg.url()),
        &h,
        Vec::new(),
        reg.client_config().unwrap(),
    )
    .unwrap()
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

#[test]
fn plain_registry_answers_v2() {
    let reg = Registry::plain().unwrap();
    assert!(reg.url().starts_with("http://127.0.0.1:"));
    assert_eq!(reg.host(), format!("127.0.0.1:{}", reg.port()));
    assert!(reg.ca_pem_path().is_none() && reg.cert_dir().is_none() && reg.credentials().is_none());
    let r = get(&reg, "/v2/", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("docker-distribution-api-version"), Some("registry/2.0"));
    assert!(reg.is_running());
    let config = std::fs::read_to_string(reg.dir().join("config.yml")).unwrap();
    assert!(config.contains("delete:\n    enabled: true"), "{config}");
    assert!(config.contains("addr: 127.0.0.1:"), "{config}");
}

#[test]
fn tls_htpasswd_requires_credentials() {
    let reg = Registry::tls_htpasswd("alice", "s3cret").unwrap();
    assert!(reg.url().starts_with("https://127.0.0.1:"));
    assert!(reg.cert_dir().unwrap().join("ca.crt").is_file());
    assert!(reg.ca_pem_path().unwrap().is_file());
    assert_eq!(reg.credentials(), Some(("alice".into(), "s3cret".into())));

    let r = get(&reg, "/v2/", None);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic "));
    assert_eq!(get(&reg, "/v2/", Some(&basic("alice", "wrong"))).status, 401);
    assert_eq!(get(&reg, "/v2/", Some(&basic("alice", "s3cret"))).status, 200);

    // The certificate only verifies with our CA.
    let other_ca = copy_containers_testkit::TestCa::new().unwrap();
    let err = request_blocking(
        "GET",
        &format!("{}/v2/", reg.url()),
        &[],
        Vec::new(),
        Some(other_ca.client_config().unwrap()),
    );
    assert!(err.is_err(), "TLS must fail with a foreign CA");
}

/// Does the token dance by hand: challenge → GET realm with Basic → Bearer.
fn fetch_token(reg: &Registry, scope: Option<&str>, creds: Option<(&str, &str)>) -> HttpResponse {
    let ts = reg.token_server().unwrap();
    let mut url = format!("{}?service={}", ts.realm(), ts.service());
    if let Some(s) = scope {
        url.push_str(&format!("&scope={s}"));
    }
    let b = creds.map(|(u, p)| basic(u, p));
    let mut h = Vec::new();
    if let Some(b) = &b {
        h.push(("authorization", b.as_str()));
    }
    request_blocking("GET", &url, &h, Vec::new(), reg.client_config().unwrap()).unwrap()
}

fn token_of(r: &HttpResponse) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json().unwrap();
    assert_eq!(v["token"], v["access_token"]);
    assert!(v["expires_in"].as_u64().unwrap() > 0);
    assert!(v["issued_at"].as_str().unwrap().ends_with('Z'));
    v["token"].as_str().unwrap().to_string()
}

#[test]
fn token_registry_accepts_our_tokens() {
    let reg = Registry::token("bob", "pw").unwrap();
    let ts = reg.token_server().unwrap();

    // 401 with a Bearer challenge naming our realm and service.
    let r = get(&reg, "/v2/", None);
    assert_eq!(r.status, 401);
    let (scheme, params) = parse_www_authenticate(r.header("www-authenticate").unwrap());
    assert_eq!(scheme, "Bearer");
    let p = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(p("realm"), Some(ts.realm()));
    assert_eq!(p("service"), Some(ts.service()));

    // Wrong credentials: 401 from the token server; anonymous: refused by default.
    assert_eq!(fetch_token(&reg, None, Some(("bob", "nope"))).status, 401);
    assert_eq!(fetch_token(&reg, None, None).status, 401);

    // Token for /v2/ (no scope) is accepted.
    let tok = token_of(&fetch_token(&reg, None, Some(("bob", "pw"))));
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(tok.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["x5c"].as_array().unwrap().len(), 1);
    assert_eq!(get(&reg, "/v2/", Some(&format!("Bearer {tok}"))).status, 200);

    // A tampered token is rejected (flip the first signature character: the
    // last one may only carry base64 padding bits).
    let sig_start = tok.rfind('.').unwrap() + 1;
    let mut bad = tok.clone();
    let c = if tok[sig_start..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    bad.replace_range(sig_start..sig_start + 1, c);
    assert_eq!(get(&reg, "/v2/", Some(&format!("Bearer {bad}"))).status, 401);

    // An expired token is rejected.
    let expired = ts.mint("bob", &[], -3600).unwrap();
    assert_eq!(get(&reg, "/v2/", Some(&format!("Bearer {expired}"))).status, 401);

    // Counters.
    let reqs = ts.requests();
    assert_eq!(ts.request_count(), 3);
    assert_eq!(
        reqs.iter()
            .map(|r| (r.had_credentials, r.status))
            .collect::<Vec<_>>(),
        vec![(true, 401), (false, 401), (true, 200)]
    );
    assert_eq!(reqs[2].user.as_deref(), Some("bob"));
}

fn push_blob_with_token(reg: &Registry, repo: &str, token: &str, blob: &[u8]) -> (u16, String) {
    let tls = reg.client_config().unwrap();
    let auth = format!("Bearer {token}");
    let r = request_blocking(
        "POST",
        &format!("{}/v2/{repo}/blobs/uploads/", reg.url()),
        &[("authorization", &auth)],
        Vec::new(),
        tls.clone(),
    )
    .unwrap();
    if r.status != 202 {
        return (
            r.status,
            r.header("www-authenticate").unwrap_or_default().to_string(),
        );
    }
    let loc = r.header("location").unwrap().to_string();
    let sep = if loc.contains('?') { '&' } else { '?' };
    let put = request_blocking(
        "PUT",
        &format!("{loc}{sep}digest={}", sha256_digest(blob)),
        &[
            ("authorization", &auth),
            ("content-type", "application/octet-stream"),
        ],
        blob.to_vec(),
        tls,
    )
    .unwrap();
    (put.status, put.text())
}

#[test]
fn token_push_needs_push_scope() {
    let reg = Registry::token("bob", "pw").unwrap();
    let ts = reg.token_server().unwrap();
    let blob = seed::random_layer(9, 2048);

    // pull-only token: the registry refuses the upload with insufficient_scope.
    let pull = token_of(&fetch_token(
        &reg,
        Some("repository:team/app:pull"),
        Some(("bob", "pw")),
    ));
    let (status, challenge) = push_blob_with_token(&reg, "team/app", &pull, &blob);
    assert_eq!(status, 401);
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    // distribution 2.8 lists the actions in random order (Go map iteration).
    assert!(
        challenge.contains("repository:team/app:pull,push")
            || challenge.contains("repository:team/app:push,pull"),
        "{challenge}"
    );

    // pull,push token: the upload completes.
    let push = token_of(&fetch_token(
        &reg,
        Some("repository:team/app:pull,push"),
        Some(("bob", "pw")),
    ));
    assert_eq!(push_blob_with_token(&reg, "team/app", &push, &blob).0, 201);

    // withhold_action: the next grant lacks push even though it was asked.
    ts.withhold_action("push", 1);
    let r = fetch_token(&reg, Some("repository:team/app:pull,push"), Some(("bob", "pw")));
    let weak = token_of(&r);
    assert_eq!(push_blob_with_token(&reg, "team/app", &weak, &blob).0, 401);
    let last = ts.requests().last().unwrap().clone();
    assert_eq!(
        last.granted,
        vec![Access {
            kind: "repository".into(),
            name: "team/app".into(),
            actions: vec!["pull".into()]
        }]
    );
    let again = token_of(&fetch_token(
        &reg,
        Some("repository:team/app:pull,push"),
        Some(("bob", "pw")),
    ));
    assert_eq!(push_blob_with_token(&reg, "team/app", &again, &blob).0, 201);
    assert_eq!(
        ts.scope_sets().last().unwrap(),
        &vec!["repository:team/app:pull,push".to_string()]
    );

    // The seeder does the dance itself and its pushes are readable back.
    let img = sb::seed_image(&reg, "team/app", "v1", "amd64", 1).unwrap();
    let (ct, bytes) = sb::fetch_manifest(&reg, "team/app", "v1").unwrap().unwrap();
    assert_eq!(ct, media::DOCKER_MANIFEST);
    assert_eq!(bytes, img.manifest);
}

#[test]
fn token_oauth2_password_and_refresh() {
    let reg = Registry::token("carol", "pw").unwrap();
    let ts = reg.token_server().unwrap();
    let tls = reg.client_config().unwrap();
    let form = |body: &str| {
        request_blocking(
            "POST",
            &ts.realm(),
            &[("content-type", "application/x-www-form-urlencoded")],
            body.as_bytes().to_vec(),
            tls.clone(),
        )
        .unwrap()
    };
    let bad = form(&format!(
        "grant_type=password&username=carol&password=x&service={}&client_id=t",
        ts.service()
    ));
    assert_eq!(bad.status, 401);
    let r = form(&format!(
        "grant_type=password&username=carol&password=pw&service={}&client_id=t&access_type=offline&scope=repository%3Aa%2Fb%3Apull",
        ts.service()
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json().unwrap();
    let refresh = v["refresh_token"].as_str().unwrap().to_string();
    let access = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(get(&reg, "/v2/", Some(&format!("Bearer {access}"))).status, 200);

    let r = form(&format!(
        "grant_type=refresh_token&refresh_token={refresh}&service={}&client_id=t&scope=repository%3Aa%2Fb%3Apull",
        ts.service()
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let t2 = r.json().unwrap()["access_token"].as_str().unwrap().to_string();
    assert_eq!(get(&reg, "/v2/", Some(&format!("Bearer {t2}"))).status, 200);
    assert_eq!(form("grant_type=refresh_token&refresh_token=bogus").status, 401);

    let grants: Vec<Option<String>> = ts.requests().iter().map(|r| r.grant_type.clone()).collect();
    assert_eq!(
        grants,
        vec![
            Some("password".into()),
            Some("password".into()),
            Some("refresh_token".into()),
            Some("refresh_token".into())
        ]
    );
    assert_eq!(ts.requests()[1].scopes, vec!["repository:a/b:pull".to_string()]);
}

#[test]
fn anonymous_pull_when_enabled() {
    let reg = Registry::token("dave", "pw").unwrap();
    let ts = reg.token_server().unwrap();
    ts.set_anonymous_actions(Some(&["pull"]));
    let r = fetch_token(&reg, Some("repository:x/y:pull,push"), None);
    token_of(&r);
    let last = ts.requests().last().unwrap().clone();
    assert!(!last.had_credentials);
    assert_eq!(last.granted[0].actions, vec!["pull".to_string()]);
}

#[test]
fn seeded_images_read_back_with_skopeo_plain() {
    let reg = Registry::plain().unwrap();
    let img = sb::seed_image(&reg, "ns/app", "v1", "amd64", 2).unwrap();
    assert_eq!(img.digest, sha256_digest(&img.manifest));
    assert!(img.manifest.ends_with(b"}\n"));
    assert_eq!(skopeo_inspect_raw(&reg, "ns/app:v1").unwrap(), img.manifest);
    assert_eq!(skopeo_inspect_digest(&reg, "ns/app:v1").unwrap(), img.digest);
    assert_eq!(
        skopeo_inspect_raw(&reg, &format!("ns/app@{}", img.digest)).unwrap(),
        img.manifest
    );

    let idx = sb::seed_index(&reg, "ns/multi", "latest", &["amd64", "arm64"], Format::Oci).unwrap();
    assert_eq!(skopeo_inspect_raw(&reg, "ns/multi:latest").unwrap(), idx.manifest);
    let v: serde_json::Value = serde_json::from_slice(&idx.manifest).unwrap();
    assert_eq!(v["mediaType"], media::OCI_INDEX);
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    for im in &idx.images {
        assert_eq!(
            skopeo_inspect_raw(&reg, &format!("ns/multi@{}", im.digest)).unwrap(),
            im.manifest
        );
    }
    sb::seed_oci_image(&reg, "ns/app", "v2", "arm64", 1).unwrap();
    assert_eq!(skopeo_list_tags(&reg, "ns/app").unwrap(), vec!["v1", "v2"]);
    assert_eq!(sb::list_tags(&reg, "ns/app").unwrap().len(), 2);

    // Layers are what we pushed.
    let l = &img.layers[0];
    let blob = sb::fetch_blob(&reg, "ns/app", &l.digest).unwrap().unwrap();
    assert_eq!(sha256_digest(&blob), l.digest);
    assert_eq!(blob.len() as u64, l.size);

    // Deletes are enabled.
    sb::delete_manifest(&reg, "ns/app", &img.digest).unwrap();
    assert!(sb::fetch_manifest(&reg, "ns/app", &img.digest).unwrap().is_none());
}

#[test]
fn seeded_images_read_back_with_skopeo_tls_and_token() {
    let tls = Registry::tls_htpasswd("u", "p").unwrap();
    let img = sb::seed_image(&tls, "a/b", "t1", "amd64", 1).unwrap();
    assert_eq!(skopeo_inspect_raw(&tls, "a/b:t1").unwrap(), img.manifest);
    let list = sb::seed_index(&tls, "a/list", "t", &["amd64", "ppc64le"], Format::Docker).unwrap();
    assert_eq!(skopeo_inspect_digest(&tls, "a/list:t").unwrap(), list.digest);

    let tok = Registry::token("u", "p").unwrap();
    let img2 = sb::seed_image(&tok, "c/d", "t2", "amd64", 1).unwrap();
    let before = tok.token_server().unwrap().request_count();
    assert_eq!(skopeo_inspect_raw(&tok, "c/d:t2").unwrap(), img2.manifest);
    assert_eq!(skopeo_list_tags(&tok, "c/d").unwrap(), vec!["t2"]);
    assert!(
        tok.token_server().unwrap().request_count() > before,
        "skopeo must have fetched tokens"
    );

    // skopeo copy between two registries (reference implementation).
    skopeo_copy(&tls, "a/list:t", &tok, "c/list:t", true).unwrap();
    assert_eq!(skopeo_inspect_raw(&tok, "c/list:t").unwrap(), list.manifest);
}

#[test]
fn restart_keeps_port_and_storage() {
    let reg = Registry::plain().unwrap();
    let img = sb::seed_image(&reg, "r/s", "v", "amd64", 1).unwrap();
    let url = reg.url();
    reg.stop();
    assert!(!reg.is_running());
    assert!(request_blocking("GET", &format!("{url}/v2/"), &[], Vec::new(), None).is_err());
    reg.restart().unwrap();
    assert!(reg.is_running());
    assert_eq!(reg.url(), url);
    let (_, bytes) = sb::fetch_manifest(&reg, "r/s", "v").unwrap().unwrap();
    assert_eq!(bytes, img.manifest);
}

#[test]
fn startup_failure_reports_the_log_tail() {
    // Hold the port so docker-registry cannot bind it.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let err = Registry::with_options(RegistryOptions {
        port: Some(port),
        startup_timeout: std::time::Duration::from_secs(10),
        ..Default::default()
    })
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("address already in use"), "{msg}");
    assert!(msg.contains("log tail"), "{msg}");
}

#[test]
fn shared_ca_between_registries() {
    let ca = Arc::new(copy_containers_testkit::TestCa::new().unwrap());
    let opts = || RegistryOptions {
        tls: true,
        ca: Some(ca.clone()),
        ..Default::default()
    };
    let a = Registry::with_options(opts()).unwrap();
    let b = Registry::with_options(opts()).unwrap();
    let cfg = ca.client_config().unwrap();
    for r in [&a, &b] {
        let resp = request_blocking(
            "GET",
            &format!("{}/v2/", r.url()),
            &[],
            Vec::new(),
            Some(cfg.clone()),
        )
        .unwrap();
        assert_eq!(resp.status, 200);
    }
}

#[tokio::test]
async fn async_seed_api_inside_tokio() {
    // Constructors are sync but fine inside a runtime; seed has async fns.
    let reg = Registry::plain().unwrap();
    let d = seed::push_blob(&reg, "x/y", b"hello").await.unwrap();
    assert_eq!(d, sha256_digest(b"hello"));
    let cfg = seed::config_json("amd64", "linux");
    seed::push_blob(&reg, "x/y", &cfg).await.unwrap();
    let m = seed::docker_manifest(
        &seed::Descriptor::of(media::DOCKER_CONFIG, &cfg),
        &[seed::Descriptor::of(media::DOCKER_LAYER, b"hello")],
    );
    let md = seed::push_manifest(&reg, "x/y", "t", media::DOCKER_MANIFEST, &m)
        .await
        .unwrap();
    assert_eq!(md, sha256_digest(&m));
    let (_, got) = seed::fetch_manifest(reg.url().as_str(), "x/y", "t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, m);
}
