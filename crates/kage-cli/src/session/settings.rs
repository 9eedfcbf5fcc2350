//! The status line `kage claude` installs for one session (through
//! `--settings '<json>'`, never in the user's files), and the user's own
//! status line that Kage's then runs and prefixes.
//!
//! Claude Code reads `statusLine` from its settings, most specific first:
//! the project's `.claude/settings.local.json`, then `.claude/settings.json`,
//! then the user's `$CLAUDE_CONFIG_DIR/settings.json` (`~/.claude/…`).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Set in the child: the user's status-line command, which `kage statusline`
/// runs and prefixes.
pub(crate) const USER_STATUSLINE_VARIABLE: &str = "KAGE_USER_STATUSLINE";

/// The settings files to look at, most specific first.
pub(crate) fn settings_files(project: &Path, config_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut files = vec![
        project.join(".claude").join("settings.local.json"),
        project.join(".claude").join("settings.json"),
    ];
    if let Some(dir) = config_dir {
        files.push(dir.join("settings.json"));
    }
    files
}

/// The user's status-line command from the first settings file that has
/// one. Unreadable or malformed files are skipped (Claude Code reports
/// those itself).
pub(crate) fn user_statusline(files: &[PathBuf]) -> Option<String> {
    files.iter().find_map(|file| {
        let text = std::fs::read_to_string(file).ok()?;
        statusline_command(&serde_json::from_str(&text).ok()?)
    })
}

fn statusline_command(settings: &Value) -> Option<String> {
    let line = settings.get("statusLine")?;
    if line
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("command")
        != "command"
    {
        return None;
    }
    let command = line.get("command")?.as_str()?.trim();
    (!command.is_empty()).then(|| command.to_owned())
}

/// `'text'` for a POSIX shell.
pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The `--settings` JSON that makes Claude Code run `kage statusline` (this
/// very binary) after each response, writing what it reads to `report`.
pub(crate) fn session_settings(kage: &Path, report: &Path) -> String {
    let command = format!(
        "{} statusline --report {}",
        shell_quote(&kage.to_string_lossy()),
        shell_quote(&report.to_string_lossy())
    );
    serde_json::json!({
        "statusLine": {"type": "command", "command": command, "padding": 0}
    })
    .to_string()
}

/// How to run a status-line command: its words when it needs no shell (no
/// quoting, expansion, redirection or pipes), else `None` (run it with
/// `sh -c`, as Claude Code does).
pub(crate) fn plain_words(command: &str) -> Option<Vec<String>> {
    const SHELL: &[char] = &[
        '|', '&', ';', '<', '>', '(', ')', '$', '`', '\\', '"', '\'', '*', '?', '[', ']', '#', '~',
        '=', '%', '{', '}', '\n', '!',
    ];
    if command.contains(SHELL) {
        return None;
    }
    let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
    (!words.is_empty()).then_some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_status_line_wins() {
        let dir = tempfile::tempdir().expect("temp dir");
        let project = dir.path().join("project");
        let config = dir.path().join("config");
        std::fs::create_dir_all(project.join(".claude")).expect("folders");
        std::fs::create_dir_all(&config).expect("folders");
        let files = settings_files(&project, Some(&config));
        assert_eq!(user_statusline(&files), None);

        std::fs::write(
            config.join("settings.json"),
            r#"{"statusLine":{"type":"command","command":"~/bin/line.sh"}}"#,
        )
        .expect("write");
        assert_eq!(user_statusline(&files).as_deref(), Some("~/bin/line.sh"));

        std::fs::write(project.join(".claude/settings.json"), "{ not json").expect("write");
        assert_eq!(user_statusline(&files).as_deref(), Some("~/bin/line.sh"));

        std::fs::write(
            project.join(".claude/settings.local.json"),
            r#"{"statusLine":{"command":"git-line --short"}}"#,
        )
        .expect("write");
        assert_eq!(user_statusline(&files).as_deref(), Some("git-line --short"));
    }

    #[test]
    fn the_session_settings_run_this_binary() {
        let json = session_settings(Path::new("/opt/it's/kage"), Path::new("/tmp/r.json"));
        let value: Value = serde_json::from_str(&json).expect("json");
        assert_eq!(
            value["statusLine"]["command"],
            r"'/opt/it'\''s/kage' statusline --report '/tmp/r.json'"
        );
        assert_eq!(value["statusLine"]["type"], "command");
    }

    #[test]
    fn plain_commands_run_without_a_shell() {
        assert_eq!(
            plain_words("/usr/bin/line --short"),
            Some(vec!["/usr/bin/line".to_owned(), "--short".to_owned()])
        );
        assert_eq!(plain_words("echo $HOME"), None);
        assert_eq!(plain_words("~/line.sh"), None);
        assert_eq!(plain_words("a | b"), None);
        assert_eq!(plain_words("   "), None);
    }
}
