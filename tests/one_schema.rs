//! One option schema: every promotion option, declared once (`src/options`), reaches
//! [`PromoteArgs`] from every face that takes it. The module's spec and the command line's flags are
//! built from the declaration; a releases file's entries and its defaults embed the options
//! (`promote::embed`: keys of their own beside them, unknown keys still named); this test checks
//! that each option is taken there (the defaults refuse only the per-release ones, listed below with
//! why) and that `entry_args` carries it into [`PromoteArgs`], that each flag sets its option's
//! field on every verb, and that the defaults the entries declare are the ones applied.

use clap::Parser;
use copy_containers::cli::{Cli, Command};
use copy_containers::config::{ReleaseEntry, ReleasesConfig, FILE_KEYS};
use copy_containers::module::args::{self, Kind, Opt};
use copy_containers::promote::model::PROMOTE_SPEC;
use copy_containers::promote::PromoteArgs;
use serde_json::{json, Value};

/// Fields a release entry does not take, and why.
const NOT_IN_ENTRIES: &[(&str, &str)] = &[];

/// Fields the file's defaults do not take, and why.
const NOT_IN_DEFAULTS: &[(&str, &str)] = &[
    ("full_hash", "per release"),
    ("push_hash", "per release"),
    ("release", "per release"),
    ("distro_name", "per release"),
    ("distro_version", "per release"),
    ("containers", "per release"),
    ("ppc_containers", "per release"),
    ("containers_list_file", "per release"),
    ("source_namespace", "per release (from_namespace)"),
    ("target_namespace", "per release (to_namespace)"),
];

/// The list above is the one the file refuses.
#[test]
fn the_defaults_refuse_what_is_listed() {
    let listed: Vec<&str> = NOT_IN_DEFAULTS.iter().map(|(k, _)| *k).collect();
    assert_eq!(listed, FILE_KEYS.refused);
}

fn listed(list: &[(&str, &str)], f: &str) -> bool {
    list.iter().any(|(k, _)| *k == f)
}

/// A value of the option's type, as JSON.
fn sample(o: &Opt) -> Value {
    match o.kind {
        _ if !o.choices.is_empty() => json!(o.choices[0]),
        Kind::Str => json!("x"),
        Kind::Path => json!("/x"),
        Kind::Bool => json!(true),
        Kind::Int => json!(3),
        Kind::List => json!(["a"]),
        Kind::Dict => json!({"host": "h", "namespace": "n"}),
        Kind::ListOfDicts => json!([{"host": "h", "namespace": "n"}]),
        Kind::Switch => unreachable!("the promotion's options take values"),
    }
}

/// Whether `field` of the promotion fields is set.
fn is_set(a: &PromoteArgs, field: &str) -> bool {
    !serde_json::to_value(a).unwrap()[field].is_null()
}

/// The option's names: the module's, its aliases and the field's.
fn names<'a>(field: &'a str, o: &'a Opt) -> Vec<&'a str> {
    let mut n = vec![o.name];
    n.extend(o.aliases);
    n.push(field);
    n
}

fn options() -> impl Iterator<Item = (&'static str, &'static Opt)> {
    assert_eq!(PromoteArgs::FIELDS.len(), PROMOTE_SPEC.len());
    PromoteArgs::FIELDS.iter().copied().zip(PROMOTE_SPEC)
}

#[test]
fn module_takes_every_option() {
    for (field, o) in options() {
        assert!(args::SPEC.iter().any(|s| s.name == o.name), "{field} not in SPEC");
        for name in std::iter::once(o.name).chain(o.aliases.iter().copied()) {
            let raw = json!({"action": "delete_local", "scope": "all", name: sample(o)});
            let p = args::validate(raw.as_object().unwrap().clone())
                .unwrap_or_else(|e| panic!("module refuses {name}: {e}"));
            let t = p.typed().unwrap_or_else(|e| panic!("module refuses {name}: {e}"));
            assert!(
                is_set(&t.promote, field),
                "module option {name} does not reach {field}"
            );
        }
    }
}

/// The first of `names` that `parse` does not call an unknown field, with what it parsed.
fn accepted<T>(names: &[&str], parse: impl Fn(&str) -> Result<T, String>) -> Option<T> {
    names.iter().find_map(|n| match parse(n) {
        Ok(t) => Some(t),
        Err(e) if e.contains("unknown field") => None,
        Err(e) => panic!("{n}: {e}"),
    })
}

fn yaml(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn releases_file_takes_every_option() {
    let entry = |text: &str| serde_norway::from_str::<ReleaseEntry>(text).map_err(|e| e.to_string());
    let file = |text: &str| serde_norway::from_str::<ReleasesConfig>(text).map_err(|e| e.to_string());
    for (field, o) in options() {
        let names = names(field, o);
        let v = yaml(&sample(o));
        match accepted(&names, |n| entry(&format!("name: a\n{n}: {v}\n"))) {
            None => assert!(
                listed(NOT_IN_ENTRIES, field),
                "a release entry does not take {field}"
            ),
            Some(e) => {
                assert!(
                    !listed(NOT_IN_ENTRIES, field),
                    "{field} is listed as not in entries"
                );
                let cfg = ReleasesConfig {
                    releases: vec![e.clone()],
                    ..Default::default()
                };
                assert!(
                    is_set(&cfg.entry_args(&e), field),
                    "entry_args does not copy the entry's {field}"
                );
            }
        }
        match accepted(&names, |n| file(&format!("releases: []\n{n}: {v}\n"))) {
            None => assert!(
                listed(NOT_IN_DEFAULTS, field),
                "a releases file's defaults do not take {field}"
            ),
            Some(cfg) => {
                assert!(
                    !listed(NOT_IN_DEFAULTS, field),
                    "{field} is listed as not in defaults"
                );
                let e = ReleaseEntry {
                    name: "a".into(),
                    ..Default::default()
                };
                assert!(
                    is_set(&cfg.entry_args(&e), field),
                    "entry_args does not apply the file's {field}"
                );
            }
        }
    }
}

/// A value of the option's type as a flag takes it.
fn flag_sample(o: &Opt) -> &'static str {
    match o.kind {
        _ if !o.choices.is_empty() => o.choices[0],
        Kind::Int => "3",
        Kind::Bool => "yes",
        Kind::Dict | Kind::ListOfDicts => "host=h,namespace=n,tls_verify=false",
        _ => "x",
    }
}

/// Each flag of every promotion verb sets its option's field (through the same parsers as the
/// files), and every option with a flag is on each verb's command line (shown or hidden).
#[test]
fn flags_reach_every_option() {
    for verb in ["promote", "verify", "tag", "rollback"] {
        for (field, o) in options() {
            let Some(flag) = o.flag else { continue };
            let long = format!("--{}", flag.long);
            let cli = Cli::try_parse_from(["copy-containers", verb, &long, flag_sample(o)])
                .unwrap_or_else(|e| panic!("{verb} {long}: {e}"));
            let f = match cli.command {
                Command::Promote(f) => f.0,
                Command::Verify(f) => f.0,
                Command::Tag(f) => f.0,
                Command::Rollback(f) => f.0,
                _ => unreachable!(),
            };
            let args = f.flag_args().unwrap_or_else(|e| panic!("{verb} {long}: {e}"));
            assert!(is_set(&args, field), "{verb} {long} does not reach {field}");
            let given = args.given();
            assert_eq!(given, [o.name], "{verb} {long} sets more than its option");
        }
    }
}

/// The command line's registry specs: both forms, secrets refused without being echoed, unknown
/// keys and bad values named.
#[test]
fn registry_specs_on_the_command_line() {
    use copy_containers::cli::flags::parse_registry_spec;
    let r = parse_registry_spec("127.0.0.1:5000/tripleomaster").unwrap();
    assert_eq!(r.host, "127.0.0.1:5000");
    assert_eq!(r.namespace.as_deref(), Some("tripleomaster"));
    let r =
        parse_registry_spec("host=q.io,namespace=ns,insecure=true,schema=v2_s1,password_env=PW,username=u")
            .unwrap();
    assert_eq!(r.insecure, Some(true));
    assert_eq!(r.schema.as_deref(), Some("v2_s1"));
    assert!(parse_registry_spec("q.io").is_err());
    let e = parse_registry_spec("host=q.io,password=hunter2")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("hunter2") && e.contains("password_env"));
    let e = parse_registry_spec("host=q.io,bogus=1").unwrap_err().to_string();
    assert!(e.contains("bogus"), "{e}");
    assert!(parse_registry_spec("host=q.io,insecure=maybe").is_err());
}

/// The defaults the options declare are the ones applied: a promotion resolved with every declared
/// default given explicitly is the promotion resolved without them. (So an option whose code
/// applies a default of its own fails here, whatever the option.)
#[test]
fn declared_defaults_are_the_applied_ones() {
    use copy_containers::options::DefaultValue;
    let minimal = json!({
        "full_hash": "d7c3cd922f91d83aacb5d7555de9d5bc",
        "named_label": "current-tripleo",
        "containers_list": ["nova-compute"],
        "source_registry": {"host": "127.0.0.1:5000", "namespace": "ns"},
        "target_registries": [{"host": "127.0.0.1:5001", "namespace": "ns"}],
    });
    let mut explicit = minimal.clone();
    let mut given = 0;
    for (_, o) in options() {
        let v = match o.default {
            DefaultValue::Str(s) => json!(s),
            DefaultValue::Int(i) => json!(i),
            DefaultValue::Bool(b) => json!(b),
            DefaultValue::List(l) => json!(l),
            DefaultValue::None | DefaultValue::Described(_) => continue,
        };
        explicit[o.name] = v;
        given += 1;
    }
    assert!(given > 15, "only {given} defaults declared");
    let resolve = |v: &Value| {
        let a: PromoteArgs = serde_json::from_value(v.clone()).unwrap();
        format!(
            "{:?}",
            a.resolve(copy_containers::promote::model::read_list_file)
                .unwrap()
        )
    };
    assert_eq!(resolve(&explicit), resolve(&minimal));
}

/// `tmp_file_root`'s declared default is the place the report folder treats as the default's (a
/// folder another user took there is gone around, a chosen one refused): the two cannot drift.
#[test]
fn the_declared_tmp_file_root_is_the_report_folders_default() {
    use copy_containers::options::{DefaultValue, Field};
    let DefaultValue::Str(declared) = Field::tmp_file_root.opt().default else {
        panic!("tmp_file_root declares no path default");
    };
    assert_eq!(declared, copy_containers::report::folder::DEFAULT_TMP_FILE_ROOT);
}
