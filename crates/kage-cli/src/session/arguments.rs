//! Claude Code's command line as `kage claude` passes it on: whether the
//! user gave settings of their own, and the arguments of the restart after
//! a failover (`--resume SESSION_ID`, the user's other options, and the
//! interrupted prompt in place of the first one).
//!
//! Claude Code parses its options with commander: a value option takes the
//! next argument, a variadic one (`--add-dir a b`) takes every argument up
//! to the next option, an optional-value one (`--resume [id]`) takes the
//! next argument unless it starts with `-`. Everything else is the prompt.

use std::ffi::{OsStr, OsString};

/// Options that take one value.
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
    "--plugin-dir",
    "--file",
];

/// Options whose value is optional.
const OPTIONAL_VALUE_OPTIONS: &[&str] = &["--resume", "-r", "--debug", "-d"];

/// Options a restart drops: they pick the session, which the restart names.
const SESSION_OPTIONS: &[&str] = &[
    "--resume",
    "-r",
    "--continue",
    "-c",
    "--session-id",
    "--fork-session",
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
}
