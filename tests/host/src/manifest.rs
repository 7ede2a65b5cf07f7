//! The part of a Spin manifest (`spin_manifest_version = 2`) that the host uses, and the
//! resolution of component variables from application variables.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use serde::Deserialize;

/// A parsed `spin.toml`: the HTTP triggers, the components and the application variables.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The directory holding the manifest; component sources are relative to it.
    pub dir: PathBuf,
    /// The `[[trigger.http]]` entries, in manifest order (private endpoints left out).
    pub routes: Vec<HttpRoute>,
    /// The `[component.<id>]` tables, by component id.
    pub components: BTreeMap<String, ComponentConfig>,
    /// The `[variables]` table: application variables by name.
    pub variables: BTreeMap<String, AppVariable>,
}

/// One `[[trigger.http]]` entry that routes a path pattern to a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// The route pattern exactly as written in the manifest.
    pub route: String,
    /// The id of the component handling the route.
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone, Default)]
pub struct ComponentConfig {
    /// The absolute path of the component's `.wasm` file.
    pub source: PathBuf,
    /// The key-value store labels the component may open.
    pub key_value_stores: BTreeSet<String>,
    /// The SQLite database labels the component may open.
    pub sqlite_databases: BTreeSet<String>,
    /// The outbound hosts the component may reach (recorded, never allowed: see the crate doc).
    pub allowed_outbound_hosts: Vec<String>,
    /// The component's variables as templates over the application variables.
    pub variables: BTreeMap<String, String>,
    /// The component's environment variables.
    pub environment: BTreeMap<String, String>,
}

/// One application variable from `[variables]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppVariable {
    /// Whether the application refuses to start without a value.
    #[serde(default)]
    pub required: bool,
    /// The value used when no provider gives one.
    #[serde(default)]
    pub default: Option<String>,
    /// Whether the value is a secret (informational here).
    #[serde(default)]
    pub secret: bool,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: i64,
    #[serde(default)]
    variables: BTreeMap<String, AppVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: RawRoute,
    component: toml::Value,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Pattern(String),
    Private { private: bool },
}

#[derive(Deserialize)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    files: Option<toml::Value>,
    #[serde(default)]
    dependencies: Option<toml::Value>,
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let dir = path
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", path.display()))?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Self::parse(&text, &dir).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parses manifest text whose relative paths are relative to `dir`.
    pub fn parse(text: &str, dir: &Path) -> anyhow::Result<Manifest> {
        let raw: RawManifest = toml::from_str(text)?;
        ensure!(
            raw.spin_manifest_version == 2,
            "only spin_manifest_version = 2 is supported"
        );
        for name in raw.variables.keys() {
            validate_variable_name(name).map_err(|e| anyhow::anyhow!("variable {name:?}: {e}"))?;
        }
        for (name, var) in &raw.variables {
            ensure!(
                !(var.required && var.default.is_some()),
                "variable {name:?} cannot be both required and have a default"
            );
        }

        let mut components = BTreeMap::new();
        for (id, raw_component) in raw.component {
            let source = match &raw_component.source {
                toml::Value::String(s) => dir.join(s),
                _ => bail!("component {id:?}: only a file path `source` is supported"),
            };
            ensure!(
                raw_component.files.is_none() && raw_component.dependencies.is_none(),
                "component {id:?}: `files` and `dependencies` are not supported"
            );
            for (name, template) in &raw_component.variables {
                validate_variable_name(name)
                    .map_err(|e| anyhow::anyhow!("component {id:?} variable {name:?}: {e}"))?;
                for part in parse_template(template)
                    .with_context(|| format!("component {id:?} variable {name:?}"))?
                {
                    if let TemplatePart::Variable(var) = part {
                        ensure!(
                            raw.variables.contains_key(var),
                            "component {id:?} variable {name:?} refers to unknown variable {var:?}"
                        );
                    }
                }
            }
            components.insert(
                id,
                ComponentConfig {
                    source,
                    key_value_stores: raw_component.key_value_stores.into_iter().collect(),
                    sqlite_databases: raw_component.sqlite_databases.into_iter().collect(),
                    allowed_outbound_hosts: raw_component.allowed_outbound_hosts,
                    variables: raw_component.variables,
                    environment: raw_component.environment,
                },
            );
        }

        let mut routes = Vec::new();
        for trigger in raw.trigger.http {
            let component = match trigger.component {
                toml::Value::String(s) => s,
                _ => bail!("only `component = \"<id>\"` triggers are supported"),
            };
            ensure!(
                components.contains_key(&component),
                "trigger refers to unknown component {component:?}"
            );
            match trigger.route {
                RawRoute::Pattern(route) => routes.push(HttpRoute { route, component }),
                RawRoute::Private { private: true } => {}
                RawRoute::Private { private: false } => {
                    bail!(
                        "component {component:?}: route must be a pattern or {{ private = true }}"
                    )
                }
            }
        }

        Ok(Manifest {
            dir: dir.to_path_buf(),
            routes,
            components,
            variables: raw.variables,
        })
    }

    /// Every key-value store label a component lists, plus `default`.
    pub fn key_value_labels(&self) -> BTreeSet<String> {
        let mut labels: BTreeSet<String> = ["default".to_string()].into();
        for c in self.components.values() {
            labels.extend(c.key_value_stores.iter().cloned());
        }
        labels
    }

    /// Every SQLite database label a component lists, plus `default`.
    pub fn sqlite_labels(&self) -> BTreeSet<String> {
        let mut labels: BTreeSet<String> = ["default".to_string()].into();
        for c in self.components.values() {
            labels.extend(c.sqlite_databases.iter().cloned());
        }
        labels
    }

    /// Resolves every application variable from `provided` (by name), else its default.
    ///
    /// Fails when a required variable has no value, like `spin up`.
    pub fn resolve_app_variables(
        &self,
        provided: &HashMap<String, String>,
    ) -> anyhow::Result<HashMap<String, Option<String>>> {
        for name in provided.keys() {
            ensure!(
                self.variables.contains_key(name),
                "a value was given for {name:?}, which the manifest's [variables] does not declare"
            );
        }
        let mut values = HashMap::new();
        for (name, var) in &self.variables {
            let value = provided.get(name).cloned().or_else(|| var.default.clone());
            ensure!(
                value.is_some() || !var.required,
                "no value for the required variable {name:?} (give it with HostOptions::variable or --var)"
            );
            values.insert(name.clone(), value);
        }
        Ok(values)
    }
}

/// One piece of a variable template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart<'a> {
    /// Text copied as is.
    Literal(&'a str),
    /// A `{{ name }}` reference to an application variable.
    Variable(&'a str),
}

/// Splits a template such as `"Bearer {{ token }}"` into literal text and variable references.
pub fn parse_template(template: &str) -> anyhow::Result<Vec<TemplatePart<'_>>> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(TemplatePart::Literal(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .with_context(|| format!("unclosed '{{{{' in template {template:?}"))?;
        let name = after[..end].trim();
        validate_variable_name(name).map_err(|e| anyhow::anyhow!("template {template:?}: {e}"))?;
        parts.push(TemplatePart::Variable(name));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Literal(rest));
    }
    Ok(parts)
}

/// Expands a template with resolved application variable values.
pub fn expand_template(
    template: &str,
    values: &HashMap<String, Option<String>>,
) -> Result<String, String> {
    let mut out = String::new();
    for part in parse_template(template).map_err(|e| e.to_string())? {
        match part {
            TemplatePart::Literal(text) => out.push_str(text),
            TemplatePart::Variable(name) => match values.get(name) {
                Some(Some(value)) => out.push_str(value),
                Some(None) => {
                    return Err(format!("no provider resolved required variable {name:?}"));
                }
                None => return Err(format!("unknown variable {name:?}")),
            },
        }
    }
    Ok(out)
}

/// Checks a variable name the way Spin does: lower-case ASCII letters, digits and single
/// underscores, starting with a letter and ending with a letter or digit.
pub fn validate_variable_name(name: &str) -> Result<(), String> {
    let reason = if name.is_empty() {
        "must not be empty".to_string()
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        format!(
            "invalid character {c:?}. Variable names may contain only lower-case letters, numbers, and underscores."
        )
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        "must start with a lowercase ASCII letter".to_string()
    } else if !name.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        "must end with a lowercase ASCII letter or digit".to_string()
    } else if name.contains("__") {
        "must not contain multiple consecutive underscores".to_string()
    } else {
        return Ok(());
    };
    Err(format!("{name:?}: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_into_parts() {
        let parts = parse_template("Bearer {{ token }}!{{x}}").unwrap();
        assert_eq!(
            parts,
            vec![
                TemplatePart::Literal("Bearer "),
                TemplatePart::Variable("token"),
                TemplatePart::Literal("!"),
                TemplatePart::Variable("x"),
            ]
        );
        assert!(parse_template("{{ open").is_err());
        assert!(parse_template("{{ Bad }}").is_err());
    }

    #[test]
    fn variable_names_follow_spin_rules() {
        for good in ["a", "abc", "a1b2c3", "a_1", "a_1_b_3"] {
            assert!(validate_variable_name(good).is_ok(), "{good}");
        }
        for bad in ["", "aX", "1bc", "_x", "x.y", "x_", "a__b", "x-y"] {
            assert!(validate_variable_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn manifest_parses_routes_components_and_variables() {
        let text = r#"
            spin_manifest_version = 2
            [application]
            name = "t"
            [variables]
            secret = { required = true, secret = true }
            greeting = { default = "hi" }
            [[trigger.http]]
            route = "/a/..."
            component = "a"
            [[trigger.http]]
            route = { private = true }
            component = "a"
            [component.a]
            source = "a.wasm"
            key_value_stores = ["default", "other"]
            sqlite_databases = ["default"]
            [component.a.variables]
            greet = "{{ greeting }}, world"
            [component.a.build]
            command = "true"
        "#;
        let m = Manifest::parse(text, Path::new("/app")).unwrap();
        assert_eq!(m.routes.len(), 1);
        assert_eq!(m.components["a"].source, Path::new("/app/a.wasm"));
        assert!(m.key_value_labels().contains("other"));
        assert!(m.resolve_app_variables(&HashMap::new()).is_err());
        let provided = HashMap::from([("secret".to_string(), "s".to_string())]);
        let values = m.resolve_app_variables(&provided).unwrap();
        assert_eq!(
            expand_template(&m.components["a"].variables["greet"], &values).unwrap(),
            "hi, world"
        );
    }
}
