//! Property tests (proptest) for the parsers that read untrusted text: image references, DLRN
//! hashes, and the Zuul build-log parsers.

use copy_containers::reference::Reference;
use copy_containers::sources::hash::{validate_full_hash, HashKind};
use copy_containers::sources::zuul::{parse_job_output, parse_podman_images};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------

/// A path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,6}){0,2}"
}

/// A registry host that the parser recognises as one (has a '.', a port, or is localhost).
fn host() -> impl Strategy<Value = String> {
    let port = 1u32..=65535;
    prop_oneof![
        (
            "[a-z][a-z0-9-]{0,8}[a-z0-9](\\.[a-z][a-z0-9]{0,8}){1,2}",
            proptest::option::of(port.clone())
        )
            .prop_map(|(h, p)| match p {
                Some(p) => format!("{h}:{p}"),
                None => h,
            }),
        ("[a-z][a-z0-9]{0,8}", port.clone()).prop_map(|(h, p)| format!("{h}:{p}")),
        port.clone().prop_map(|p| format!("localhost:{p}")),
        (any::<[u8; 4]>(), port).prop_map(|(ip, p)| format!("{}.{}.{}.{}:{p}", ip[0], ip[1], ip[2], ip[3])),
    ]
    .prop_filter("Docker Hub names are normalised", |h| {
        let name = h.split(':').next().unwrap();
        !matches!(
            name,
            "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
        )
    })
}

fn tag() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}"
}

fn digest() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}"))
}

/// (host, repository, tag, digest) of a valid reference.
fn parts() -> impl Strategy<Value = (String, String, Option<String>, Option<String>)> {
    (
        host(),
        proptest::collection::vec(component(), 1..4).prop_map(|c| c.join("/")),
        proptest::option::of(tag()),
        proptest::option::of(digest()),
    )
}

fn hex(n: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[0-9a-f]{{{n}}}")).unwrap()
}

/// One of the three accepted hash forms, with its kind.
fn valid_hash() -> impl Strategy<Value = (String, HashKind)> {
    prop_oneof![
        hex(32).prop_map(|h| (h, HashKind::Aggregate)),
        (hex(40), hex(8)).prop_map(|(c, d)| (format!("{c}_{d}"), HashKind::Full)),
        (hex(40), hex(8), hex(8), hex(8))
            .prop_map(|(c, d, a, b)| (format!("{c}_{d}_{a}_{b}"), HashKind::Extended)),
    ]
}

/// Independent oracle for the hash forms: lowercase hex groups of exactly these lengths.
fn hash_oracle(s: &str) -> Option<HashKind> {
    let groups: Vec<&str> = s.split('_').collect();
    let hexy = |g: &str| g.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'));
    if !groups.iter().all(|g| hexy(g)) {
        return None;
    }
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    match lens.as_slice() {
        [32] => Some(HashKind::Aggregate),
        [40, 8] => Some(HashKind::Full),
        [40, 8, 8, 8] => Some(HashKind::Extended),
        _ => None,
    }
}

/// Text made of the fragments the log parsers look for, shuffled with noise.
fn loggy_text() -> impl Strategy<Value = String> {
    let frag = prop_oneof![
        Just("Tag w/ arch suffix and push image:".to_string()),
        Just(": digest: sha256:".to_string()),
        Just("_x86_64".to_string()),
        Just(" | ".to_string()),
        Just("<none>".to_string()),
        Just("\n".to_string()),
        Just("]".to_string()),
        Just("/".to_string()),
        Just("openstack-".to_string()),
        Just("d7c3cd922f91d83aacb5d7555de9d5bc".to_string()),
        "[ -~]{0,12}",
        any::<String>(),
    ];
    proptest::collection::vec(frag, 0..40).prop_map(|v| v.concat())
}

/// Distinct valid container names.
fn names() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set(component(), 1..12).prop_map(|s| s.into_iter().collect())
}

// ---------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn reference_round_trips((h, repo, t, d) in parts()) {
        let mut s = format!("{h}/{repo}");
        if let Some(t) = &t {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &d {
            s.push('@');
            s.push_str(d);
        }
        let r: Reference = s.parse().map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(&r.registry, &h);
        prop_assert_eq!(&r.repository, &repo);
        prop_assert_eq!(&r.tag, &t);
        prop_assert_eq!(r.digest.as_ref().map(|d| d.to_string()), d);
        prop_assert_eq!(r.to_string(), s);
    }

    #[test]
    fn reference_parse_never_panics_and_display_is_stable(s in any::<String>()) {
        if let Ok(r) = s.parse::<Reference>() {
            let again: Reference = r.to_string().parse().expect("Display of a parsed reference parses");
            prop_assert_eq!(again, r);
        }
    }

    #[test]
    fn reference_parse_on_reference_like_text(s in "[a-zA-Z0-9:/@._\\-\\[\\] ]{0,60}") {
        if let Ok(r) = s.parse::<Reference>() {
            let again: Reference = r.to_string().parse().expect("Display of a parsed reference parses");
            prop_assert_eq!(&again, &r);
            // whatever parsed is made of valid parts
            prop_assert!(copy_containers::reference::validate_repository(&r.repository).is_ok());
            if let Some(t) = &r.tag {
                prop_assert!(copy_containers::reference::validate_tag(t).is_ok());
            }
        }
    }

    #[test]
    fn hash_accepts_the_three_forms((h, kind) in valid_hash()) {
        prop_assert_eq!(validate_full_hash(&h).ok(), Some(kind));
    }

    #[test]
    fn hash_accepts_exactly_what_the_oracle_accepts(s in "[0-9a-fA-F_g;$ ]{0,70}") {
        prop_assert_eq!(validate_full_hash(&s).ok(), hash_oracle(&s), "{:?}", s);
    }

    #[test]
    fn hash_never_panics_and_refuses_arbitrary_text(s in any::<String>()) {
        prop_assert_eq!(validate_full_hash(&s).ok(), hash_oracle(&s));
    }

    #[test]
    fn hash_one_mutation_is_refused(
        (h, _) in valid_hash(),
        pos in any::<prop::sample::Index>(),
        c in prop::sample::select(vec!['G', 'A', 'F', 'z', ';', '$', ' ', '\n', '/', '.', '-', 'é', '`']),
        op in 0u8..3,
    ) {
        let mut chars: Vec<char> = h.chars().collect();
        let i = pos.index(chars.len());
        match op {
            0 => chars[i] = c,             // replace a digit with a non-hex character
            1 => chars.insert(i, 'a'),      // one digit too many
            _ => { chars.remove(i); }       // one character too few
        }
        let m: String = chars.into_iter().collect();
        prop_assert!(validate_full_hash(&m).is_err(), "{:?} accepted", m);
    }

    #[test]
    fn podman_parser_never_panics(s in loggy_text(), strip in proptest::option::of("[a-z-]{0,10}")) {
        let _ = parse_podman_images("fuzz.log", &s, strip.as_deref());
    }

    #[test]
    fn job_output_parser_never_panics(s in loggy_text(), strip in proptest::option::of("[a-z-]{0,10}")) {
        let _ = parse_job_output("job-output.txt", &s, strip.as_deref());
    }

    #[test]
    fn log_parsers_never_panic_on_arbitrary_text(s in any::<String>()) {
        let _ = parse_podman_images("fuzz.log", &s, Some("openstack-"));
        let _ = parse_job_output("job-output.txt", &s, Some("openstack-"));
    }

    #[test]
    fn podman_lines_round_trip(
        names in names(),
        (hash, kind) in valid_hash(),
        header in any::<bool>(),
        suffix in any::<bool>(),
        host in host(),
    ) {
        let mut text = String::new();
        if header {
            text.push_str("REPOSITORY                     TAG         IMAGE ID      CREATED      SIZE\n");
        }
        for (i, n) in names.iter().enumerate() {
            let tag = if suffix && i % 2 == 0 { format!("{hash}_x86_64") } else { hash.clone() };
            text.push_str(&format!("{host}/tripleomaster/openstack-{n}  {tag}  {:012x}  2 days ago  {} MB\n", i * 7919, 100 + i));
            if i == 0 {
                text.push_str(&format!("{host}/tripleomaster/openstack-{n}  <none>  0123456789ab  2 days ago  1 MB\n\n"));
            }
        }
        let l = parse_podman_images("containers-built.log", &text, Some("openstack-"))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&l.names, &names);
        prop_assert_eq!(&l.hash, &hash);
        prop_assert_eq!(l.hash_kind, kind);
    }

    #[test]
    fn job_output_lines_round_trip(
        names in names(),
        unpushed in proptest::collection::btree_set("zz[a-z]{1,5}", 0..3),
        (hash, kind) in valid_hash(),
        d in digest(),
    ) {
        let mut text = String::from("2025-01-01 10:00:00.000 | primary | PLAY [build]\n");
        let header = |n: &str| format!(
            "2025-01-01 10:00:01.000 | primary | TASK [tripleo-build : Tag w/ arch suffix and push image: quay.io/tripleomaster/openstack-{n}]\n"
        );
        for n in &unpushed {
            text.push_str(&header(n));
            text.push_str("2025-01-01 10:00:01.500 | primary | skipping: [primary]\n");
        }
        for n in &names {
            text.push_str(&header(n));
            text.push_str("2025-01-01 10:00:02.000 | primary | The push refers to repository [quay.io/x]\n");
            text.push_str(&format!("2025-01-01 10:00:03.000 | primary | {hash}_x86_64: digest: {d} size: 4242\n"));
        }
        let l = parse_job_output("job-output.txt", &text, Some("openstack-"))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&l.names, &names);
        prop_assert_eq!(&l.hash, &hash);
        prop_assert_eq!(l.hash_kind, kind);
        let want: Vec<String> = unpushed.into_iter().filter(|n| !names.contains(n)).collect();
        prop_assert_eq!(l.not_pushed, want);
    }
}

// ---------------------------------------------------------------------------------------------------
// Secrets through the error paths
// ---------------------------------------------------------------------------------------------------

/// A password with the characters that defeat naive masking: spaces, both quotes, `%`, `\`, `+`,
/// `:`, `@`, `/`, `&`, `<`, braces and non-ASCII, between letters so it reads as one value.
fn hostile_secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{3}[ \"'%€\\\\+:@/&<{}]{1,3}[A-Za-z0-9 \"'%€\\\\+:&<]{4,12}[A-Za-z0-9]{2}"
}

/// The forms a leaked secret would take in a text: raw, JSON-escaped, quoted Rust-style.
fn leaked(text: &str, secret: &str) -> Option<String> {
    let json = serde_json::to_string(secret).unwrap();
    let debug = format!("{secret:?}");
    let found = [secret, json.trim_matches('"'), debug.trim_matches('"')]
        .into_iter()
        .find(|f| text.contains(f))
        .map(|f| format!("{f:?} in {text}"));
    found
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A host given as a URL with `user:password@`: the refusal names neither the password nor any
    /// form of it, whatever it holds.
    #[test]
    fn a_refused_host_never_shows_its_password(secret in hostile_secret()) {
        let host = format!("https://robot:{secret}@127.0.0.1:5000");
        let args = copy_containers::promote::RegistryArgs { host: host.clone(), ..Default::default() };
        let e = args.resolve("target_registries[0]", Some("ns"), 0).map(|_| ()).unwrap_err().to_string();
        prop_assert!(leaked(&e, &secret).is_none(), "{}", leaked(&e, &secret).unwrap());
    }

    /// The module, with the secret as a password and again where it is refused (a port, a host, a
    /// namespace, a password of the wrong shape): the result names it nowhere (`msg`,
    /// `invocation`).
    #[test]
    fn the_module_never_shows_a_secret(secret in hostile_secret(), at in 0usize..5) {
        let mut reg = serde_json::json!({"host": "127.0.0.1:9", "namespace": "ns", "username": "robot", "password": secret});
        match at {
            0 => reg["port"] = serde_json::json!(secret),
            1 => reg["host"] = serde_json::json!(format!("robot:{secret}@127.0.0.1:9")),
            2 => reg["namespace"] = serde_json::json!(secret),
            3 => reg["password"] = serde_json::json!([secret, {"k": secret}]),
            _ => reg["bogus"] = serde_json::json!(secret),
        }
        let args = serde_json::json!({
            "action": "verify", "full_hash": "not-a-hash", "named_label": "current-tripleo",
            "containers_list": ["nova-compute"], "source_registry": reg.clone(),
            "target_registries": [reg.to_string()],
        });
        let out = copy_containers::module::run_bytes(&serde_json::to_vec(&args).unwrap());
        prop_assert_eq!(&out["failed"], &serde_json::json!(true));
        let text = out.to_string();
        prop_assert!(leaked(&text, &secret).is_none(), "{}", leaked(&text, &secret).unwrap());
    }

    /// A secret written back with every character raw or escaped in any way an encoder writes it
    /// (`%XX` in either case, `\uXXXX`, an HTML entity, a backslash escape, `+` for a space), mixed
    /// in one text as a chain of encoders would: the scrubber leaves nothing of it, and the text
    /// around it as it was.
    #[test]
    fn a_secret_in_any_mix_of_encodings_is_masked(
        secret in hostile_secret(),
        picks in proptest::collection::vec(0usize..6, 32),
    ) {
        let mut written = String::new();
        for (i, c) in secret.chars().enumerate() {
            let mut utf8 = [0u8; 4];
            let escaped = match (picks[i % picks.len()], c) {
                (1, _) => c.encode_utf8(&mut utf8).bytes().map(|b| format!("%{b:02x}")).collect(),
                (2, _) => {
                    let mut units = [0u16; 2];
                    c.encode_utf16(&mut units).iter().map(|u| format!("\\u{u:04X}")).collect()
                }
                (3, _) => format!("&#{};", c as u32),
                (4, '"' | '\\' | '\'') => format!("\\{c}"),
                (5, ' ') => "+".to_string(),
                _ => c.to_string(),
            };
            written.push_str(&escaped);
        }
        let text = format!("registry said: <{written}> (try again)");
        let out = copy_containers::scrub::scrub(&text, std::slice::from_ref(&secret));
        prop_assert_eq!(
            out,
            format!("registry said: <{}> (try again)", copy_containers::scrub::MASK),
            "written as {}", written
        );
    }

    /// A config file whose password has the wrong type (a YAML tag, a list): the error names the
    /// key, not the value.
    #[test]
    fn a_config_type_error_never_quotes_a_password(secret in hostile_secret(), tag in 0usize..3) {
        let value = serde_json::to_string(&secret).unwrap();
        let value = match tag {
            0 => format!("!!int {value}"),
            1 => format!("[{value}]"),
            _ => format!("{{k: {value}}}"),
        };
        let text = format!("full_hash: x\nsource_registry: {{host: h, password: {value}}}\n");
        let e = copy_containers::config::parse("promote.yaml", &text, None).map(|_| ()).unwrap_err().to_string();
        prop_assert!(e.contains("password"), "{}", e);
        prop_assert!(leaked(&e, &secret).is_none(), "{}", leaked(&e, &secret).unwrap());
    }
}
