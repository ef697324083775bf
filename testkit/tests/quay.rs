//! The testkit's Quay: a real TLS registry and Quay's API on one HTTPS host, the API backed by the
//! registry (listing pages, creation, tag lookup and move), a token required.

use copy_containers_testkit::http::request_blocking;
use copy_containers_testkit::seed::blocking as sb;
use copy_containers_testkit::{Quay, Registry};

const TOKEN: &str = "testkit-quay-token";

#[test]
fn the_api_answers_in_quay_formats_from_the_registry() {
    let reg = Registry::tls_htpasswd("bot", "quay-pass").unwrap();
    let q = Quay::start(&reg, TOKEN).unwrap();
    let tls = reg.client_config().unwrap();
    let bearer = format!("Bearer {TOKEN}");
    let call = |method: &str, path: &str, body: &str, auth: &str| {
        let url = format!("{}{path}", q.api_url());
        let h = [("authorization", auth), ("content-type", "application/json")];
        request_blocking(method, &url, &h, body.to_string(), tls.clone()).unwrap()
    };
    // The registry answers on the Quay's host too.
    let img = sb::seed_image(&reg, "ns/openstack-a", "h1", "amd64", 1).unwrap();
    sb::seed_image(&reg, "ns/openstack-b", "h1", "amd64", 1).unwrap();
    sb::seed_image(&reg, "other/openstack-c", "h1", "amd64", 1).unwrap();

    let r = call("GET", "repository?namespace=ns&public=true", "", "Bearer wrong");
    assert_eq!(r.status, 401);
    assert_eq!(r.json().unwrap()["error_type"], "invalid_token");

    // Creation: 201, then 400 "already exists"; for a repository the registry holds as well.
    let body =
        r#"{"namespace": "ns", "repository": "openstack-new", "visibility": "public", "description": "x"}"#;
    let r = call("POST", "repository", body, &bearer);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json().unwrap()["name"], "openstack-new");
    assert_eq!(call("POST", "repository", body, &bearer).status, 400);
    let held = body.replace("openstack-new", "openstack-a");
    let r = call("POST", "repository", &held, &bearer);
    assert!(r.text().contains("Repository already exists"), "{}", r.text());
    assert_eq!(
        q.created().get("ns/openstack-new").map(String::as_str),
        Some("public")
    );

    // Listing: the namespace only, two per page, next_page until the end.
    q.set_page_size(2);
    let mut names = Vec::new();
    let mut next = None::<String>;
    loop {
        let path = match &next {
            None => "repository?namespace=ns&public=true".to_string(),
            Some(t) => format!("repository?namespace=ns&public=true&next_page={t}"),
        };
        let v = call("GET", &path, "", &bearer).json().unwrap();
        for r in v["repositories"].as_array().unwrap() {
            names.push(r["name"].as_str().unwrap().to_string());
        }
        match v["next_page"].as_str() {
            Some(t) => next = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(names, ["openstack-a", "openstack-b", "openstack-new"]);

    // Tags: looked up by name, moved to a digest the registry holds (and read back there).
    let v = call(
        "GET",
        "repository/ns/openstack-a/tag/?specificTag=h1",
        "",
        &bearer,
    )
    .json()
    .unwrap();
    assert_eq!(v["tags"][0]["manifest_digest"], img.digest.as_str());
    let put = format!(r#"{{"manifest_digest": "{}"}}"#, img.digest);
    let r = call(
        "PUT",
        "repository/ns/openstack-a/tag/current-tripleo",
        &put,
        &bearer,
    );
    assert_eq!((r.status, r.text()), (201, "\"Updated\"".to_string()));
    let (_, bytes) = sb::fetch_manifest(&reg, "ns/openstack-a", "current-tripleo")
        .unwrap()
        .unwrap();
    assert_eq!(bytes, img.manifest);
    let missing =
        r#"{"manifest_digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000"}"#;
    assert_eq!(
        call("PUT", "repository/ns/openstack-a/tag/x", missing, &bearer).status,
        404
    );
    let calls = q.api_requests();
    assert!(calls.iter().any(|c| c.method == "PUT" && c.status == 201));
    assert_eq!(calls[0].status, 401);
}
