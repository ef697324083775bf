//! Lenient value parsing for inputs that come from Ansible and YAML: booleans Ansible-style
//! (`true`, `"yes"`, `"True"`, `1`, `"on"` …), integers given as strings (`distro_version: "8"`),
//! lists given as comma-separated strings (ad-hoc `-a 'containers=a,b'`), and `null` = not given.
//! The one place these coercions live: the releases file, plain config files and [`PromoteArgs`]
//! deserialize through them, and the module's Ansible-style argument check
//! ([`crate::module::args`]) uses the same parsers under Ansible's wording.
//!
//! [`PromoteArgs`]: super::PromoteArgs

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// Parse an Ansible-style boolean.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "on" | "1" | "true" | "t" | "1.0" => Some(true),
        "n" | "no" | "off" | "0" | "false" | "f" | "0.0" => Some(false),
        _ => None,
    }
}

struct BoolVisitor;

impl<'de> Visitor<'de> for BoolVisitor {
    type Value = Option<bool>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a boolean (true/false, yes/no, on/off, 1/0)")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        match v {
            0 => Ok(Some(false)),
            1 => Ok(Some(true)),
            _ => Err(E::custom(format!(
                "{v} is not a boolean (use true/false, yes/no, 1/0)"
            ))),
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.visit_i64(v as i64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v == 0.0 || v == 1.0 {
            self.visit_i64(v as i64)
        } else {
            Err(E::custom(format!("{v} is not a boolean")))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_bool(v).map(Some).ok_or_else(|| {
            E::custom(format!(
                "{v:?} is not a boolean (use true/false, yes/no, on/off, 1/0)"
            ))
        })
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(BoolVisitor)
    }
}

/// `Option<bool>` from anything boolean-like; `null` = None.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    d.deserialize_any(BoolVisitor)
}

struct StringVisitor;

impl<'de> Visitor<'de> for StringVisitor {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(E::custom(format!("expected a string, got the boolean {v}")))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(StringVisitor)
    }
}

/// `Option<String>` from a string or a number (YAML `distro_version: 9`); `null` = None.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(StringVisitor)
}

/// A secret from a string or a number (YAML `password: 20261129` is an integer); `null` = None.
pub fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<crate::transport::Secret>, D::Error> {
    Ok(opt_string(d)?.map(crate::transport::Secret::new))
}

/// A required string (a number is taken as its digits); `null` is an error.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_string(d)?.ok_or_else(|| de::Error::custom("expected a string, got null"))
}

/// `Option<u64>` from a number or a numeric string, refusing negative numbers by name (every count
/// of the options); the error is raised inside the deserializer so that it carries the key's path
/// and line.
pub fn opt_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("{v} is negative; expected a whole number")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            parse_count(v)
                .map(Some)
                .ok_or_else(|| E::custom(format!("{v:?} is not a whole number")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_any(V)
}

/// A count given as text (`" 3"`): surrounding blanks allowed, no sign.
pub fn parse_count(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

/// The names of a comma-separated string (ad-hoc `containers=a, b,,c`): trimmed, empty parts dropped.
pub fn split_names(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty())
}

/// [`opt_list`] for `containers_list`, naming it in errors.
pub fn containers_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    named_list(d, "containers_list")
}

/// [`opt_list`] for `ppc_containers_list`, naming it in errors.
pub fn ppc_containers_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    named_list(d, "ppc_containers_list")
}

/// [`opt_list`] for `base_container_images`, naming it in errors.
pub fn base_container_images<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    named_list(d, "base_container_images")
}

fn named_list<'de, D: Deserializer<'de>>(d: D, name: &str) -> Result<Option<Vec<String>>, D::Error> {
    opt_list(d).map_err(|e| de::Error::custom(format!("{name}: {e}")))
}

/// `Option<Vec<String>>` from a list of strings or a comma-separated string; `null` = None.
pub fn opt_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum L {
        List(Vec<Item>),
        Str(String),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Item {
        S(String),
        N(i64),
    }
    let v: Option<L> = Option::deserialize(d)
        .map_err(|_| de::Error::custom("expected a list of names, or one string of comma-separated names"))?;
    Ok(v.map(|l| match l {
        L::List(items) => items
            .into_iter()
            .map(|i| match i {
                Item::S(s) => s,
                Item::N(n) => n.to_string(),
            })
            .collect(),
        L::Str(s) => split_names(&s).map(str::to_string).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    struct T {
        #[serde(default, deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "opt_list")]
        l: Option<Vec<String>>,
        #[serde(default, deserialize_with = "opt_count")]
        n: Option<u64>,
    }

    fn j(s: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(s)
    }

    #[test]
    fn booleans_ansible_style() {
        for (v, want) in [
            ("true", true),
            ("\"true\"", true),
            ("\"True\"", true),
            ("\"yes\"", true),
            ("\"on\"", true),
            ("1", true),
            ("\"1\"", true),
            ("false", false),
            ("\"no\"", false),
            ("\"OFF\"", false),
            ("0", false),
            ("\"f\"", false),
        ] {
            assert_eq!(j(&format!("{{\"b\": {v}}}")).unwrap().b, Some(want), "{v}");
        }
        assert_eq!(j("{\"b\": null}").unwrap().b, None);
        assert_eq!(j("{}").unwrap().b, None);
        for bad in ["\"maybe\"", "2", "[]", "{}", "\"\""] {
            let e = j(&format!("{{\"b\": {bad}}}")).unwrap_err().to_string();
            assert!(e.contains("boolean"), "{bad}: {e}");
        }
    }

    #[test]
    fn strings_numbers_lists() {
        assert_eq!(j("{\"s\": 9}").unwrap().s.as_deref(), Some("9"));
        assert_eq!(j("{\"s\": \"8\"}").unwrap().s.as_deref(), Some("8"));
        assert!(j("{\"s\": true}").is_err());
        assert_eq!(j("{\"n\": \"12\"}").unwrap().n, Some(12));
        assert!(j("{\"n\": \"x\"}").is_err());
        assert_eq!(j("{\"l\": \"a, b,,c\"}").unwrap().l.unwrap(), vec!["a", "b", "c"]);
        assert_eq!(j("{\"l\": [\"a\", \"b\"]}").unwrap().l.unwrap(), vec!["a", "b"]);
        assert!(j("{\"l\": 5}").is_err());
        assert!(j("{\"l\": [{\"x\": 1}]}").is_err());
    }
}
