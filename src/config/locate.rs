//! Config errors that say where: file, line, column and key, for TOML syntax
//! and type errors and for checks of a key's value.
//!
//! Owns: `ConfigError` and finding a key's line. Must not know any section.

/// A config that cannot be used: where, and what is wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{source_name}:{line}:{column}: {key}{message}")]
    Invalid { source_name: String, line: usize, column: usize, key: String, message: String },
    #[error("no built-in profile `{0}` (built-in: {1})")]
    UnknownProfile(String, String),
    #[error("{0}")]
    Usage(String),
}

pub(super) fn toml_error(name: &str, text: &str, key: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
    // Syntax errors carry no key path: name the text the error points at.
    let at = e.span().and_then(|s| text.get(s)).map(str::trim).filter(|t| !t.is_empty() && t.len() <= 60 && !t.contains('\n'));
    let key = match (key.is_empty(), at) {
        (false, _) => format!("{key}: "),
        (true, Some(t)) => format!("`{t}`: "),
        (true, None) => String::new(),
    };
    ConfigError::Invalid { source_name: name.to_string(), line, column, key, message: with_hint(e.message().trim()) }
}

/// serde's address errors say what failed, not what would work.
fn with_hint(msg: &str) -> String {
    if msg.contains("invalid socket address syntax") {
        format!("{msg} (expected IP:PORT, e.g. 127.0.0.1:10350 or [::1]:10350)")
    } else {
        msg.to_string()
    }
}

/// An error about `section.key`, located at the line where the key is set
/// (or line 1 if the file does not set it).
pub(super) fn invalid_at(name: &str, text: &str, section: &str, key: &str, message: String) -> ConfigError {
    let (line, column) = find_key(text, section, key).unwrap_or((1, 1));
    let full = if section.is_empty() { key.to_string() } else { format!("{section}.{key}") };
    ConfigError::Invalid { source_name: name.to_string(), line, column, key: format!("{full}: "), message }
}

fn find_key(text: &str, section: &str, key: &str) -> Option<(usize, usize)> {
    let mut current = String::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('[') {
            current = header(l).to_string();
            continue;
        }
        let dotted = format!("{section}.{key}");
        let hit = |k: &str| l.strip_prefix(k).map(|r| r.trim_start().starts_with('=')).unwrap_or(false);
        if (current == section && hit(key)) || (current.is_empty() && !section.is_empty() && hit(&dotted)) {
            return Some((i + 1, raw.len() - raw.trim_start().len() + 1));
        }
    }
    None
}

/// The dotted key whose line holds byte `offset` of a file that parsed
/// (`section.key`, or the section's name on a `[section]` line), as toml's
/// spans point at a key or its value; a line without `=` continues the
/// value of the key above it (an array over several lines).
pub(super) fn key_at(text: &str, offset: usize) -> String {
    let end = text.get(offset..).and_then(|r| r.find('\n')).map_or(text.len(), |i| offset + i);
    let mut section = "";
    let mut key = String::new();
    for raw in text.get(..end).unwrap_or(text).lines() {
        let l = raw.trim();
        // Comments, and lines that go on with an array: `"a=b",`, `{ x = 1 },`.
        let continues = !l.starts_with(|c: char| c == '[' || c.is_ascii_alphanumeric() || c == '_' || c == '-') || !l.contains(['=', '[']);
        if l.is_empty() || continues {
            continue;
        }
        key.clear();
        if l.starts_with('[') {
            section = header(l);
            key.push_str(section);
        } else if let Some((k, _)) = l.split_once('=') {
            let k = k.trim();
            if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
                if !section.is_empty() {
                    key.push_str(section);
                    key.push('.');
                }
                key.push_str(k);
            }
        }
    }
    key
}

/// The table a `[table]` or `[[table]]` line opens (a comment may follow).
fn header(line: &str) -> &str {
    let inner = line.trim_start_matches('[');
    inner.split(']').next().unwrap_or(inner).trim()
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}
