//! # copy-containers-testkit
//!
//! Test harness for `copy-containers`: **real** `docker-registry`
//! (distribution 2.8) processes on loopback, a JWT token server of ours, a
//! fault-injecting reverse proxy, fake HTTP services, an independent raw
//! pusher to seed registries, and `skopeo` helpers to check results. No
//! mocks of the registry. Everything binds 127.0.0.x only, and everything
//! started is stopped on `Drop` (also when a test panics); child processes
//! additionally get `PR_SET_PDEATHSIG=SIGKILL` so they die with the test
//! process.
//!
//! Requirements: `docker-registry` in PATH (`apt-get install -y
//! docker-registry`; a missing binary is an error, never a skip; override
//! the path with `CC_TESTKIT_REGISTRY_BIN`) and, for
//! the [`skopeo`](crate::skopeo_inspect_raw) helpers, `skopeo`.
//!
//! All constructors and most methods are **synchronous** and safe to call
//! from `#[test]` or from inside `#[tokio::test]`: the in-process servers
//! run on the testkit's own background runtime, not on the test's.
//!
//! ## Registries — [`Registry`]
//!
//! ```text
//! Registry::plain() -> Result<Registry>                       // http, anonymous
//! Registry::tls_htpasswd(user, pass) -> Result<Registry>      // https + htpasswd (bcrypt)
//! Registry::token(user, pass) -> Result<Registry>             // https + auth.token (our TokenServer)
//! Registry::with_options(RegistryOptions { tls, auth: Auth::{None, Htpasswd(..), Token(TokenServerOptions)},
//!                                          port, dir, ca, log_level, startup_timeout,
//!                                          server_cert: Option<CertFiles>, client_cas: Vec<PathBuf> }) -> Result<Registry>
//! reg.host() -> "127.0.0.1:PORT"      reg.url() -> "http(s)://127.0.0.1:PORT"     reg.port()
//! reg.ca_pem_path() -> Option<PathBuf>    reg.cert_dir() -> Option<PathBuf> (holds ca.crt; skopeo --cert-dir)
//! reg.client_config() -> Result<Option<Arc<rustls::ClientConfig>>>    reg.ca() -> Option<&Arc<TestCa>>
//! reg.credentials() -> Option<(String, String)>     reg.token_server() -> Option<&TokenServer>
//! reg.storage_dir()  reg.dir()  reg.log_file()  reg.log_tail(n)  reg.pid()  reg.endpoint() -> Endpoint
//! reg.stop()  reg.restart() -> Result<()> (same port, same storage)  reg.is_running()
//! ```
//!
//! The generated config uses the filesystem driver in a temp dir,
//! `storage.delete.enabled: true`, redirects disabled, a random
//! `http.secret`, log level `warn` (access log off) into `registry.log`.
//! Start waits until `GET /v2/` answers (any status); a timeout or an early
//! exit is an error carrying the tail of the registry log. With `server_cert`
//! (a certificate of the test's own, e.g. [`openssl::docker_self_signed`]) or
//! `client_cas` (`http.tls.clientcas`: client certificates required, see
//! [`TestCa::issue_client`]) it waits for the port to accept connections
//! instead, since the testkit's own client may not pass that handshake.
//!
//! ## Token server — [`TokenServer`]
//!
//! HTTPS on 127.0.0.1 with a certificate from the registry's CA.
//! `GET /token?service=…&scope=…` (Basic auth, or anonymous when
//! `anonymous_actions` is set) and OAuth2 `POST /token`
//! (`grant_type=password|refresh_token`, `access_type=offline` gives a
//! `refresh_token`). Answers `{"token","access_token","expires_in","issued_at"}`;
//! bad credentials → 401. Tokens are ES256 JWTs with `x5c` = the
//! self-signed signing certificate that is also the registry's
//! `rootcertbundle`.
//!
//! ```text
//! ts.url()  ts.realm()  ts.service()  ts.issuer()  ts.signing_cert_pem()
//! ts.set_expires_in(secs)  ts.set_anonymous_actions(Some(&["pull"]))  ts.add_user(u, p, Some(&["pull"]))
//! ts.withhold_action("push", n)   // next n grants lack "push" -> insufficient_scope
//! ts.fail_next(n, status)
//! ts.request_count()  ts.requests() -> Vec<TokenRequest{method, grant_type, scopes, service,
//!                                          had_credentials, user, status, granted}>
//! ts.scope_sets() -> Vec<Vec<String>>  ts.reset_counters()  ts.mint(sub, &[Access], expires_in)
//! ```
//!
//! ## Proxy — [`Proxy`]
//!
//! Plain-HTTP reverse proxy on 127.0.0.1; streams bodies both ways,
//! rewrites `Location` headers pointing at the upstream.
//!
//! ```text
//! Proxy::start(upstream_url)  Proxy::for_registry(&reg)  Proxy::start_with(ProxyOptions{upstream, upstream_ca, listen, tls, local: LocalRoutes{prefix, handler}})
//! p.url()  p.host()  p.endpoint(creds)
//! p.add_rule(FaultRule::status(503).method("GET").path_contains("/blobs/").first(2))
//! p.add_rule(FaultRule::new(FaultAction::ResetConnection | ResetMidBody | Delay(d) | Redirect(url) | DropHeader(name)
//!                           | Status{code, retry_after}).probability(0.1, seed).skip(1))
//! p.clear_rules()  p.rule_fired(i)  p.faults() -> FaultCounts{status, reset_connection, reset_mid_body, delay, redirect, drop_header}
//! p.log() -> Vec<RequestRecord{method, path, query, status, fault, kind}>  p.total()
//! p.count_method("HEAD")  p.count_kind(PathKind::Blobs)  p.count("PUT", PathKind::Manifests)  p.reset()
//! p.down()  p.up()  p.is_up()  p.stats_json()
//! ```
//!
//! ## Fake HTTP services — [`FakeHttp`], [`RedirectSink`]
//!
//! ```text
//! let f = FakeHttp::start()?;  f.set_route("/api/v1/x?page=2", 200, "application/json", body);
//! f.set("/p", Route::json(&v).header("Link", "..."));  f.set_fallback(Some(route));  f.remove(path)
//! f.requests() -> Vec<RecordedRequest{method, path, query, headers, body}>  f.requests_to(path)  f.clear_requests()
//! let sink = RedirectSink::start(bytes)?;   // on 127.0.0.2
//! proxy.add_rule(FaultRule::new(FaultAction::Redirect(sink.url("/blob"))).path_contains("/blobs/"));
//! sink.hits()  sink.any_authorization()  sink.authorization_flags()
//! ```
//!
//! ## Quay — [`Quay`]
//!
//! A TLS registry and Quay's API on one HTTPS host (the registry's CA signs it): `/v2/` proxied to
//! the registry, `/api/v1/` answered in Quay's formats (repository list with `next_page`, create,
//! tag lookup, tag move backed by the registry), Bearer token required, every call recorded.
//!
//! ```text
//! let q = Quay::start(&reg, "token")?;  q.host()  q.api_url()  q.proxy()  q.set_page_size(n)
//! q.created() -> {"ns/name": "public"}  q.api_requests() -> Vec<QuayRequest{method, path, query, authorization, body, status}>
//! ```
//!
//! ## Hostile servers — [`HostileHttp`]
//!
//! Raw TCP on 127.0.0.1, below what hyper lets the fakes express:
//!
//! ```text
//! let h = HostileHttp::start(Misbehaviour::HugeBody{status: 400, len: Some(n) /* None: endless */}
//!                            | Misbehaviour::Trickle{status, len, every} | Misbehaviour::Reset
//!                            | Misbehaviour::Silent | Misbehaviour::EchoAuth{bearer_realm})?;
//! h.host()  h.url()  h.connections()  h.open()  h.body_bytes()
//! ```
//!
//! ## Seeding — [`seed`]
//!
//! Async functions (with identical blocking twins in [`seed::blocking`])
//! taking `impl Into<Endpoint>` (a base URL `&str`, a `&Registry`, or an
//! [`Endpoint`] with credentials/CA). Works with anonymous, htpasswd and
//! token registries.
//!
//! ```text
//! seed::push_blob(ep, repo, &bytes).await -> Result<String /*digest*/>
//! seed::push_manifest(ep, repo, reference, media_type, &bytes).await -> Result<String>
//! seed::seed_image(ep, repo, tag, arch, n_layers).await -> Result<SeededImage{digest, manifest, media_type, config, layers}>
//! seed::seed_oci_image(..)   seed::seed_index(ep, repo, tag, &["amd64","arm64"], Format::Docker|Oci) -> SeededIndex
//! seed::fetch_manifest / fetch_blob / list_tags / delete_manifest
//! seed::random_layer(seed, size) -> Vec<u8> (gzip tar)  seed::layer(seed, size) -> Layer{blob, digest, diff_id}
//! seed::config_json(arch, os)  seed::docker_manifest / oci_manifest / docker_manifest_list / oci_index
//!     (3-space indented JSON with a trailing newline, to catch re-serialization)
//! ```
//!
//! ## skopeo
//!
//! [`skopeo_inspect_raw`], [`skopeo_inspect_digest`], [`skopeo_list_tags`],
//! [`skopeo_copy`] (and [`skopeo_flags`], [`run_skopeo`]) pick
//! `--tls-verify=false` / `--cert-dir` / `--creds` from the endpoint and run
//! isolated from the host's auth and registries configuration.
//!
//! ## Example (integration test of the main crate)
//!
//! ```no_run
//! use copy_containers_testkit::{seed, skopeo_inspect_raw, Proxy, FaultRule, PathKind, Registry};
//!
//! # fn main() -> anyhow::Result<()> {
//! let src = Registry::plain()?;
//! let dst = Registry::tls_htpasswd("user", "secret")?;
//! let img = seed::blocking::seed_image(&src, "ns/app", "v1", "amd64", 2)?;
//! let proxy = Proxy::for_registry(&src)?;
//! proxy.add_rule(FaultRule::status(503).path_contains("/blobs/").first(1));
//! // ... run copy-containers from proxy.url() to dst.url() with
//! //     dst.ca_pem_path() and dst.credentials() ...
//! assert_eq!(skopeo_inspect_raw(&dst, "ns/app:v1")?, img.manifest);
//! assert!(proxy.count("GET", PathKind::Blobs) >= 3);
//! # Ok(()) }
//! ```
//!
//! ## `cc-testkit` binary
//!
//! `cc-testkit up --state-dir DIR [--plain NAME[:PORT]]… [--tls-htpasswd NAME[:PORT]:USER:PASS]…
//! [--token NAME[:PORT]:USER:PASS]… [--foreground]` writes `DIR/registries.json` and `DIR/pid`;
//! `cc-testkit down --state-dir DIR`; `cc-testkit proxy --listen 127.0.0.1:PORT --upstream URL
//! [--fail-rate P --seed N --fault status|reset|midbody --stats FILE]`.

#![warn(missing_docs)]

mod endpoint;
mod fake;
mod hostile;
pub mod http;
pub mod openssl;
mod proxy;
mod quay;
mod registry;
mod rt;
pub mod seed;
mod server;
mod skopeo;
mod tls;
mod token;
mod util;

pub use endpoint::{Endpoint, RawClient};
pub use fake::{FakeHttp, RecordedRequest, RedirectSink, Route};
pub use hostile::{HostileHttp, Misbehaviour};
pub use openssl::CertFiles;
pub use proxy::{
    FaultAction, FaultCounts, FaultKind, FaultRule, LocalFuture, LocalRoutes, PathKind, Proxy, ProxyOptions,
    RequestRecord, Times,
};
pub use quay::{Quay, QuayRequest};
pub use registry::{registry_binary, Auth, Registry, RegistryOptions, INSTALL_HINT};
pub use skopeo::{
    run_skopeo, skopeo_copy, skopeo_flags, skopeo_inspect_digest, skopeo_inspect_raw, skopeo_list_tags,
};
pub use tls::{client_config_from_file, client_config_from_pem, CertifiedKey, TestCa};
pub use token::{Access, TokenRequest, TokenServer, TokenServerOptions, TokenUser};
pub use util::{free_port, hex, sha256_digest, Prng};
