//! `cargo xtask docs [--check]`: `docs/user-guide.md` regenerated from the
//! real `kage`.
//!
//! It builds `kage` (debug: the output is the same), replays the guide's
//! scenarios with `crates/kage-cli/scripts/user-guide-session.sh` and fills
//! the `{B0}`, `{B1}`, … placeholders of `user-guide.template.md` with the
//! session's blocks. With `--check` (a step of `cargo xtask ci`) it writes
//! nothing and fails when the committed guide differs from the fresh one;
//! ids and times, which change from run to run, are masked first.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::shell;

const SCRIPT: &str = "crates/kage-cli/scripts/user-guide-session.sh";
const TEMPLATE: &str = "crates/kage-cli/scripts/user-guide.template.md";
const GUIDE: &str = "docs/user-guide.md";

/// Regenerate the guide, or with `check` compare it with the committed one.
pub(crate) fn run(check: bool) -> Result<()> {
    let fresh = generate()?;
    let path = shell::root().join(GUIDE);
    if check {
        let committed = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        if let Some(difference) = first_difference(&mask(&committed), &mask(&fresh)) {
            bail!("{GUIDE} is out of date ({difference}); run `cargo xtask docs` and commit it");
        }
        eprintln!("{GUIDE} is up to date");
        return Ok(());
    }
    std::fs::write(&path, fresh).with_context(|| format!("could not write {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Build `kage`, replay the session, fill the template.
fn generate() -> Result<String> {
    shell::run(shell::cargo().args(["build", "--quiet", "-p", "kage-cli", "--bin", "kage"]))?;
    let kage: PathBuf = shell::target_dir().join("debug").join("kage");
    let root = shell::root();
    let session = shell::output(
        Command::new("bash")
            .arg(root.join(SCRIPT))
            .env("KAGE_BIN", &kage)
            .current_dir(&root),
    )?;
    let template = std::fs::read_to_string(root.join(TEMPLATE))
        .with_context(|| format!("could not read {TEMPLATE}"))?;
    fill(&template, &session)
}

/// The session's blocks: each starts at a `$ ` line; a `## ` line ends one.
fn blocks(session: &str) -> Vec<Vec<&str>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in session.split('\n') {
        if line.starts_with("$ ") {
            blocks.extend(current.replace(vec![line]));
        } else if line.starts_with("## ") {
            blocks.extend(current.take());
        } else if let Some(block) = current.as_mut() {
            block.push(line);
        }
    }
    blocks.extend(current);
    blocks
}

/// The template with `{Bn}` replaced by the n-th block as a console code block.
fn fill(template: &str, session: &str) -> Result<String> {
    let mut text = template.to_owned();
    for (index, block) in blocks(session).iter().enumerate() {
        let body = block.join("\n");
        let code = format!("```console\n{}\n```", body.trim_end_matches('\n'));
        text = text.replace(&format!("{{B{index}}}"), &code);
    }
    if text.contains("{B") {
        bail!("{TEMPLATE} has more placeholders than the session has blocks");
    }
    Ok(text)
}

/// What changes from run to run replaced by placeholders: ids (UUIDs), RFC
/// 3339 times, and the host and pid of lease holders (`kage-lease@vm:2802`).
fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if let Some(length) = uuid_at(&bytes[index..]) {
            out.push_str("<id>");
            index += length;
        } else if let Some(length) = time_at(&bytes[index..]) {
            out.push_str("<time>");
            index += length;
        } else if let Some(length) = host_and_pid_at(&bytes[index..]) {
            out.push_str("@<host>:<pid>");
            index += length;
        } else {
            let character = text[index..].chars().next().unwrap_or(' ');
            out.push(character);
            index += character.len_utf8();
        }
    }
    out
}

/// Whether `bytes` fit `pattern` at the start: `h` a hex digit, `d` a
/// decimal digit, any other byte itself.
fn fits(bytes: &[u8], pattern: &str) -> bool {
    bytes.len() >= pattern.len()
        && pattern.bytes().zip(bytes).all(|(want, have)| match want {
            b'h' => have.is_ascii_hexdigit(),
            b'd' => have.is_ascii_digit(),
            other => other == *have,
        })
}

fn uuid_at(bytes: &[u8]) -> Option<usize> {
    const UUID: &str = "hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh";
    fits(bytes, UUID).then_some(UUID.len())
}

/// `2025-06-02T09:30:00`, with any fraction and offset or `Z`.
fn time_at(bytes: &[u8]) -> Option<usize> {
    const TIME: &str = "dddd-dd-ddTdd:dd:dd";
    if !fits(bytes, TIME) {
        return None;
    }
    let rest = &bytes[TIME.len()..];
    let fraction = if rest.first() == Some(&b'.') {
        1 + rest[1..].iter().take_while(|b| b.is_ascii_digit()).count()
    } else {
        0
    };
    let rest = &rest[fraction..];
    let zone = if rest.first() == Some(&b'Z') {
        1
    } else if fits(rest, "+dd:dd") || fits(rest, "-dd:dd") {
        6
    } else {
        0
    };
    Some(TIME.len() + fraction + zone)
}

/// `@HOST:PID`: a holder's host and process id.
fn host_and_pid_at(bytes: &[u8]) -> Option<usize> {
    let rest = bytes.strip_prefix(b"@")?;
    let host = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        .count();
    let rest = rest.get(host..)?.strip_prefix(b":")?;
    let pid = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    (host > 0 && pid > 0).then_some(1 + host + 1 + pid)
}

/// `line N: committed … / fresh …` for the first line that differs.
fn first_difference(committed: &str, fresh: &str) -> Option<String> {
    let mut committed_lines = committed.lines();
    let mut fresh_lines = fresh.lines();
    for number in 1.. {
        match (committed_lines.next(), fresh_lines.next()) {
            (None, None) => return None,
            (left, right) if left == right => {}
            (left, right) => {
                return Some(format!(
                    "line {number}: committed {:?}, fresh {:?}",
                    left.unwrap_or("<end>"),
                    right.unwrap_or("<end>")
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = "## Adding\n$ kage a\nadded\n\n$ kage b\nlisted\n## Routing\n$ kage c\n";

    #[test]
    fn blocks_start_at_commands_and_end_at_headings() {
        assert_eq!(
            blocks(SESSION),
            vec![
                vec!["$ kage a", "added", ""],
                vec!["$ kage b", "listed"],
                vec!["$ kage c", ""]
            ]
        );
    }

    #[test]
    fn the_template_gets_every_block() {
        let text = fill("a\n{B0}\nb {B1}\n{B2}", SESSION).unwrap();
        assert_eq!(
            text,
            "a\n```console\n$ kage a\nadded\n```\nb ```console\n$ kage b\nlisted\n```\n```console\n$ kage c\n```"
        );
        assert!(fill("{B0} {B3}", SESSION).is_err());
    }

    #[test]
    fn ids_and_times_are_masked() {
        let text = "lease 1b4e28ba-2fa1-11d2-883f-0016d3cca427 at 2025-06-02T09:30:00.123Z, 2025-06-02T09:30:00+02:00 · 2025-06-02";
        assert_eq!(mask(text), "lease <id> at <time>, <time> · 2025-06-02");
        assert_eq!(
            mask(r#""holder":"kage-lease@build-7.local:28023","#),
            r#""holder":"kage-lease@<host>:<pid>","#
        );
        assert_eq!(mask("a@b c: 09:30"), "a@b c: 09:30");
    }

    #[test]
    fn a_changed_line_is_a_difference_and_a_masked_one_is_not() {
        assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
        let difference = first_difference("a\nb\n", "a\nc\n").unwrap();
        assert!(difference.starts_with("line 2:"), "{difference}");
        assert!(first_difference("a\n", "a\nb\n").is_some());
        let committed = mask("id 1b4e28ba-2fa1-11d2-883f-0016d3cca427\n");
        let fresh = mask("id 9f0e28ba-2fa1-11d2-883f-0016d3cca400\n");
        assert_eq!(first_difference(&committed, &fresh), None);
    }
}
