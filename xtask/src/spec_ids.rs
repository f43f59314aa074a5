//! `cargo xtask spec-ids`: requirement IDs that are true.
//!
//! Every requirement in `.specs/*.md` is defined as `**ID**` (`SC-KEY-002`,
//! `GA-008`, `AC-045`, `VR-VER-004`, `TL-PROOF-001`, `COL-WIT-001`). Tests cite the IDs
//! they cover in their names (`ac_045_...`, `ga_002_ga_015_...`,
//! `tl_proof_001_...`), in comments (`AC-045`), or, in BDD features, as tags
//! (`@VR-POL-001`). This check fails when anything
//! cites an ID the specs do not define, and lists the IDs no test cites.
//!
//! Test code is: files under a `tests/` folder, the BDD crate, and in a
//! source file everything from its first `#[cfg(test)]` on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use regex::Regex;

/// Where an ID was cited, for the error message.
type Citations = BTreeMap<String, Vec<String>>;

pub fn run(root: &Path) -> ExitCode {
    match check(root) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("xtask spec-ids: {e}");
            ExitCode::from(2)
        }
    }
}

fn check(root: &Path) -> Result<ExitCode, String> {
    let defined = defined_ids(&root.join(".specs"))?;
    let mut anywhere = Citations::new();
    let mut in_tests = BTreeSet::new();
    for dir in ["crates", "bdd"] {
        for file in files(&root.join(dir))? {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let shown = file
                .strip_prefix(root)
                .unwrap_or(&file)
                .display()
                .to_string();
            let test_part = test_code(&file, &text);
            for id in cited_ids(&text) {
                anywhere.entry(id).or_default().push(shown.clone());
            }
            in_tests.extend(cited_ids(test_part));
        }
    }
    let unknown: Vec<_> = anywhere
        .iter()
        .filter(|(id, _)| !defined.contains(*id))
        .collect();
    let uncited: Vec<_> = defined
        .iter()
        .filter(|id| !in_tests.contains(*id))
        .collect();
    println!(
        "spec-ids: {} requirements defined in .specs/, {} cited by tests",
        defined.len(),
        defined.len() - uncited.len()
    );
    if !uncited.is_empty() {
        let list: Vec<&str> = uncited.iter().map(|id| id.as_str()).collect();
        println!(
            "spec-ids: {} cited by no test: {}",
            uncited.len(),
            list.join(", ")
        );
    }
    if unknown.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for (id, places) in &unknown {
        let mut places = (*places).clone();
        places.dedup();
        eprintln!(
            "spec-ids: {id} is cited but no spec defines it (in {}); define it in .specs/ or fix the citation",
            places.join(", ")
        );
    }
    Ok(ExitCode::FAILURE)
}

/// The IDs defined as `**ID**` in the spec files.
fn defined_ids(specs: &Path) -> Result<BTreeSet<String>, String> {
    let definition = Regex::new(r"\*\*((?:SC|GA|AC|VR|TL|COL)(?:-[A-Z]+)?-[0-9]{3})\*\*")
        .map_err(|e| e.to_string())?;
    let mut ids = BTreeSet::new();
    for file in files(specs)? {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        ids.extend(
            definition
                .captures_iter(&text)
                .filter_map(|c| c.get(1))
                .map(|m| m.as_str().to_owned()),
        );
    }
    if ids.is_empty() {
        return Err(format!(
            "no **ID** definitions found under {}",
            specs.display()
        ));
    }
    Ok(ids)
}

/// IDs cited in `text`: upper-case (`AC-045`, `VR-VER-004`, `@GA-008`,
/// `TL-PROOF-001`) or as parts of test names (`ac_045_`, `sc_key_002`,
/// `ga_002_ga_015_`, `tl_proof_001_`).
fn cited_ids(text: &str) -> BTreeSet<String> {
    // Built per call: the pattern is a constant that compiles.
    let Ok(upper) = Regex::new(r"\b((?:SC|GA|AC|VR|TL|COL)(?:-[A-Z]+)?-[0-9]{3})\b") else {
        return BTreeSet::new();
    };
    let Ok(lower) = Regex::new(r"(?:^|[^a-z0-9])((?:sc|ga|ac|vr|tl|col)(?:_[a-z]+)?_[0-9]{3})")
    else {
        return BTreeSet::new();
    };
    let mut ids: BTreeSet<String> = upper
        .captures_iter(text)
        .filter_map(|c| c.get(1))
        .map(|m| m.as_str().to_owned())
        .collect();
    // Test names: `ga_002_ga_015_x` holds two; scan each identifier at
    // every `_` so the second one is found too.
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let mut rest = word;
        loop {
            if let Some(found) = lower.captures(rest).and_then(|c| c.get(1)) {
                ids.insert(found.as_str().to_ascii_uppercase().replace('_', "-"));
            }
            match rest.find('_') {
                Some(i) => rest = rest.get(i + 1..).unwrap_or_default(),
                None => break,
            }
        }
    }
    ids
}

/// The part of a file that is test code.
fn test_code<'a>(file: &Path, text: &'a str) -> &'a str {
    let in_test_folder = file
        .components()
        .any(|c| matches!(c.as_os_str().to_str(), Some("tests" | "bdd" | "features")));
    if in_test_folder {
        return text;
    }
    match text.find("#[cfg(test)]") {
        Some(at) => text.get(at..).unwrap_or_default(),
        None => "",
    }
}

/// Every `.rs`, `.feature` and `.md` file below `dir`, skipping build output.
fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let entries =
            std::fs::read_dir(&next).map_err(|e| format!("cannot list {}: {e}", next.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") || name.ends_with(".feature") || name.ends_with(".md") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_in_every_form_are_found() {
        let text = "fn ga_002_ga_015_allocates() {}\n/// AC-045 and VR-VER-004\n@SC-KEY-002\nfn sc_chunk_003_x() {}\nmac_0123 grace_100\nfn col_db_001_x() {}\nprotocol_001";
        let ids: Vec<String> = cited_ids(text).into_iter().collect();
        assert_eq!(
            ids,
            [
                "AC-045",
                "COL-DB-001",
                "GA-002",
                "GA-015",
                "SC-CHUNK-003",
                "SC-KEY-002",
                "VR-VER-004"
            ]
        );
    }

    #[test]
    fn tlog_ids_are_found_in_both_forms() {
        let text = "/// TL-PROOF-001 and TL-HASH-002\nfn tl_ckpt_002_tl_ckpt_003_pitfalls() {}\nfn tl_wit_004_x() {}\nfn prop_tl_store_001() {}\nhtml_001 tlx_001 TLX-001";
        let ids: Vec<String> = cited_ids(text).into_iter().collect();
        assert_eq!(
            ids,
            [
                "TL-CKPT-002",
                "TL-CKPT-003",
                "TL-HASH-002",
                "TL-PROOF-001",
                "TL-STORE-001",
                "TL-WIT-004"
            ]
        );
    }

    #[test]
    fn tlog_definitions_are_found() {
        let dir = std::env::temp_dir().join(format!("spec-ids-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("tlog.md"),
            "- **TL-HASH-001** leaves.\n- **TL-PROOF-004** reads.\n- **AC-001** x.\n- TL-VER-001 is not a definition.\n",
        )
        .unwrap();
        let ids = defined_ids(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            ids,
            BTreeSet::from([
                "AC-001".to_owned(),
                "TL-HASH-001".to_owned(),
                "TL-PROOF-004".to_owned()
            ])
        );
    }

    #[test]
    fn only_test_code_counts_as_coverage() {
        let src = "/// AC-001\nfn f() {}\n#[cfg(test)]\nmod tests { /// AC-002\n }";
        assert_eq!(
            cited_ids(test_code(Path::new("crates/x/src/lib.rs"), src)),
            BTreeSet::from(["AC-002".to_owned()])
        );
        assert_eq!(
            cited_ids(test_code(Path::new("crates/x/tests/t.rs"), src)).len(),
            2
        );
    }
}
