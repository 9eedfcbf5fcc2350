//! Claude Code's command line as `kage claude` passes it on: whether the
//! user gave settings of their own, and the arguments of the restart after
//! a failover (`--resume SESSION_ID`, the user's other options, and the
//! interrupted prompt in place of the first one), and which session the
//! arguments pick (Kage names one when they pick none).
//!
//! Claude Code parses its options with commander: a value option takes the
//! next argument, a variadic one (`--add-dir a b`) takes every argument up
//! to the next option, an optional-value one (`--resume [id]`) takes the
//! next argument unless it starts with `-`. Everything else is the prompt.

use std::ffi::{OsStr, OsString};

/// Options that take one value (repeatable ones like `--plugin-dir A
/// --plugin-dir B` too). These lists follow the pinned Claude Code's
/// `--help` (`tests/fixtures/claude-help-2.1.197.txt`; a test checks them
/// against it, and the end-to-end tests check the fixture against the
/// pinned binary).
const VALUE_OPTIONS: &[&str] = &[
    "--model",
    "--settings",
    "--session-id",
    "--permission-mode",
    "--append-system-prompt",
    "--append-system-prompt-file",
    "--system-prompt",
    "--system-prompt-file",
    "--fallback-model",
    "--output-format",
    "--input-format",
    "--max-turns",
    "--max-budget-usd",
    "--agents",
    "--agent",
    "--setting-sources",
    "--permission-prompt-tool",
    "--json-schema",
    "--resume-session-at",
    "--debug-file",
    "--effort",
    "--name",
    "-n",
    "--plugin-dir",
    "--plugin-url",
    "--remote-control-session-name-prefix",
];

/// Options that take every argument up to the next option.
const VARIADIC_OPTIONS: &[&str] = &[
    "--add-dir",
    "--allowedTools",
    "--allowed-tools",
    "--disallowedTools",
    "--disallowed-tools",
    "--tools",
    "--mcp-config",
    "--betas",
    "--file",
];

/// Options whose value is optional.
const OPTIONAL_VALUE_OPTIONS: &[&str] = &[
    "--resume",
    "-r",
    "--from-pr",
    "--debug",
    "-d",
    "--prompt-suggestions",
    "--remote-control",
    "--worktree",
    "-w",
];

/// Options that pick the session; a restart drops them and names it.
const SESSION_OPTIONS: &[&str] = &[
    "--resume",
    "-r",
    "--continue",
    "-c",
    "--session-id",
    "--fork-session",
    "--from-pr",
];

/// One parsed argument: an option with its values, or a prompt word.
enum Part<'a> {
    Option { name: &'a str, all: &'a [OsString] },
    Prompt,
}

fn option_name(argument: &OsStr) -> Option<&str> {
    let text = argument.to_str()?;
    if text.starts_with('-') && text != "-" {
        Some(text.split_once('=').map_or(text, |(name, _)| name))
    } else {
        None
    }
}

fn parts(arguments: &[OsString]) -> Vec<(Part<'_>, usize)> {
    let mut parts = Vec::new();
    let mut index = 0;
    while index < arguments.len() {
        let start = index;
        let argument = &arguments[index];
        index += 1;
        if argument == "--" {
            parts.push((
                Part::Option {
                    name: "--",
                    all: &arguments[start..=start],
                },
                start,
            ));
            while index < arguments.len() {
                parts.push((Part::Prompt, index));
                index += 1;
            }
            break;
        }
        let Some(name) = option_name(argument) else {
            parts.push((Part::Prompt, start));
            continue;
        };
        let inline_value = argument.to_str().is_some_and(|text| text.contains('='));
        let is_value = |argument: &OsString| option_name(argument).is_none();
        if !inline_value {
            if VALUE_OPTIONS.contains(&name) {
                index = (index + 1).min(arguments.len());
            } else if VARIADIC_OPTIONS.contains(&name) {
                while index < arguments.len() && is_value(&arguments[index]) {
                    index += 1;
                }
            } else if OPTIONAL_VALUE_OPTIONS.contains(&name)
                && index < arguments.len()
                && is_value(&arguments[index])
            {
                index += 1;
            }
        }
        parts.push((
            Part::Option {
                name,
                all: &arguments[start..index],
            },
            start,
        ));
    }
    parts
}

/// Whether the user passed `--settings` (then Kage adds none of its own:
/// Claude Code takes one).
pub(crate) fn has_settings(arguments: &[OsString]) -> bool {
    parts(arguments).iter().any(|(part, _)| {
        matches!(
            part,
            Part::Option {
                name: "--settings",
                ..
            }
        )
    })
}

/// An option's value: `--name=X`, or the argument after `--name`.
fn value_of(all: &[OsString]) -> Option<String> {
    let first = all.first()?.to_str()?;
    match first.split_once('=') {
        Some((_, value)) => Some(value.to_owned()),
        None => all.get(1)?.to_str().map(str::to_owned),
    }
}

/// The model the user gave Claude Code (`--model X` or `--model=X`), if any.
pub(crate) fn model(arguments: &[OsString]) -> Option<String> {
    parts(arguments).iter().find_map(|(part, _)| match part {
        Part::Option {
            name: "--model",
            all,
        } => value_of(all),
        _ => None,
    })
}

/// Whether an option picks the session Claude Code writes to (`--resume`,
/// `--continue`, `--session-id`, `--fork-session`, `--from-pr`); when none
/// does, Kage names a new one with `--session-id`.
pub(crate) fn picks_session(arguments: &[OsString]) -> bool {
    parts(arguments).iter().any(
        |(part, _)| matches!(part, Part::Option { name, .. } if SESSION_OPTIONS.contains(name)),
    )
}

/// The sessions the arguments name as the ones Claude Code writes to:
/// `--session-id X`, and `--resume X` unless `--fork-session` moves the
/// conversation to a new session (whose id only the status line tells).
pub(crate) fn named_sessions(arguments: &[OsString]) -> Vec<String> {
    let parts = parts(arguments);
    let forks = parts.iter().any(|(part, _)| {
        matches!(
            part,
            Part::Option {
                name: "--fork-session",
                ..
            }
        )
    });
    parts
        .iter()
        .filter_map(|(part, _)| match part {
            Part::Option {
                name: "--session-id",
                all,
            } => value_of(all),
            Part::Option {
                name: "--resume" | "-r",
                all,
            } if !forks => value_of(all),
            _ => None,
        })
        .collect()
}

/// The arguments of the restart: `--resume SESSION_ID`, the user's options
/// without those that pick a session, then `prompt` (the interrupted turn)
/// in place of the prompt of the first start.
pub(crate) fn resume_arguments(
    arguments: &[OsString],
    session_id: &str,
    prompt: Option<&str>,
) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec!["--resume".into(), session_id.into()];
    for (part, _) in parts(arguments) {
        match part {
            Part::Option { name: "--", .. } | Part::Prompt => {}
            Part::Option { name, all } => {
                if !SESSION_OPTIONS.contains(&name) {
                    out.extend(all.iter().cloned());
                }
            }
        }
    }
    if let Some(prompt) = prompt {
        out.push("--".into());
        out.push(prompt.into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `claude --help` of the pinned Claude Code (kage-tests checks that
    /// it is still what the pinned binary prints).
    const CLAUDE_HELP: &str = include_str!("../../tests/fixtures/claude-help-2.1.197.txt");

    /// How `--help` says an option takes its value.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Takes {
        Nothing,
        One,
        Many,
        Optional,
    }

    /// Every option of the help's option lines (two spaces, then a dash;
    /// wrapped descriptions are indented further) with what it takes.
    fn help_options() -> Vec<(String, Takes)> {
        let mut options = Vec::new();
        for line in CLAUDE_HELP.lines() {
            let Some(rest) = line.strip_prefix("  -") else {
                continue;
            };
            let head = format!("-{}", rest.split("  ").next().unwrap_or_default());
            let (names, takes) = match head.split_once(' ') {
                Some((names, value)) if names.ends_with(',') => {
                    // `-c, --continue`, `--a, --b <v>`: the value follows the last name.
                    let (last, value) = value.split_once(' ').unwrap_or((value, ""));
                    (format!("{names} {last}"), value.to_owned())
                }
                Some((names, value)) => (names.to_owned(), value.to_owned()),
                None => (head.clone(), String::new()),
            };
            let takes = if value_is(&takes, '<', "...>") {
                Takes::Many
            } else if value_is(&takes, '<', ">") {
                Takes::One
            } else if value_is(&takes, '[', "]") {
                Takes::Optional
            } else {
                Takes::Nothing
            };
            for name in names.split(", ") {
                options.push((name.to_owned(), takes));
            }
        }
        options
    }

    fn value_is(value: &str, open: char, close: &str) -> bool {
        value.starts_with(open) && value.ends_with(close)
    }

    fn classified(name: &str) -> Takes {
        if VALUE_OPTIONS.contains(&name) {
            Takes::One
        } else if VARIADIC_OPTIONS.contains(&name) {
            Takes::Many
        } else if OPTIONAL_VALUE_OPTIONS.contains(&name) {
            Takes::Optional
        } else {
            Takes::Nothing
        }
    }

    #[test]
    fn every_option_of_the_pinned_claude_is_parsed_as_its_help_says() {
        let options = help_options();
        assert!(
            options.len() > 50,
            "too few options read from the help: {options:?}"
        );
        for expected in [
            ("-n".to_owned(), Takes::One),
            ("--add-dir".to_owned(), Takes::Many),
            ("--resume".to_owned(), Takes::Optional),
            ("--continue".to_owned(), Takes::Nothing),
        ] {
            assert!(options.contains(&expected), "{expected:?} not read");
        }
        let wrong: Vec<String> = options
            .iter()
            .filter(|(name, takes)| classified(name) != *takes)
            .map(|(name, takes)| format!("{name}: help {takes:?}, kage {:?}", classified(name)))
            .collect();
        assert!(
            wrong.is_empty(),
            "options parsed unlike the help says: {wrong:#?}"
        );
    }

    #[test]
    fn a_name_and_a_repeated_plugin_dir_survive_the_restart() {
        let arguments = args(&[
            "-n",
            "my session",
            "--plugin-dir",
            "p1",
            "--plugin-dir",
            "p2",
            "fix the bug",
        ]);
        let restarted = resume_arguments(&arguments, "S", Some("again"));
        assert_eq!(
            strings(&restarted),
            [
                "--resume",
                "S",
                "-n",
                "my session",
                "--plugin-dir",
                "p1",
                "--plugin-dir",
                "p2",
                "--",
                "again"
            ]
        );
    }

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn strings(arguments: &[OsString]) -> Vec<String> {
        arguments
            .iter()
            .map(|argument| argument.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_restart_resumes_keeps_options_and_resends_the_prompt() {
        let user = args(&[
            "--model",
            "opus",
            "--add-dir",
            "a",
            "b",
            "--verbose",
            "first prompt",
        ]);
        assert_eq!(
            strings(&resume_arguments(&user, "S1", Some("say hi again"))),
            vec![
                "--resume",
                "S1",
                "--model",
                "opus",
                "--add-dir",
                "a",
                "b",
                "--verbose",
                "--",
                "say hi again"
            ]
        );
    }

    #[test]
    fn session_options_are_replaced() {
        let user = args(&[
            "-c",
            "--resume",
            "OLD",
            "--session-id=X",
            "-r",
            "--fork-session",
            "--permission-mode",
            "plan",
        ]);
        assert_eq!(
            strings(&resume_arguments(&user, "NEW", None)),
            vec!["--resume", "NEW", "--permission-mode", "plan"]
        );
        let dashed = args(&["--model=sonnet", "--", "-a prompt that starts with a dash"]);
        assert_eq!(
            strings(&resume_arguments(&dashed, "S", Some("-again"))),
            vec!["--resume", "S", "--model=sonnet", "--", "-again"]
        );
    }

    #[test]
    fn user_settings_are_seen() {
        assert!(has_settings(&args(&["--settings", "{}"])));
        assert!(has_settings(&args(&["--settings={}"])));
        assert!(!has_settings(&args(&["--", "--settings"])));
        assert!(!has_settings(&args(&["--system-prompt", "--settings"])));
    }

    #[test]
    fn the_sessions_the_arguments_pick() {
        for picked in [
            &["--resume", "R"][..],
            &["-r"],
            &["-c", "fix it"],
            &["--session-id=S"],
            &["--from-pr", "12"],
            &["--continue", "--fork-session"],
        ] {
            assert!(picks_session(&args(picked)), "{picked:?}");
        }
        for not_picked in [
            &["fix it"][..],
            &["--", "--resume", "R"],
            &["--model", "-c"],
        ] {
            assert!(!picks_session(&args(not_picked)), "{not_picked:?}");
            assert!(named_sessions(&args(not_picked)).is_empty());
        }
        assert_eq!(named_sessions(&args(&["--resume", "R", "go on"])), ["R"]);
        assert_eq!(named_sessions(&args(&["-r=R"])), ["R"]);
        assert_eq!(named_sessions(&args(&["--session-id", "S"])), ["S"]);
        // The picker and --continue name no session; a fork writes a new one.
        assert!(named_sessions(&args(&["--resume", "-c"])).is_empty());
        assert!(named_sessions(&args(&["--resume", "R", "--fork-session"])).is_empty());
        assert_eq!(
            named_sessions(&args(&["--fork-session", "-r", "R", "--session-id", "S"])),
            ["S"]
        );
    }

    #[test]
    fn the_model_is_read_either_way_and_not_from_the_prompt() {
        assert_eq!(
            model(&args(&["--verbose", "--model", "opus", "fix it"])).as_deref(),
            Some("opus")
        );
        assert_eq!(
            model(&args(&["--model=claude-sonnet-4-5"])).as_deref(),
            Some("claude-sonnet-4-5")
        );
        assert_eq!(model(&args(&["--", "--model", "opus"])), None);
        assert_eq!(model(&args(&["use --model opus"])), None);
        assert_eq!(model(&args(&["--fallback-model", "opus"])), None);
        assert_eq!(model(&args(&["--model"])), None);
    }
}
