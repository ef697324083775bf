//! The options on the command line, rendered from their entries: which options a verb takes as
//! flags and in what order, each flag's help for a verb (its words, then whether it is required and
//! what stands in for it, its default and limits, its possible values), the keys a registry takes,
//! and what is missing, named by flag. The command line builds its clap arguments around these
//! (`cli::flags`); nothing here knows clap.

use super::{
    Action, DefaultValue, Kind, Opt, CLI_OPTIONS, MODULE_OPTIONS, MODULE_SPEC, PROMOTE_SPEC, REGISTRY_KEYS,
};

/// Every option with a flag, in the order of the help: `--config`, the promotion's, the module's,
/// then the command line's switches.
pub fn flagged() -> impl Iterator<Item = &'static Opt> {
    CLI_OPTIONS
        .iter()
        .take(1)
        .chain(PROMOTE_SPEC)
        .chain(MODULE_OPTIONS)
        .chain(&CLI_OPTIONS[1..])
        .filter(|o| o.flag.is_some())
}

/// Any option's entry by name (the module's and the command line's too).
pub fn entry(name: &str) -> &'static Opt {
    MODULE_SPEC
        .iter()
        .chain(CLI_OPTIONS)
        .find(|o| o.name == name)
        .expect("an option's name")
}

impl Opt {
    /// `--flag` (its key when it has none).
    pub fn flag_name(&self) -> String {
        self.flag
            .map_or(self.name.to_string(), |f| format!("--{}", f.long))
    }

    /// Does `action` take its flag? An unused promotion option is hidden but taken (as the module
    /// takes it); one of another face's options (`--registry` on promote) is not taken.
    pub fn on_command_line(&self, action: Action) -> bool {
        self.flag.is_some() && (self.help_for(action).is_some() || self.is_promotion_field())
    }

    /// Is it one of [`super::PromoteArgs`]' fields?
    pub fn is_promotion_field(&self) -> bool {
        PROMOTE_SPEC.iter().any(|p| p.name == self.name)
    }

    /// The flags that stand in for it on `action`'s command line.
    fn alternatives(&self, action: Action) -> Vec<String> {
        let given = self.or_given.iter().map(|g| entry(g));
        given
            .filter(|g| g.flag.is_some() && g.help_for(action).is_some())
            .map(Opt::flag_name)
            .collect()
    }

    /// Its help for `action`: `text`, then whether it is required (and what stands in for it), its
    /// default and limits, its possible values.
    pub fn help_line(&self, action: Action, text: &str) -> String {
        let mut out = text.to_string();
        if self.required_by(action) {
            out.push_str(&match self.alternatives(action) {
                or if or.is_empty() => " [required]".to_string(),
                or => format!(" [required, or {}]", or.join(" or ")),
            });
        }
        let default = match (action, self.local_default) {
            (Action::DeleteLocal, Some(d)) => Some(d.to_string()),
            _ => self.default_text(),
        };
        let limits = self.limits.map(|(low, high)| match low {
            0 => format!("at most {high}"),
            _ => format!("{low} to {high}"),
        });
        match (default, limits) {
            (Some(d), Some(l)) => out.push_str(&format!(" [default: {d}; {l}]")),
            (Some(d), None) => out.push_str(&format!(" [default: {d}]")),
            (None, Some(l)) => out.push_str(&format!(" [{l}]")),
            (None, None) => {}
        }
        let values: Vec<&str> = match self.kind {
            Kind::Bool => vec!["true", "false"],
            _ => self.choices.to_vec(),
        };
        if !values.is_empty() {
            out.push_str(&format!(" [possible values: {}]", values.join(", ")));
        }
        out
    }
}

/// The keys a registry takes on the command line, one per line (the secret ones are refused there).
pub fn registry_keys() -> String {
    let keys = || REGISTRY_KEYS.iter().filter(|k| !k.no_log);
    let width = keys()
        .map(|k| k.name.len() + 1 + k.value.len())
        .max()
        .unwrap_or(0);
    let mut out = String::from("Keys:");
    for k in keys() {
        let default = match k.default {
            DefaultValue::None => String::new(),
            _ => format!(" [default: {}]", k.default_text().unwrap_or_default()),
        };
        let key = format!("{}={}", k.name, k.value);
        out.push_str(&format!("\n  {key:<width$}  {}{default}", k.help));
    }
    out
}

/// What `action` requires that `given` (by name) lacks, by flag in the order of the help (with what
/// stands in for each), and by config key: every one at once. `None`: nothing is missing.
pub fn missing_flags(action: Action, given: &dyn Fn(&str) -> bool) -> Option<String> {
    let missing = super::missing(action, given);
    if missing.is_empty() {
        return None;
    }
    let missing: Vec<&Opt> = flagged()
        .filter(|o| missing.iter().any(|m| m.name == o.name))
        .collect();
    let flags: Vec<String> = missing
        .iter()
        .map(|o| match o.alternatives(action) {
            or if or.is_empty() => o.flag_name(),
            or => format!("{} (or {})", o.flag_name(), or.join(" or ")),
        })
        .collect();
    let keys: Vec<&str> = missing
        .iter()
        .filter(|o| o.is_promotion_field())
        .map(|o| o.name)
        .collect();
    Some(format!(
        "missing required options: {} (in --config FILE: {})",
        flags.join(", "),
        keys.join(", ")
    ))
}
