//! `apps[].pm.env`: variables per environment (and `default`), literal or `ssm:` references.

use std::collections::BTreeMap;

use crate::config::hooks::{
    DEFAULT_ENV_KEY, EnvValue, RESERVED_ENV_PREFIX, is_valid_env_name, ssm_name_problem,
};
use crate::config::parse::decoder::{Decoder, did_you_mean};
use crate::config::yaml::Node;

impl Decoder {
    pub(super) fn env(
        &mut self,
        node: &Node,
        path: &str,
        app: Option<&str>,
        environments: Option<&[String]>,
    ) -> Option<BTreeMap<String, BTreeMap<String, String>>> {
        let entries = self.mapping(
            node,
            path,
            "a mapping from environment names (or `default`) to variables",
        )?;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for entry in entries {
            let env_path = format!("{path}.{}", entry.key);
            let is_default = entry.key == DEFAULT_ENV_KEY;
            if !is_default
                && let Some(environments) = environments
                && !environments.contains(&entry.key)
            {
                let candidates = environments
                    .iter()
                    .map(String::as_str)
                    .chain([DEFAULT_ENV_KEY]);
                let hint = did_you_mean(&entry.key, candidates);
                self.error(
                    entry.key_pos,
                    &env_path,
                    format!(
                        "{:?} is not a declared environment{hint}; use one of {} or `{DEFAULT_ENV_KEY}`",
                        entry.key,
                        environments.join(", ")
                    ),
                );
                ok = false;
                continue;
            }
            let scope = (!is_default).then_some(entry.key.as_str());
            match self.variables(&entry.value, &env_path, app, scope) {
                Some(vars) => {
                    out.insert(entry.key.clone(), vars);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// The variables of one environment (`environment: None` for `default`).
    fn variables(
        &mut self,
        node: &Node,
        path: &str,
        app: Option<&str>,
        environment: Option<&str>,
    ) -> Option<BTreeMap<String, String>> {
        let entries = self.mapping(node, path, "a mapping from variable names to values")?;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for entry in entries {
            let var_path = format!("{path}.{}", entry.key);
            let name = &entry.key;
            if !is_valid_env_name(name) {
                self.error(
                    entry.key_pos,
                    &var_path,
                    format!("{name:?} is not a variable name: letters, digits and '_', not starting with a digit"),
                );
                ok = false;
                continue;
            }
            if name.starts_with(RESERVED_ENV_PREFIX) {
                self.error(
                    entry.key_pos,
                    &var_path,
                    format!("{name} is reserved: the agent sets the {RESERVED_ENV_PREFIX}* variables itself"),
                );
                ok = false;
                continue;
            }
            let Some(value) = self.string(&entry.value, &var_path) else {
                ok = false;
                continue;
            };
            if value.contains('\0') {
                self.error(
                    entry.value.pos,
                    &var_path,
                    "a value cannot contain a NUL character",
                );
                ok = false;
                continue;
            }
            if let EnvValue::Ssm(parameter) = EnvValue::parse(&value) {
                let problem = match (environment, app) {
                    (None, _) => Some(format!(
                        "`{DEFAULT_ENV_KEY}` holds literal values only: a secret belongs to one environment, so put the `ssm:` reference under that environment"
                    )),
                    (Some(environment), Some(app)) => ssm_name_problem(parameter, app, environment),
                    // The app's name did not decode: its own error says so.
                    (Some(_), None) => None,
                };
                if let Some(message) = problem {
                    self.error(entry.value.pos, &var_path, message);
                    ok = false;
                    continue;
                }
            }
            out.insert(name.clone(), value);
        }
        ok.then_some(out)
    }
}
