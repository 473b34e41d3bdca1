//! The layers of src/ and their one direction (src/lib.rs): `model` imports nothing
//! of the others (and no pgrx), `pg` only `model`, `backend` only `pg` and `model`,
//! `sql_api` any of them; and no two modules of the crate import each other, even
//! through others. Read from the sources: no database needed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: [&str; 4] = ["model", "pg", "backend", "sql_api"];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `src/backend/models.rs` → ["backend", "models"].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The first path segments after `prefix` (`a` of `prefix a::…`, each `a`, `b` of
/// `prefix {a::…, b}`), at every occurrence in `code`.
fn segments_after(code: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before_ok = i == 0 || {
            let c = rest[..i].chars().last().unwrap();
            !(c.is_alphanumeric() || c == '_' || c == ':')
        };
        rest = &rest[i + prefix.len()..];
        if !before_ok {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && depth == 0 => {
                        let id = ident_at(&group[j..]);
                        if !id.is_empty() && id != "self" {
                            out.push(id);
                        }
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let id = ident_at(rest);
            if !id.is_empty() {
                out.push(id);
            }
        }
    }
    out
}

/// The modules of the crate `file` refers to, as module paths (two segments at most).
fn references(module: &[String], code: &str) -> BTreeSet<Vec<String>> {
    let mut refs = BTreeSet::new();
    for top in segments_after(code, "crate::") {
        let sub_prefix = format!("crate::{top}::");
        let subs = segments_after(code, &sub_prefix);
        if subs.is_empty() || !LAYERS.contains(&top.as_str()) {
            refs.insert(vec![top.clone()]);
        }
        for sub in subs {
            if sub.chars().next().is_some_and(char::is_lowercase) {
                refs.insert(vec![top.clone(), sub]);
            } else {
                refs.insert(vec![top.clone()]);
            }
        }
    }
    // `super::x` from a file module names a sibling; from a `mod.rs` (one segment)
    // it names a top-level module. Inline test modules' `use super::*` are the file.
    let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
    for id in segments_after(code, "super::") {
        if id.chars().next().is_some_and(char::is_lowercase) {
            let mut m = parent.clone();
            m.push(id);
            refs.insert(m);
        }
    }
    refs.remove(module);
    refs
}

/// The code of a file without comments (line comments and doc comments).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("//") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g = BTreeMap::new();
    for file in files {
        let module = module_of(&src, &file);
        let code = code_of(&std::fs::read_to_string(&file).expect("read a source file"));
        let refs = references(&module, &code);
        g.entry(module).or_insert_with(BTreeSet::new).extend(refs);
    }
    g
}

#[test]
fn layers_import_in_one_direction() {
    let g = graph();
    assert!(g.len() > 20, "the sources were read ({} modules)", g.len());
    let mut wrong = Vec::new();
    for (module, refs) in &g {
        let Some(from) = module.first().and_then(|l| rank(l)) else {
            continue; // lib.rs wires the layers together
        };
        for r in refs {
            if let Some(to) = r.first().and_then(|l| rank(l)) {
                if to > from {
                    wrong.push(format!("{} imports {}", module.join("::"), r.join("::")));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layer order (model < pg < backend < sql_api):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn model_uses_no_pgrx() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(!files.is_empty());
    for file in files {
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        assert!(
            !code.contains("pgrx"),
            "{} uses pgrx: the model is plain Rust",
            file.display()
        );
    }
}

#[test]
fn no_import_cycles() {
    let g = graph();
    // Resolve references to known modules (a reference to `layer::item` that is not a
    // module of its own, e.g. a re-export, counts as the layer's `mod.rs`).
    let resolve = |r: &Vec<String>| -> Option<Vec<String>> {
        if g.contains_key(r) {
            Some(r.clone())
        } else if r.len() > 1 && g.contains_key(&r[..1]) {
            Some(r[..1].to_vec())
        } else {
            None
        }
    };
    let edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = g
        .iter()
        .map(|(m, refs)| {
            let to = refs.iter().filter_map(resolve).filter(|t| t != m).collect();
            (m.clone(), to)
        })
        .collect();
    // Depth-first search for a back edge.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark: BTreeMap<&Vec<String>, Mark> = edges.keys().map(|k| (k, Mark::New)).collect();
    fn visit<'a>(
        m: &'a Vec<String>,
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        mark: &mut BTreeMap<&'a Vec<String>, Mark>,
        path: &mut Vec<&'a Vec<String>>,
    ) -> Option<String> {
        mark.insert(m, Mark::Open);
        path.push(m);
        for t in &edges[m] {
            match mark[t] {
                Mark::Open => {
                    let start = path.iter().position(|p| *p == t).unwrap();
                    let cycle: Vec<String> = path[start..]
                        .iter()
                        .chain([&t])
                        .map(|p| p.join("::"))
                        .collect();
                    return Some(cycle.join(" -> "));
                }
                Mark::New => {
                    if let Some(c) = visit(t, edges, mark, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        mark.insert(m, Mark::Done);
        None
    }
    for m in edges.keys() {
        if mark[m] == Mark::New {
            if let Some(cycle) = visit(m, &edges, &mut mark, &mut Vec::new()) {
                panic!("an import cycle: {cycle}");
            }
        }
    }
}
