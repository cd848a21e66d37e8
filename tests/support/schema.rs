//! The JSON Schema of `eksmgr.toml` (`eksmgr schema`) held to the configurations the tests
//! write: every one that eksmgr's loader accepts must validate against the schema too, so an
//! editor never flags a configuration eksmgr runs. Configurations the loader refuses (tests of
//! error messages) are left to the loader.

use std::sync::OnceLock;

use serde_json::Value;

/// Checks `text` (an `eksmgr.toml`) against the schema when the loader accepts it.
pub fn check_config(text: &str) -> Result<(), String> {
    if eksmgr_engine::config::parse(text, "eksmgr.toml").is_err() {
        return Ok(());
    }
    let doc: Value = toml::from_str(text)
        .map_err(|e| format!("eksmgr accepts a configuration that is not TOML: {e}"))?;
    let validator = validator()?;
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("  {}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the JSON Schema rejects a configuration eksmgr accepts (fix the schema annotations of the config types in engine/src/config):\n{}\n--- eksmgr.toml ---\n{text}",
        errors.join("\n")
    ))
}

/// The schema's validator, compiled once per test process.
fn validator() -> Result<&'static jsonschema::Validator, String> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            jsonschema::draft202012::new(&eksmgr_engine::config::schema::json_schema())
                .map_err(|e| format!("the JSON Schema of eksmgr.toml does not compile: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_configs_must_validate_and_refused_ones_are_left_to_the_loader() {
        let good = "[organization]\neks_ou_id = \"ou-ab12-cdef3456\"\n\n[hub]\naccount_id = \"222222222222\"\n";
        assert_eq!(check_config(good), Ok(()));
        // The loader refuses it (a bad account id): not the schema's business here.
        let refused = good.replace("222222222222", "2222");
        assert_eq!(check_config(&refused), Ok(()));
    }
}
