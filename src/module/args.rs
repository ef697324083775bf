//! The module's arguments: checked against its spec the way Ansible's argument spec would
//! ([`validate`], from the options' declaration: `crate::options::ansible`), then typed
//! ([`Params::typed`]): the `action`, `scope` and `registries` typed, a stage-info file read, the
//! rest a [`PromoteArgs`].

use serde_json::Value;

use crate::options::{PromoteArgs, RegistryArgs};

pub use crate::options::ansible::{validate, Params, Refused};
pub use crate::options::KEEP_LOCAL;
pub use crate::options::{Action, Kind, Opt, Scope, ACTIONS, SCOPES};

/// Every option of the module: its own, then the promotion's (kept identical to
/// `src/module/copy_containers.yml` by a test).
pub use crate::options::MODULE_SPEC as SPEC;

/// Keys of a registry dictionary whose values are secrets.
pub use crate::input::SECRET_KEYS;

/// The module's arguments, typed: its own options, and the promotion's as [`PromoteArgs`] — the
/// struct the CLI's config files and the releases file feed too.
#[derive(Debug)]
pub struct ModuleArgs {
    pub action: Action,
    /// `delete_local`'s scope (required with it).
    pub scope: Option<Scope>,
    /// `tag`'s registries (empty: the source).
    pub registries: Vec<RegistryArgs>,
    /// The result with every per-image detail (default: the outcome, counts and causes).
    pub full_result: bool,
    pub promote: PromoteArgs,
}

impl Params {
    /// The typed arguments. A stage-info file (the promoter's staging switch) gives the registries
    /// and the hash, replacing the production ones (not for `delete_local`, which reads no registry).
    pub fn typed(&self) -> crate::Result<ModuleArgs> {
        let mut values = self.values.clone();
        let name = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_string));
        // `validate` checked the choices.
        let action = name(values.remove("action"))
            .and_then(|a| Action::parse(&a))
            .unwrap_or(Action::Promote);
        let scope = name(values.remove("scope")).and_then(|s| Scope::parse(&s));
        let registries = values.remove("registries");
        let stage_info = values.remove("stage_info");
        let full_result = values.remove("full_result").and_then(|v| v.as_bool()) == Some(true);
        if let (Some(path), false) = (stage_info, action == Action::DeleteLocal) {
            crate::verbs::stage_info::apply(
                &mut values,
                std::path::Path::new(path.as_str().unwrap_or_default()),
            )?;
        }
        let promote: PromoteArgs = serde_json::from_value(Value::Object(values))
            .map_err(|e| crate::Error::bad_option("bad arguments", e))?;
        let registries = match (action, registries) {
            (Action::Tag, Some(r)) => serde_json::from_value::<Vec<RegistryArgs>>(r)
                .map_err(|e| crate::Error::bad_option("registries", e))?,
            _ => Vec::new(),
        };
        Ok(ModuleArgs {
            action,
            scope,
            registries,
            full_result,
            promote,
        })
    }
}
