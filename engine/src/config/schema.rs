//! The JSON Schema of `eksmgr.toml`, generated from the configuration types of
//! [`super::sections`] (their doc comments become the descriptions), and the configuration
//! reference generated from that schema. Not to be confused with [`crate::schema`], the
//! attribute schema of the managed resources.
//!
//! `eksmgr schema` prints [`json_schema_text`] (committed as `docs/eksmgr.schema.json`) and
//! `eksmgr schema --markdown` prints [`reference_markdown`] (committed as
//! `docs/configuration.md`); tests here fail when either file is out of date.
//!
//! The schema is JSON Schema draft 2020-12. TOML editors built on taplo (Even Better TOML
//! in VS Code, and others) use it for completion, hover documentation and validation, once it
//! is saved next to the configuration (`eksmgr schema > eksmgr.schema.json`) and named either
//! by a directive on the first line of `eksmgr.toml`:
//!
//! ```toml
//! #:schema ./eksmgr.schema.json
//! ```
//!
//! or by a rule in a `.taplo.toml` at the root of the repository:
//!
//! ```toml
//! [[rule]]
//! include = ["**/eksmgr.toml"]
//! schema.path = "./eksmgr.schema.json"
//! ```
//!
//! TOML has no `null`: the `null` that the schema generator allows for optional keys is
//! removed, so an optional key is simply one that is not `required`.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use super::sections::Config;

/// One of the extra statements of the SCP, `[[governance.scp.extra_statements]]`. The
/// configuration keeps them as JSON values that the loader checks key by key; this states the
/// same rules for the schema.
pub(super) struct ScpStatement;

impl JsonSchema for ScpStatement {
    fn schema_name() -> Cow<'static, str> {
        "ScpStatement".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let strings = |what: &str| {
            json!({
                "description": what,
                "anyOf": [
                    { "type": "string", "minLength": 1 },
                    { "type": "array", "items": { "type": "string", "minLength": 1 }, "minItems": 1 },
                ],
            })
        };
        let scalar = json!({ "type": ["string", "number", "boolean"] });
        json_schema!({
            "type": "object",
            "description": "An IAM policy statement added to the SCP: `Effect`, `Action` or \
                `NotAction`, and optionally `Sid`, `Resource` or `NotResource`, and `Condition`.",
            "additionalProperties": false,
            "properties": {
                "Sid": {
                    "type": "string",
                    "pattern": "^[A-Za-z0-9]+$",
                    "description": "Statement id: letters and digits, unique among the extra \
                        statements (`acknowledged_unverifiable_sids` names statements by it).",
                },
                "Effect": {
                    "enum": ["Allow", "Deny"],
                    "description": "`\"Deny\"` (or `\"Allow\"`).",
                },
                "Action": strings("The actions the statement applies to (`service:Action`, \
                    `*` wildcards allowed). Exactly one of `Action` and `NotAction`."),
                "NotAction": strings("The actions the statement does not apply to. Exactly one \
                    of `Action` and `NotAction`."),
                "Resource": strings("The resources (ARNs, or `\"*\"`) the statement applies \
                    to. At most one of `Resource` and `NotResource`."),
                "NotResource": strings("The resources the statement does not apply to. At most \
                    one of `Resource` and `NotResource`."),
                "Condition": {
                    "type": "object",
                    "description": "Conditions, as a table of condition operators, each a table \
                        of condition keys and their values, e.g. \
                        `{ StringNotEquals = { \"aws:RequestedRegion\" = [\"eu-west-1\"] } }`.",
                    "minProperties": 1,
                    "additionalProperties": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": {
                            "anyOf": [
                                scalar,
                                { "type": "array", "items": scalar, "minItems": 1 },
                            ],
                        },
                    },
                },
            },
            "required": ["Effect"],
            "oneOf": [{ "required": ["Action"] }, { "required": ["NotAction"] }],
            "not": { "required": ["Resource", "NotResource"] },
        })
    }
}

/// `$id` of the schema.
pub const SCHEMA_ID: &str = "urn:eksmgr:schema:eksmgr.toml";

/// The JSON Schema (draft 2020-12) of `eksmgr.toml`.
pub fn json_schema() -> Value {
    let generated = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Config>();
    let mut generated = generated.to_value();
    tidy(&mut generated);
    let Value::Object(fields) = generated else {
        return generated;
    };
    // `$schema`, `$id`, `title` and `description` first, then the rest as generated.
    let mut root = Map::new();
    if let Some(meta) = fields.get("$schema") {
        root.insert("$schema".to_string(), meta.clone());
    }
    root.insert("$id".to_string(), SCHEMA_ID.into());
    root.insert("title".to_string(), "eksmgr.toml".into());
    for (key, value) in fields {
        if !matches!(key.as_str(), "$schema" | "$id" | "title") {
            root.insert(key, value);
        }
    }
    Value::Object(root)
}

/// [`json_schema()`] as pretty-printed JSON with a final newline: the text of
/// `docs/eksmgr.schema.json`.
pub fn json_schema_text() -> String {
    format!("{:#}\n", json_schema())
}

/// The configuration reference, `docs/configuration.md`: every table of `eksmgr.toml` (arrays
/// of tables as `[[clusters]]`), each key with its type, default and description, and the
/// formats of the identifiers. Generated from [`json_schema()`].
pub fn reference_markdown() -> String {
    let schema = json_schema();
    let mut doc = Reference {
        defs: schema.get("$defs").and_then(Value::as_object),
        out: String::new(),
    };
    doc.render(&schema);
    doc.out
}

/// What a key holds, as far as the reference's layout is concerned.
enum Kind<'a> {
    /// A table (`[a.b]`), with its resolved schema.
    Table(&'a Value),
    /// An array of tables (`[[a.b]]`), with the resolved schema of its elements.
    Tables(&'a Value),
    /// Tables keyed by a name (`[a.b."<name>"]`): the placeholder of the name, and the
    /// resolved schema of the tables.
    Keyed(&'static str, &'a Value),
    /// Anything else: a value written on the key's line.
    Value,
}

/// The writer of [`reference_markdown`].
struct Reference<'a> {
    defs: Option<&'a Map<String, Value>>,
    out: String,
}

impl<'a> Reference<'a> {
    fn render(&mut self, schema: &'a Value) {
        self.out
            .push_str("# Configuration reference: `eksmgr.toml`\n\n");
        self.out.push_str(INTRO);
        self.out.push_str("\n## Top level\n\n");
        if let Some(description) = description(schema) {
            self.paragraph(description);
        }
        self.keys(schema, &[]);
        self.children(schema, &[]);
        self.formats();
    }

    /// The sections of the tables under the table `schema` at `path`, depth first.
    fn children(&mut self, schema: &'a Value, path: &[String]) {
        for (key, property) in properties(schema) {
            let mut child = path.to_vec();
            child.push(key.clone());
            let (header, table) = match self.kind(property) {
                Kind::Table(table) => (header(&child, false), table),
                Kind::Tables(table) => (header(&child, true), table),
                Kind::Keyed(name, table) => {
                    child.push(format!("\"<{name}>\""));
                    (header(&child, false), table)
                }
                Kind::Value => continue,
            };
            let level = "#".repeat((path.len() + 2).min(6));
            self.out.push_str(&format!("{level} `{header}`\n\n"));
            if let Some(text) = description(property) {
                self.paragraph(text);
            }
            // The description of the table's type too, unless it says no more.
            if let Some(text) = description(table).map(without_header) {
                let said = description(property).unwrap_or_default().to_lowercase();
                if !said.contains(text.trim_end_matches('.').to_lowercase().as_str()) {
                    self.paragraph(&capitalised(text));
                }
            }
            self.keys(table, &child);
            self.children(table, &child);
        }
    }

    /// The table of the keys of the table `schema` at `path`.
    fn keys(&mut self, schema: &'a Value, path: &[String]) {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        self.out
            .push_str("| Key | Type | Default | Description |\n| --- | --- | --- | --- |\n");
        for (key, property) in properties(schema) {
            let mut child = path.to_vec();
            child.push(key.clone());
            let kind = self.kind(property);
            let default = if required.contains(&key.as_str()) {
                "**required**".to_string()
            } else {
                match (property.get("default"), &kind) {
                    (Some(value), Kind::Value | Kind::Tables(_)) => format!("`{}`", toml(value)),
                    (Some(Value::Object(m)), Kind::Keyed(..)) if m.is_empty() => "`{}`".to_string(),
                    (Some(_), Kind::Table(_)) => "its keys' defaults".to_string(),
                    _ => "—".to_string(),
                }
            };
            let mut text = description(property).unwrap_or_default().to_string();
            for (value, meaning) in self.values(property) {
                if !meaning.is_empty() {
                    text.push_str(&format!("\n\n`{}`: {meaning}", toml(value)));
                }
            }
            self.out.push_str(&format!(
                "| `{key}` | {} | {default} | {} |\n",
                cell(&self.type_of(property, &child)),
                cell(&text)
            ));
        }
        self.out.push('\n');
    }

    /// The section on the formats of the identifiers (the definitions with a `pattern`).
    fn formats(&mut self) {
        let Some(defs) = self.defs else { return };
        let formats: Vec<(&String, &Value)> = defs
            .iter()
            .filter(|(_, d)| d.get("pattern").is_some())
            .collect();
        if formats.is_empty() {
            return;
        }
        self.out.push_str("## Value formats\n\n");
        for (name, def) in formats {
            self.out.push_str(&format!("### `{name}`\n\n"));
            if let Some(text) = description(def) {
                self.paragraph(text);
            }
            if let Some(pattern) = def.get("pattern").and_then(Value::as_str) {
                self.paragraph(&format!("Pattern: `{pattern}`"));
            }
        }
    }

    fn paragraph(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push_str("\n\n");
    }

    /// The schema `schema` refers to (`$ref` into `$defs`), or `schema` itself.
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        self.def_name(schema)
            .and_then(|name| self.defs?.get(name))
            .unwrap_or(schema)
    }

    /// The name of the definition `schema` refers to.
    fn def_name(&self, schema: &'a Value) -> Option<&'a str> {
        schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
    }

    fn kind(&self, property: &'a Value) -> Kind<'a> {
        let resolved = self.resolve(property);
        if resolved.get("properties").is_some() {
            return Kind::Table(resolved);
        }
        if let Some(items) = property.get("items").map(|i| self.resolve(i))
            && items.get("properties").is_some()
        {
            return Kind::Tables(items);
        }
        if let Some(Value::Object(patterns)) = property.get("patternProperties")
            && let [(pattern, value)] = patterns.iter().collect::<Vec<_>>().as_slice()
        {
            let value = self.resolve(value);
            if value.get("properties").is_some() {
                let name = if pattern.as_str() == super::ids::ACCOUNT_ID_PATTERN {
                    "account id"
                } else {
                    "name"
                };
                return Kind::Keyed(name, value);
            }
        }
        Kind::Value
    }

    /// The enumerated values of `property` with their meanings.
    fn values(&self, property: &'a Value) -> Vec<(&'a Value, &'a str)> {
        let resolved = self.resolve(property);
        let plain = resolved.get("enum").and_then(Value::as_array);
        let described = resolved.get("oneOf").and_then(Value::as_array);
        let described = described
            .into_iter()
            .flatten()
            .filter_map(|v| Some((v.get("const")?, description(v).unwrap_or_default())));
        plain
            .into_iter()
            .flatten()
            .map(|v| (v, ""))
            .chain(described)
            .collect()
    }

    /// The type of `property` at `path`, for people.
    fn type_of(&self, property: &'a Value, path: &[String]) -> String {
        let link = |header: String| format!("see [`{header}`](#{})", anchor(&header));
        match self.kind(property) {
            Kind::Table(_) => return format!("table, {}", link(header(path, false))),
            Kind::Tables(_) => return format!("array of tables, {}", link(header(path, true))),
            Kind::Keyed(name, _) => {
                let mut keyed = path.to_vec();
                keyed.push(format!("\"<{name}>\""));
                return format!("tables by {name}, {}", link(header(&keyed, false)));
            }
            Kind::Value => {}
        }
        self.value_type(property, false)
    }

    /// The type of a value (not a table), for people; `plural` for the elements of an array
    /// or a table.
    fn value_type(&self, schema: &'a Value, plural: bool) -> String {
        let resolved = self.resolve(schema);
        let values = self.values(schema);
        if !values.is_empty() {
            let values: Vec<String> = values
                .iter()
                .map(|(v, _)| format!("`{}`", toml(v)))
                .collect();
            let values = values.join(", ");
            return if plural {
                format!("strings from {values}")
            } else {
                format!("one of {values}")
            };
        }
        if resolved == &Value::Bool(true) {
            return if plural { "values" } else { "any value" }.to_string();
        }
        let noun_of = |kind: &str| {
            let kind = if kind == "object" { "table" } else { kind };
            if plural {
                format!("{kind}s")
            } else {
                kind.to_string()
            }
        };
        if let Some(options) = resolved.get("anyOf").and_then(Value::as_array) {
            let options: Vec<String> = options.iter().map(|o| self.value_type(o, plural)).collect();
            return options.join(" or ");
        }
        if let Some(kinds) = resolved.get("type").and_then(Value::as_array) {
            let kinds: Vec<String> = kinds
                .iter()
                .filter_map(Value::as_str)
                .map(noun_of)
                .collect();
            return kinds.join(" or ");
        }
        let kind = match resolved.get("type").and_then(Value::as_str) {
            Some("object") => "table",
            Some(kind) => kind,
            None => "value",
        };
        let noun = noun_of(kind);
        match kind {
            "string" => match (self.def_name(schema), resolved.get("pattern")) {
                (Some(name), Some(_)) => format!("{noun} ([`{name}`](#{}))", anchor(name)),
                _ => noun,
            },
            "integer" | "number" => {
                let bound = |k: &str| resolved.get(k).and_then(Value::as_u64);
                match (bound("minimum").filter(|m| *m > 0), bound("maximum")) {
                    (Some(min), Some(max)) => format!("{noun}, {min} to {max}"),
                    (Some(min), None) => format!("{noun}, at least {min}"),
                    (None, Some(max)) => format!("{noun}, at most {max}"),
                    (None, None) => noun,
                }
            }
            "array" => match resolved.get("items") {
                Some(items) => format!("{noun} of {}", self.value_type(items, true)),
                None => noun,
            },
            "table" => match resolved.get("additionalProperties") {
                Some(values @ Value::Object(_)) => {
                    format!("{noun} of {}", self.value_type(values, true))
                }
                _ => noun,
            },
            _ => noun,
        }
    }
}

/// The opening of the reference, after its title.
const INTRO: &str = "\
<!-- Generated from the configuration types by `eksmgr schema --markdown`: do not edit. -->

Every table rejects the keys it does not know. A key marked **required** must be given; any
other key may be left out, and then takes the default shown (— means no fixed default: the
description says what happens without the key). A table left out is a table with every key
at its default.

The JSON Schema of the file, [`eksmgr.schema.json`](eksmgr.schema.json) (`eksmgr schema`),
checks the shape of the file: keys, types, enumerated values, the formats of identifiers and
numeric ranges. `eksmgr validate` checks all that and the rest: names, duplicates, the
references between sections, and regions: each must be a region of the AWS partitions of the
AWS SDK eksmgr is built with; one named like them but not listed (`us-east-3`, a region newer
than the build) is accepted with a warning, any other is refused with the closest known ones.

## Editor support

TOML editors built on taplo (such as Even Better TOML for VS Code) complete keys, show these
descriptions and flag mistakes as you type, given the schema. Save it next to the
configuration with `eksmgr schema > eksmgr.schema.json`, then either start `eksmgr.toml`
with the directive

```toml
#:schema ./eksmgr.schema.json
```

or add a rule to the `.taplo.toml` at the root of the repository:

```toml
[[rule]]
include = [\"**/eksmgr.toml\"]
schema.path = \"./eksmgr.schema.json\"
```
";

/// The properties of the table `schema`, in order.
fn properties(schema: &Value) -> impl Iterator<Item = (&String, &Value)> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

fn description(schema: &Value) -> Option<&str> {
    schema
        .get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
}

/// A definition's description without the table header it starts with (`` `[hub]`: ``),
/// capitalised.
fn without_header(text: &str) -> &str {
    text.strip_prefix('`')
        .and_then(|rest| rest.split_once("`: "))
        .filter(|(header, _)| header.starts_with('['))
        .map_or(text, |(_, rest)| rest)
}

/// `text` with its first letter in upper case.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The TOML header of the table at `path`: `[a.b]`, or `[[a.b]]` for an array of tables.
fn header(path: &[String], array: bool) -> String {
    let dotted = path.join(".");
    if array {
        format!("[[{dotted}]]")
    } else {
        format!("[{dotted}]")
    }
}

/// The anchor GitHub gives a heading that reads `text` (formatting removed): lowercase,
/// letters, digits, `-` and `_` kept, spaces made `-`, the rest dropped.
fn anchor(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// `value` as written in TOML.
fn toml(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(toml).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(fields) if fields.is_empty() => "{}".to_string(),
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k} = {}", toml(v)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        other => other.to_string(),
    }
}

/// `text` fit for a table cell: paragraphs split by `<br><br>`, `|` escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace("\n\n", "<br><br>")
        .replace('\n', " ")
}

/// Tidies `schema` and its subschemas for TOML and for reading:
///
/// - removes `null` from types, enums and defaults (also the `null` members of default
///   tables), and the `{"type": "null"}` alternatives of `anyOf`, merging a lone remaining
///   alternative into its parent: TOML cannot write `null`, an optional key is one that is
///   absent;
/// - joins the lines of each description into paragraphs (the line breaks of the doc
///   comments are not meant as such).
fn tidy(schema: &mut Value) {
    let Value::Object(obj) = schema else { return };
    let fields = std::mem::take(obj);
    for (key, mut value) in fields {
        match key.as_str() {
            "default" if value.is_null() => {}
            "default" => {
                obj.insert(key, without_null_members(value));
            }
            "description" => {
                let text = value.as_str().map(paragraphs).unwrap_or_default();
                obj.insert(key, text.into());
            }
            "type" => {
                if let Value::Array(types) = &mut value {
                    types.retain(|t| t != "null");
                    if types.len() == 1 {
                        value = types.remove(0);
                    }
                }
                obj.insert(key, value);
            }
            "enum" => {
                if let Value::Array(values) = &mut value {
                    values.retain(|v| !v.is_null());
                }
                obj.insert(key, value);
            }
            "anyOf" => {
                if let Value::Array(options) = &mut value {
                    options.retain(|o| o.get("type").is_none_or(|t| t != "null"));
                    options.iter_mut().for_each(tidy);
                    if options.len() == 1
                        && let Some(Value::Object(only)) = options.pop()
                    {
                        for (k, v) in only {
                            obj.entry(k).or_insert(v);
                        }
                        continue;
                    }
                }
                obj.insert(key, value);
            }
            "properties" | "patternProperties" | "$defs" => {
                if let Value::Object(schemas) = &mut value {
                    schemas.values_mut().for_each(tidy);
                }
                obj.insert(key, value);
            }
            "oneOf" | "allOf" | "prefixItems" => {
                if let Value::Array(schemas) = &mut value {
                    schemas.iter_mut().for_each(tidy);
                }
                obj.insert(key, value);
            }
            "items" | "additionalProperties" | "not" | "propertyNames" => {
                tidy(&mut value);
                obj.insert(key, value);
            }
            _ => {
                obj.insert(key, value);
            }
        }
    }
}

/// `value` without the `null` members of its tables, at every depth.
fn without_null_members(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_null_members(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_null_members).collect()),
        other => other,
    }
}

/// `text` with the lines of each paragraph joined by spaces; paragraphs stay apart.
fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|p| p.lines().map(str::trim).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::config::{AccountId, Arn, ClusterAccount, OuId, ids};

    fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the engine is a directory of the workspace")
            .to_path_buf()
    }

    fn validator() -> jsonschema::Validator {
        jsonschema::draft202012::new(&json_schema())
            .unwrap_or_else(|e| panic!("the schema does not compile: {e}"))
    }

    /// Every validation error of `doc`, one per line, with where it is.
    fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
        v.iter_errors(doc)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }

    fn toml_to_json(text: &str, name: &str) -> Value {
        toml::from_str(text).unwrap_or_else(|e| panic!("{name}: not TOML: {e}"))
    }

    /// The `*.toml` files of `dir`, sorted.
    fn toml_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn the_committed_schema_and_reference_are_up_to_date() {
        let update = std::env::var_os("EKSMGR_UPDATE_DOCS").is_some_and(|v| v == "1");
        let mut stale = Vec::new();
        for (file, generated, command) in [
            (
                "docs/eksmgr.schema.json",
                json_schema_text(),
                "eksmgr schema > docs/eksmgr.schema.json",
            ),
            (
                "docs/configuration.md",
                reference_markdown(),
                "eksmgr schema --markdown > docs/configuration.md",
            ),
        ] {
            let path = repo_root().join(file);
            let Ok(committed) = std::fs::read_to_string(&path) else {
                if update {
                    std::fs::write(&path, &generated).unwrap();
                } else {
                    stale.push(format!("{file} is missing: run `{command}`"));
                }
                continue;
            };
            if committed == generated {
                continue;
            }
            if update {
                std::fs::write(&path, &generated).unwrap();
                continue;
            }
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
            stale.push(format!(
                "{file} is not what the configuration types generate (first difference at \
                 line {}): run `{command}`, or EKSMGR_UPDATE_DOCS=1 cargo test -p \
                 eksmgr-engine --lib config::schema",
                line + 1
            ));
        }
        assert!(stale.is_empty(), "{}", stale.join("\n"));
    }

    #[test]
    fn the_schema_is_draft_2020_12_and_names_eksmgr_toml() {
        let schema = json_schema();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["$id"], SCHEMA_ID);
        assert_eq!(schema["title"], "eksmgr.toml");
        let meta = jsonschema::draft202012::meta::validate(&schema);
        assert!(meta.is_ok(), "{meta:?}");
        assert!(json_schema_text().ends_with("}\n"));
        // Nothing in it allows `null`, which TOML cannot write.
        assert!(!json_schema_text().contains("null"));
    }

    /// The places in `schema` (at `at`) where a key, a definition or an enumerated value has
    /// no description.
    fn undescribed(schema: &Value, at: &str, out: &mut Vec<String>) {
        let Value::Object(obj) = schema else { return };
        for (keyword, value) in obj {
            match (keyword.as_str(), value) {
                ("properties" | "$defs", Value::Object(children)) => {
                    for (name, child) in children {
                        let place = format!("{at}/{keyword}/{name}");
                        if description(child).is_none() {
                            out.push(place.clone());
                        }
                        undescribed(child, &place, out);
                    }
                }
                ("oneOf", Value::Array(options)) => {
                    for (i, option) in options.iter().enumerate() {
                        let place = format!("{at}/oneOf/{i}");
                        if option.get("const").is_some() && description(option).is_none() {
                            out.push(place.clone());
                        }
                        undescribed(option, &place, out);
                    }
                }
                ("anyOf" | "allOf", Value::Array(options)) => {
                    for (i, option) in options.iter().enumerate() {
                        undescribed(option, &format!("{at}/{keyword}/{i}"), out);
                    }
                }
                ("items" | "additionalProperties" | "not", child) => {
                    undescribed(child, &format!("{at}/{keyword}"), out);
                }
                ("patternProperties", Value::Object(children)) => {
                    for (pattern, child) in children {
                        undescribed(child, &format!("{at}/patternProperties/{pattern}"), out);
                    }
                }
                _ => {}
            }
        }
    }

    #[test]
    fn every_key_definition_and_enumerated_value_has_a_description() {
        let schema = json_schema();
        assert!(
            description(&schema).is_some(),
            "the root has no description"
        );
        let mut missing = Vec::new();
        undescribed(&schema, "#", &mut missing);
        assert_eq!(missing, Vec::<String>::new(), "no description");
        // The check finds what it looks for.
        let mut found = Vec::new();
        let broken = json!({
            "$defs": { "T": { "description": "a table", "properties": {
                "ok": { "type": "string", "description": "fine" },
                "bare": { "type": "string" },
                "blank": { "type": "string", "description": "" },
                "e": { "description": "an enum", "oneOf": [{ "const": "x" }] },
            } } },
        });
        undescribed(&broken, "#", &mut found);
        assert_eq!(
            found,
            [
                "#/$defs/T/properties/bare",
                "#/$defs/T/properties/blank",
                "#/$defs/T/properties/e/oneOf/0"
            ]
        );
    }

    #[test]
    fn every_table_denies_unknown_keys() {
        fn open(schema: &Value, at: &str, out: &mut Vec<String>) {
            let Value::Object(obj) = schema else { return };
            if obj.contains_key("properties")
                && obj.get("additionalProperties") != Some(&Value::Bool(false))
            {
                out.push(at.to_string());
            }
            for (keyword, value) in obj {
                match value {
                    Value::Object(children)
                        if matches!(keyword.as_str(), "properties" | "$defs") =>
                    {
                        for (name, child) in children {
                            open(child, &format!("{at}/{keyword}/{name}"), out);
                        }
                    }
                    child if matches!(keyword.as_str(), "items" | "additionalProperties") => {
                        open(child, &format!("{at}/{keyword}"), out);
                    }
                    _ => {}
                }
            }
        }
        let mut open_tables = Vec::new();
        open(&json_schema(), "#", &mut open_tables);
        assert_eq!(open_tables, Vec::<String>::new());
    }

    #[test]
    fn the_id_patterns_accept_exactly_what_the_parsers_accept() {
        let samples = [
            "",
            "*",
            "**",
            "012345678901",
            "123456789012",
            "12345",
            "1234567890123",
            "12345678901a",
            " 123456789012",
            "123456789012\n",
            "１２３４５６７８９０１２",
            "ou-ab12-cdef3456",
            "ou-abcd-12345678901234567890123456789012",
            "ou-abcd-123456789012345678901234567890123",
            "ou-ab1-cdef3456",
            "ou-ab12-cdef345",
            "ou-AB12-cdef3456",
            "ou-ab12cdef3456",
            "ou-ab12-cdef-3456",
            "r-ab12",
            "arn:aws:iam::aws:policy/AdministratorAccess",
            "arn:aws:iam::*:role/AWSReservedSSO_EKSAdmin_*",
            "arn:aws-us-gov:iam::123456789012:role/x",
            "arn:aws-cn:s3:::bucket",
            "arn:aws:eks:us-east-1:123456789012:cluster/prod:with:colons",
            "arn:aws:eks:*:123456789012:cluster/*",
            "arn:aws:iam::123456789012",
            "arn:aws:iam::123456789012:",
            "arn:aws-xx:iam::123456789012:role/x",
            "arn:aws::us-east-1:123456789012:x",
            "arn:aws:IAM::123456789012:role/x",
            "arn:aws:iam:US-EAST-1:123456789012:role/x",
            "arn:aws:iam::12345:role/x",
            "arn:aws:iam::aws1:role/x",
            "urn:aws:iam::123456789012:role/x",
            "arn:aws:iam::123456789012:role/a b",
            "arn:aws:iam::123456789012:role/a\tb",
            "arn:aws:iam::123456789012:role/a\u{a0}b",
        ];
        let check = |name: &str, pattern: &str, parses: &dyn Fn(&str) -> bool| {
            let v = jsonschema::draft202012::new(&json!({ "type": "string", "pattern": pattern }))
                .unwrap();
            let accepted = samples.iter().filter(|s| parses(s)).count();
            assert!(accepted > 0, "{name}: no sample is valid");
            for sample in samples {
                assert_eq!(
                    v.is_valid(&json!(sample)),
                    parses(sample),
                    "{name} {sample:?}: the pattern and the parser disagree"
                );
            }
        };
        check("AccountId", ids::ACCOUNT_ID_PATTERN, &|s| {
            s.parse::<AccountId>().is_ok()
        });
        check("OuId", ids::OU_ID_PATTERN, &|s| s.parse::<OuId>().is_ok());
        check("Arn", ids::ARN_PATTERN, &|s| s.parse::<Arn>().is_ok());
        check("ClusterAccount", ids::CLUSTER_ACCOUNT_PATTERN, &|s| {
            s.parse::<ClusterAccount>().is_ok()
        });
        // And the schema uses them.
        let schema = json_schema();
        for (name, pattern) in [
            ("AccountId", ids::ACCOUNT_ID_PATTERN),
            ("OuId", ids::OU_ID_PATTERN),
            ("Arn", ids::ARN_PATTERN),
            ("ClusterAccount", ids::CLUSTER_ACCOUNT_PATTERN),
        ] {
            assert_eq!(schema["$defs"][name]["pattern"], pattern, "{name}");
        }
    }

    #[test]
    fn the_examples_and_the_test_configurations_are_valid_for_the_schema_and_the_loader() {
        let v = validator();
        let mut configs: Vec<(String, String)> = Vec::new();
        let root = repo_root();
        let dirs = [
            root.join("examples"),
            root.join("engine/tests/fixtures/configs/valid"),
        ];
        for file in dirs.iter().flat_map(|d| toml_files(d)) {
            let text = std::fs::read_to_string(&file).unwrap();
            configs.push((file.display().to_string(), text));
        }
        assert!(configs.len() >= 2, "{configs:?}");
        for spokes in [0, 3] {
            let estate = crate::synthetic::Estate::new(spokes);
            configs.push((
                format!("synthetic estate ({spokes} spokes)"),
                estate.config_toml(),
            ));
        }
        for (name, text) in &configs {
            if let Err(e) = crate::config::parse(text, name) {
                panic!("{name}: the loader rejects it:\n{e}");
            }
            let doc = toml_to_json(text, name);
            assert_eq!(errors(&v, &doc), Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn what_the_loader_rejects_for_its_shape_the_schema_rejects() {
        // Broken-config fixtures whose mistake is one of keys, types, enumerated values,
        // identifier formats or ranges: the schema's part.
        const SHAPE: &[&str] = &[
            "unknown_key",
            "unknown_enum_value",
            "bad_enums",
            "bad_account_id",
            "bad_ou_id",
            "bad_arn",
            "arn_bad_partition",
            "arn_not_an_arn",
            "arn_trusted_principal_malformed",
            "account_id_integer",
            "override_bad_account",
            "wrong_type",
            "version_float",
            "missing_required_key",
            "missing_cluster_keys",
            "table_written_as_array",
            "clusters_not_array",
            "number_out_of_range",
            "deletion_window_out_of_range",
            "session_durations_out_of_range",
            "scp_effect_lowercase",
            "scp_statement_unknown_key",
            "scp_statement_bad_shapes",
            "scp_extra_statements_table",
            "extra_statement_not_object",
            "empty",
        ];
        let v = validator();
        let dir = repo_root().join("engine/tests/fixtures/configs/invalid");
        let mut checked = 0;
        for file in toml_files(&dir) {
            let name = file.file_stem().unwrap().to_string_lossy().to_string();
            if !SHAPE.iter().any(|prefix| name.starts_with(prefix)) {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(crate::config::parse(&text, &name).is_err(), "{name}");
            let doc = toml_to_json(&text, &name);
            assert!(
                !errors(&v, &doc).is_empty(),
                "{name}: the loader rejects it, the schema accepts it"
            );
            checked += 1;
        }
        assert!(checked >= SHAPE.len(), "only {checked} fixtures checked");
    }

    #[test]
    fn an_unknown_key_in_any_table_or_a_wrong_enumerated_value_is_rejected_by_both() {
        let v = validator();
        let path = repo_root().join("engine/tests/fixtures/configs/valid/full.toml");
        let full = std::fs::read_to_string(&path).unwrap();
        assert!(crate::config::parse(&full, "full.toml").is_ok());
        assert_eq!(
            errors(&v, &toml_to_json(&full, "full.toml")),
            Vec::<String>::new()
        );

        let lines: Vec<&str> = full.lines().collect();
        let mut variants: Vec<(String, String)> = Vec::new();
        // An unknown key at the top, and in every table of the file.
        variants.push(("top level".to_string(), format!("not_a_key = 1\n{full}")));
        for (i, line) in lines.iter().enumerate().filter(|(_, l)| l.starts_with('[')) {
            let mut text = lines.clone();
            text.insert(i + 1, "not_a_key = 1");
            variants.push((format!("unknown key in {line}"), text.join("\n")));
        }
        // ... and in the tables the file leaves out or writes inline.
        for extra in [
            "[governance]\nnot_a_key = 1",
            "[state]\nbackend = \"s3\"\nbucket = \"state-bucket\"\nnot_a_key = 1",
        ] {
            variants.push((extra.to_string(), format!("{full}\n{extra}\n")));
        }
        let inline = "build_pods = { namespace = \"ci\", service_account = \"builder\" }";
        assert!(full.contains(inline));
        variants.push((
            "unknown key in an inline table".to_string(),
            full.replace(
                inline,
                "build_pods = { namespace = \"ci\", service_account = \"builder\", x = 1 }",
            ),
        ));
        // A value that is not one of the enumerated ones.
        for (from, to) in [
            (
                "authentication_mode = \"API\"",
                "authentication_mode = \"api\"",
            ),
            (
                "logging = [\"api\", \"audit\", \"authenticator\"]",
                "logging = [\"api\", \"audit\", \"controller-manager\"]",
            ),
            (
                "image_tag_mutability = \"IMMUTABLE\"",
                "image_tag_mutability = \"Immutable\"",
            ),
            ("policy = \"edit\"", "policy = \"editor\""),
            ("policy = \"admin\"", "policy = \"cluster_admin\""),
        ] {
            assert!(full.contains(from), "{from}");
            variants.push((to.to_string(), full.replacen(from, to, 1)));
        }
        variants.push((
            "backend = \"gcs\"".to_string(),
            format!("{full}\n[state]\nbackend = \"gcs\"\n"),
        ));
        assert!(variants.len() > 20);
        for (what, text) in &variants {
            assert!(
                crate::config::parse(text, "eksmgr.toml").is_err(),
                "{what}: the loader accepts it"
            );
            assert!(
                !errors(&v, &toml_to_json(text, what)).is_empty(),
                "{what}: the schema accepts it"
            );
        }
    }

    #[test]
    fn the_reference_has_every_table_and_every_key_and_its_links_lead_somewhere() {
        let doc = reference_markdown();
        for header in [
            "## Top level",
            "## `[organization]`",
            "### `[governance.scp]`",
            "#### `[[governance.scp.extra_statements]]`",
            "### `[[hub.ecr_repositories]]`",
            "## `[[clusters]]`",
            "### `[clusters.kms]`",
            "### `[clusters.overrides.\"<account id>\"]`",
            "### `[[access.grants]]`",
            "### `[cross_account_roles.oidc]`",
            "## `[state]`",
            "### `AccountId`",
        ] {
            assert!(doc.lines().any(|l| l == header), "{header} missing:\n{doc}");
        }
        let schema = json_schema();
        for (name, def) in schema["$defs"].as_object().unwrap() {
            for key in properties(def).map(|(k, _)| k) {
                assert!(doc.contains(&format!("\n| `{key}` |")), "{name}.{key}");
            }
        }
        // Every heading has its own anchor, and every link names one.
        let anchors: Vec<String> = doc
            .lines()
            .filter(|l| l.starts_with('#'))
            .map(|l| anchor(l.trim_start_matches('#').trim()))
            .collect();
        let mut unique = anchors.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), anchors.len(), "{anchors:?}");
        for link in doc.split("](#").skip(1) {
            let target = link.split(')').next().unwrap();
            assert!(anchors.iter().any(|a| a == target), "#{target}");
        }
        // The defaults and the enumerated values are shown.
        assert!(
            doc.contains("| `home_region` | string | `\"us-east-1\"` |"),
            "{doc}"
        );
        assert!(doc.contains("one of `\"API\"`, `\"API_AND_CONFIG_MAP\"`"));
        assert!(doc.contains("integer, 900 to 43200"));
    }
}
