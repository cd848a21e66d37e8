//! The example configuration's governance layer: the tables of `examples/eksmgr.toml` that
//! the governance tests (and the JSON plan tests) plan on their own, without spokes.

/// Whether a table of the example belongs to the governance layer: `[organization]`,
/// `[governance.*]` and `[hub]`, not the hub registry, the spokes, the clusters or access.
fn is_governance_table(name: &str) -> bool {
    name == "organization"
        || name == "governance"
        || name.starts_with("governance.")
        || name == "hub"
}

/// The lines of the governance tables of an eksmgr configuration, each with the comments just
/// above it.
pub fn governance_slice(text: &str) -> String {
    let mut out = String::new();
    let mut pending = String::new();
    let mut keep = true;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            pending.push_str(line);
            continue;
        }
        if trimmed.starts_with('[') {
            let name = trimmed
                .split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim();
            keep = is_governance_table(name);
        }
        if keep {
            out.push_str(&pending);
            out.push_str(line);
        }
        pending.clear();
    }
    out
}
