//! Where Claude Code keeps its transcripts.

use std::path::{Path, PathBuf};

/// `$CLAUDE_CONFIG_DIR` (else `~/.claude`) `/projects/<cwd, every character
/// other than a letter or digit turned into '-'>`.
pub fn project_folder(config_dir: &Path, cwd: &Path) -> PathBuf {
    let encoded: String = cwd
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    config_dir.join("projects").join(encoded)
}

/// Claude Code's config folder for a process with this environment:
/// `$CLAUDE_CONFIG_DIR`, else `$HOME/.claude`.
pub fn config_dir(lookup: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(dir) = lookup("CLAUDE_CONFIG_DIR").filter(|dir| !dir.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    lookup("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| Path::new(&home).join(".claude"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_folder_encodes_the_working_directory() {
        let folder = project_folder(
            Path::new("/home/user/.claude"),
            Path::new("/home/user/my.project_x"),
        );
        assert_eq!(
            folder,
            Path::new("/home/user/.claude/projects/-home-user-my-project-x")
        );
        let lookup = |name: &str| match name {
            "HOME" => Some("/home/user".to_owned()),
            _ => None,
        };
        assert_eq!(
            config_dir(lookup),
            Some(PathBuf::from("/home/user/.claude"))
        );
        let with_dir = |name: &str| match name {
            "CLAUDE_CONFIG_DIR" => Some("/cfg".to_owned()),
            "HOME" => Some("/home/user".to_owned()),
            _ => None,
        };
        assert_eq!(config_dir(with_dir), Some(PathBuf::from("/cfg")));
        assert_eq!(config_dir(|_| None), None);
    }
}
