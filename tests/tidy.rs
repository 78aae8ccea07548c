//! Tidy checks on the source tree, in the style of rust-analyzer's: rules
//! about the code's shape that a compiler does not enforce.
//!
//! - **One direction through the binary.** Dependencies run `cli → server →
//!   leaves` (`pb`, `wire`, `labels`, `telemetry`): nothing under `src/server/`
//!   imports `src/cli/`, a leaf imports neither half, and no two modules of
//!   `src/` import each other, directly or round a longer cycle.
//! - **No giant functions.** No function in `src/` or in a crate's `src/`
//!   or `benches/` is longer than [`MAX_FN_LINES`], except the flat tables
//!   listed in [`LONG_FN_ALLOWED`] with the reason each may stay.
//!
//! What counts as an import: every `crate::`, `super::` and `self::` path in
//! a file's code (in `use` items, `pub use` re-exports and inline paths),
//! resolved to the file of the longest module prefix it names. `mod x;`
//! declarations are not imports: a parent declares its children. So a child
//! that imports through its parent's re-exports closes a cycle; it imports
//! from the module that defines the item instead. A file's own
//! `#[cfg(test)]` module is not read.
//!
//! Each rule is also run on a small tree made for the purpose that breaks
//! it, so a checker that stopped finding anything would fail here.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Longest function body, in lines from the signature to the closing brace.
const MAX_FN_LINES: usize = 200;

/// Functions allowed past [`MAX_FN_LINES`]: (file, function, why).
const LONG_FN_ALLOWED: &[(&str, &str, &str)] = &[
    (
        "crates/domain/src/complaint/state.rs",
        "evolve",
        "a flat match with one short arm per event: it reads as a table",
    ),
    (
        "crates/projections/src/row.rs",
        "apply",
        "a flat match with one short arm per event: it reads as a table",
    ),
];

/// The directories of the binary's two halves, relative to `src/`.
const SERVER: &str = "server";
const CLI: &str = "cli";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_binary_has_one_direction_and_no_import_cycles() {
    let problems = check_modules(&root().join("src"));
    assert!(
        problems.is_empty(),
        "module rules broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_function_is_longer_than_the_limit() {
    let root = root();
    let mut dirs = vec![root.join("src")];
    for krate in fs::read_dir(root.join("crates")).expect("crates/") {
        let krate = krate.expect("a crate directory").path();
        dirs.extend([krate.join("src"), krate.join("benches")]);
    }
    let mut problems = Vec::new();
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        problems.extend(check_function_lengths(&root, dir, LONG_FN_ALLOWED));
    }
    assert!(
        problems.is_empty(),
        "functions over {MAX_FN_LINES} lines (split them into named steps):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checks_find_a_cycle_a_wrong_direction_and_a_long_function() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let src = dir.path().join("src");
    let write = |path: &str, text: &str| {
        let path = src.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod cli;\npub mod server;\npub mod wire;\n");
    write("wire.rs", "pub const H: &str = \"h\";\n");
    write("server/mod.rs", "pub mod a;\npub mod b;\npub use a::A;\n");
    write(
        "server/a.rs",
        "use crate::server::b::B;\n\npub struct A(B);\n",
    );
    write(
        "server/b.rs",
        "use super::{a::A, c};\n\npub struct B;\nfn f(_: A) { crate::cli::run(); }\n",
    );
    write("cli/mod.rs", "pub fn run() { let _ = crate::wire::H; }\n");
    let problems = check_modules(&src);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("cycle") && p.contains("server/a.rs") && p.contains("server/b.rs")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("server/b.rs imports cli/mod.rs")),
        "{problems:?}"
    );

    let body = "    let x = 1;\n".repeat(MAX_FN_LINES);
    write(
        "long.rs",
        &format!("pub fn long() {{\n{body}}}\n\nfn short() -> &'static str {{\n    \"}}\"\n}}\n"),
    );
    let long = check_function_lengths(dir.path(), &src, &[]);
    assert_eq!(long.len(), 1, "{long:?}");
    assert!(long[0].contains("long.rs:1 long"), "{long:?}");
    let allowed = check_function_lengths(dir.path(), &src, &[("src/long.rs", "long", "a table")]);
    assert!(allowed.is_empty(), "{allowed:?}");
}

/// The module rules over the tree at `src`; one line per problem.
fn check_modules(src: &Path) -> Vec<String> {
    let files = rust_files(src);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "main.rs"))
        .map(|f| (module_path(src, f), f.clone()))
        .collect();
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (path, file) in &modules {
        let text = code_of(&fs::read_to_string(file).expect("a source file"));
        for import in imports(&text) {
            let Some(target) = resolve(&import, path, &modules) else {
                continue;
            };
            if &target != file {
                edges.entry(file.clone()).or_default().insert(target);
            }
        }
    }
    let name = |f: &Path| f.strip_prefix(src).unwrap_or(f).display().to_string();
    let mut problems = Vec::new();
    for (from, targets) in &edges {
        let from_name = name(from);
        for to in targets {
            let to_name = name(to);
            let wrong = (from_name.starts_with(&format!("{SERVER}/"))
                && to_name.starts_with(&format!("{CLI}/")))
                || (is_leaf(&from_name)
                    && (to_name.starts_with(&format!("{SERVER}/"))
                        || to_name.starts_with(&format!("{CLI}/"))));
            if wrong {
                problems.push(format!("{from_name} imports {to_name}"));
            }
        }
    }
    for cycle in cycles(&edges) {
        let names: Vec<String> = cycle.iter().map(|f| name(f)).collect();
        problems.push(format!("import cycle: {}", names.join(" → ")));
    }
    problems
}

/// A leaf module: a single file directly under `src/` other than the crate
/// roots.
fn is_leaf(name: &str) -> bool {
    !name.contains('/') && name != "lib.rs" && name != "main.rs"
}

/// Every `.rs` file below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The module path of a file: `src/server/mod.rs` → `[server]`,
/// `src/server/app.rs` → `[server, app]`, `src/lib.rs` → `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("a file below src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    match last.as_str() {
        "mod.rs" | "lib.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_owned()),
    }
    parts
}

/// The code of a file: comments, string and character literals blanked
/// (line breaks kept), and its `#[cfg(test)]` module cut off.
fn code_of(text: &str) -> String {
    let text = match text.find("\n#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    // Copies the line breaks of `chars[from..to]`, drops the rest.
    let blank = |out: &mut String, from: usize, to: usize| {
        out.extend(
            chars[from..to.min(chars.len())]
                .iter()
                .filter(|&&c| c == '\n'),
        );
    };
    while i < chars.len() {
        let rest = &chars[i..];
        let end = match rest {
            ['/', '/', ..] => i + rest.iter().position(|&c| c == '\n').unwrap_or(rest.len()),
            ['/', '*', ..] => {
                i + 2 + find_seq(&rest[2..], &['*', '/']).map_or(rest.len() - 2, |at| at + 2)
            }
            ['r', after @ ..] if is_raw_string(after) && !ident_before(&chars, i) => {
                let hashes = after.iter().take_while(|&&c| c == '#').count();
                let mut closing = vec!['"'];
                closing.extend(std::iter::repeat_n('#', hashes));
                let body = 1 + hashes + 1;
                i + body
                    + find_seq(&rest[body..], &closing)
                        .map_or(rest.len() - body, |at| at + closing.len())
            }
            ['"', ..] => {
                let mut at = 1;
                while at < rest.len() && rest[at] != '"' {
                    at += if rest[at] == '\\' { 2 } else { 1 };
                }
                i + at + 1
            }
            ['\'', '\\', _, ..] => {
                i + 3
                    + rest[3..]
                        .iter()
                        .position(|&c| c == '\'')
                        .map_or(0, |at| at + 1)
            }
            ['\'', _, '\'', ..] => i + 3,
            [c, ..] => {
                out.push(*c);
                i += 1;
                continue;
            }
            [] => break,
        };
        blank(&mut out, i, end);
        out.push(' ');
        i = end;
    }
    out
}

/// Whether `after` (what follows an `r`) opens a raw string: `#`s, then `"`.
fn is_raw_string(after: &[char]) -> bool {
    let hashes = after.iter().take_while(|&&c| c == '#').count();
    after.get(hashes) == Some(&'"')
}

/// Whether the character before `at` continues an identifier.
fn ident_before(chars: &[char], at: usize) -> bool {
    at > 0 && (chars[at - 1].is_alphanumeric() || chars[at - 1] == '_')
}

/// Where `needle` first starts in `hay`.
fn find_seq(hay: &[char], needle: &[char]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Every `crate::`/`super::`/`self::` path in `code`, `use` trees expanded
/// into whole paths, as segment lists starting with the keyword.
fn imports(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    // `use` items (also `pub use`, `pub(crate) use`): expand their trees.
    while let Some(at) = find_use(rest) {
        let after = &rest[at..];
        let end = after.find(';').unwrap_or(after.len());
        let tree: String = after[..end]
            .trim_start_matches("use")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for path in expand(&tree) {
            let segments: Vec<String> = path.split("::").map(str::to_owned).collect();
            if matches!(segments[0].as_str(), "crate" | "super" | "self") {
                out.push(segments);
            }
        }
        rest = &after[end..];
    }
    // Inline paths such as `crate::server::watcher::spawn(…)`.
    for (at, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let preceded = code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if preceded {
            continue;
        }
        let path: String = code[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let segments: Vec<String> = path
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        out.push(segments);
    }
    out
}

/// The byte offset of the next `use` item keyword in `code`.
fn find_use(code: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = code[from..].find("use ") {
        let at = from + found;
        let before = code[..at].chars().next_back();
        if before.is_none_or(|c| c.is_whitespace() || c == ')' || c == '{' || c == ';') {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e` (whitespace removed;
/// `self` in a group names the group's own path; `as` renames dropped).
fn expand(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        let path = tree.split("as").next().unwrap_or(tree);
        return vec![path.trim_end_matches("::").to_owned()];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(expand)
        .map(|p| match p.as_str() {
            "self" => prefix.to_owned(),
            _ if prefix.is_empty() => p,
            _ => format!("{prefix}::{p}"),
        })
        .collect()
}

/// The file of the longest module prefix `import` names, seen from the
/// module at `from`.
fn resolve(
    import: &[String],
    from: &[String],
    modules: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<PathBuf> {
    let mut base: Vec<String> = match import[0].as_str() {
        "crate" => Vec::new(),
        "self" => from.to_vec(),
        // `super` of `a/b.rs` and of `a/b/mod.rs` is `a`.
        "super" => from[..from.len().saturating_sub(1)].to_vec(),
        _ => return None,
    };
    let mut rest = &import[1..];
    while rest.first().is_some_and(|s| s == "super") {
        base.pop();
        rest = &rest[1..];
    }
    let mut best = None;
    let mut path = base.clone();
    if modules.contains_key(&path) {
        best = modules.get(&path).cloned();
    }
    for segment in rest {
        path.push(segment.clone());
        match modules.get(&path) {
            Some(file) => best = Some(file.clone()),
            None => break,
        }
    }
    best
}

/// The import cycles of `edges`, each as the files round it (one cycle per
/// strongly connected component is enough to name the problem).
fn cycles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut done: BTreeSet<PathBuf> = BTreeSet::new();
    for start in edges.keys() {
        if done.contains(start) {
            continue;
        }
        // Depth-first search from `start` with an explicit stack, looking
        // for a path back to a file on the current path.
        let mut path: Vec<PathBuf> = vec![start.clone()];
        let mut iters: Vec<Vec<PathBuf>> = vec![next_of(edges, start)];
        let mut on_path: BTreeSet<PathBuf> = BTreeSet::from([start.clone()]);
        while let Some(next) = iters.last_mut() {
            match next.pop() {
                Some(node) if on_path.contains(&node) => {
                    let at = path.iter().position(|p| p == &node).unwrap_or(0);
                    let mut cycle = path[at..].to_vec();
                    cycle.push(node);
                    found.push(cycle);
                }
                Some(node) if !done.contains(&node) => {
                    iters.push(next_of(edges, &node));
                    on_path.insert(node.clone());
                    path.push(node);
                }
                Some(_) => {}
                None => {
                    iters.pop();
                    if let Some(node) = path.pop() {
                        on_path.remove(&node);
                        done.insert(node);
                    }
                }
            }
        }
    }
    found
}

fn next_of(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>, node: &Path) -> Vec<PathBuf> {
    edges
        .get(node)
        .map(|t| t.iter().rev().cloned().collect())
        .unwrap_or_default()
}

/// Functions longer than [`MAX_FN_LINES`] in the files below `dir` (test
/// files and `tests/` directories excepted), named relative to `root`.
///
/// The source is rustfmt-formatted (CI checks it), so a function's body
/// ends at the first line that is a `}` at the signature's indentation.
fn check_function_lengths(root: &Path, dir: &Path, allowed: &[(&str, &str, &str)]) -> Vec<String> {
    let mut problems = Vec::new();
    for file in rust_files(dir) {
        let relative = file.strip_prefix(root).unwrap_or(&file);
        let is_test = relative.iter().any(|p| p == "tests") || file.ends_with("tests.rs");
        if is_test {
            continue;
        }
        let text = fs::read_to_string(&file).expect("a source file");
        let lines: Vec<&str> = text.lines().collect();
        for (start, line) in lines.iter().enumerate() {
            let Some((indent, name)) = fn_signature(line) else {
                continue;
            };
            let Some(open) = (start..lines.len()).find(|&i| {
                let l = lines[i].trim_end();
                l.ends_with('{') || l.ends_with(';') || l.ends_with('}')
            }) else {
                continue;
            };
            let opening = lines[open].trim_end();
            if !opening.ends_with('{') {
                continue;
            }
            let closing = format!("{indent}}}");
            let Some(end) = (open + 1..lines.len()).find(|&i| lines[i] == closing) else {
                continue;
            };
            let length = end - start + 1;
            let exempt = allowed
                .iter()
                .any(|(f, n, _)| relative.ends_with(f) && *n == name);
            if length > MAX_FN_LINES && !exempt {
                problems.push(format!(
                    "{}:{} {name} ({length} lines)",
                    relative.display(),
                    start + 1
                ));
            }
        }
    }
    problems
}

/// The indentation and name of a line that starts a function.
fn fn_signature(line: &str) -> Option<(&str, &str)> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let mut words = trimmed.split_whitespace().peekable();
    while let Some(word) = words.next() {
        match word {
            "pub" | "async" | "const" | "unsafe" | "extern" => {}
            w if w.starts_with("pub(") => {}
            "fn" => {
                let name = words.next()?;
                let name = &name[..name.find(['(', '<']).unwrap_or(name.len())];
                return Some((indent, name));
            }
            _ => return None,
        }
    }
    None
}
