//! Tasks: where they come from (`--task`, `--tasks FILE`) and the command
//! line each attempt runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use kage_domain::{Namespace, PriorityLevel, Tag};
use serde::Deserialize;

/// The placeholder in the agent command that becomes the prompt.
pub const PROMPT_PLACEHOLDER: &str = "{prompt}";

/// Claude Code in print mode with streaming JSON output.
pub const DEFAULT_COMMAND: [&str; 6] = [
    "claude",
    "-p",
    PROMPT_PLACEHOLDER,
    "--output-format",
    "stream-json",
    "--verbose",
];

/// One unit of work: a prompt for one agent.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Task {
    /// 1-based position in the run; names the output files.
    pub index: usize,
    /// `task-N` unless the tasks file gave one.
    pub id: String,
    pub prompt: String,
    pub namespace: Option<Namespace>,
    pub level: PriorityLevel,
    pub tags: Vec<Tag>,
    /// The model the agent uses (`claude-opus-4-5`, `opus`), when known:
    /// subscriptions at their limit for its family are passed over.
    pub model: Option<String>,
    /// Working directory of the agent; the current one when `None`. Every
    /// attempt of the task runs there, so a resumed session finds its
    /// transcript.
    pub cwd: Option<PathBuf>,
}

/// What `--namespace`, `--priority`, `--tags`, `--model` and `--cwd` give
/// every task that does not say otherwise.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TaskDefaults {
    pub namespace: Option<Namespace>,
    pub level: PriorityLevel,
    pub tags: Vec<Tag>,
    pub model: Option<String>,
    pub cwd: Option<PathBuf>,
}

/// One JSON line of a tasks file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskLine {
    id: Option<String>,
    prompt: String,
    namespace: Option<String>,
    priority: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    model: Option<String>,
    cwd: Option<PathBuf>,
}

/// Build the task list: every `--task` first, then the file's lines.
///
/// # Errors
/// A line of the file that cannot be read names its number and what is wrong.
pub fn collect_tasks(
    texts: &[String],
    file: Option<(&Path, &str)>,
    defaults: &TaskDefaults,
) -> anyhow::Result<Vec<Task>> {
    let mut tasks = Vec::new();
    for text in texts {
        if text.trim().is_empty() {
            bail!("--task needs a prompt; an empty one was given");
        }
        push(&mut tasks, None, text.clone(), defaults, None)?;
    }
    if let Some((path, content)) = file {
        for (number, line) in content.lines().enumerate() {
            let number = number + 1;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let at = || format!("tasks file {} line {number}", path.display());
            if trimmed.starts_with('{') {
                let parsed: TaskLine = serde_json::from_str(trimmed).with_context(at)?;
                if parsed.prompt.trim().is_empty() {
                    bail!("{}: the prompt is empty", at());
                }
                let mut task_defaults = defaults.clone();
                if let Some(namespace) = parsed.namespace {
                    task_defaults.namespace = Some(Namespace::new(&namespace).with_context(at)?);
                }
                if let Some(level) = parsed.priority {
                    task_defaults.level = level.parse().with_context(at)?;
                }
                for tag in parsed.tags {
                    let tag = Tag::new(&tag).with_context(at)?;
                    if !task_defaults.tags.contains(&tag) {
                        task_defaults.tags.push(tag);
                    }
                }
                if parsed.model.is_some() {
                    task_defaults.model = parsed.model;
                }
                if parsed.cwd.is_some() {
                    task_defaults.cwd = parsed.cwd;
                }
                push(
                    &mut tasks,
                    parsed.id,
                    parsed.prompt,
                    &task_defaults,
                    Some(at()),
                )?;
            } else {
                push(&mut tasks, None, trimmed.to_owned(), defaults, None)?;
            }
        }
    }
    Ok(tasks)
}

fn push(
    tasks: &mut Vec<Task>,
    id: Option<String>,
    prompt: String,
    defaults: &TaskDefaults,
    at: Option<String>,
) -> anyhow::Result<()> {
    let index = tasks.len() + 1;
    let id = match id {
        Some(id) if id.trim().is_empty() => {
            bail!("{}: the id is empty", at.unwrap_or_default())
        }
        Some(id) => id,
        None => format!("task-{index}"),
    };
    if tasks.iter().any(|task| task.id == id) {
        bail!(
            "{}: the id {id} is used twice; give every task its own id",
            at.unwrap_or_else(|| "tasks".to_owned())
        );
    }
    tasks.push(Task {
        index,
        id,
        prompt,
        namespace: defaults.namespace.clone(),
        level: defaults.level,
        tags: defaults.tags.clone(),
        model: defaults.model.clone(),
        cwd: defaults.cwd.clone(),
    });
    Ok(())
}

/// The agent command with `{prompt}` in it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CommandTemplate {
    argv: Vec<String>,
}

impl CommandTemplate {
    /// # Errors
    /// An empty command.
    pub fn new(argv: Vec<String>) -> anyhow::Result<Self> {
        if argv.first().is_none_or(|program| program.trim().is_empty()) {
            bail!(
                "the agent command is empty; set [agent] command in the config or give one after --"
            );
        }
        Ok(Self { argv })
    }

    pub fn default_claude() -> Self {
        Self {
            argv: DEFAULT_COMMAND
                .iter()
                .map(|arg| (*arg).to_owned())
                .collect(),
        }
    }

    pub fn program(&self) -> &str {
        &self.argv[0]
    }

    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The model the command itself asks for: `--model X` or `--model=X`.
    pub fn model(&self) -> Option<&str> {
        self.argv.iter().enumerate().find_map(|(index, arg)| {
            if arg == "--model" {
                self.argv.get(index + 1).map(String::as_str)
            } else {
                arg.strip_prefix("--model=")
            }
        })
    }

    /// The argument list of one attempt. `{prompt}` is replaced wherever it
    /// appears (each argument stays one argument; no shell is involved); a
    /// command without it gets the prompt as its last argument. A resumed
    /// attempt gets a continuation prompt and `--resume SESSION_ID` at the
    /// end.
    pub fn build(&self, prompt: &str, resume: Option<&str>) -> Vec<String> {
        let prompt = match resume {
            Some(_) => resume_prompt(prompt),
            None => prompt.to_owned(),
        };
        let mut argv: Vec<String> = self
            .argv
            .iter()
            .map(|arg| arg.replace(PROMPT_PLACEHOLDER, &prompt))
            .collect();
        if !self.argv.iter().any(|arg| arg.contains(PROMPT_PLACEHOLDER)) {
            argv.push(prompt);
        }
        if let Some(session_id) = resume {
            argv.push("--resume".to_owned());
            argv.push(session_id.to_owned());
        }
        argv
    }
}

/// What a resumed session is told. Claude Code re-sends the failed turn
/// itself; the original prompt is repeated in case the stop came before the
/// transcript held it.
pub fn resume_prompt(original: &str) -> String {
    format!("Continue from where you left off. The task was:\n\n{original}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn prompt_is_one_argument_even_with_spaces_and_quotes() {
        let template = CommandTemplate::default_claude();
        let argv = template.build("fix the \"flaky\" test; rm -rf /", None);
        assert_eq!(
            argv,
            strings(&[
                "claude",
                "-p",
                "fix the \"flaky\" test; rm -rf /",
                "--output-format",
                "stream-json",
                "--verbose"
            ])
        );
    }

    #[test]
    fn the_command_names_its_model_either_way() {
        let spaced =
            CommandTemplate::new(strings(&["claude", "-p", "{prompt}", "--model", "opus"]));
        assert_eq!(spaced.unwrap().model(), Some("opus"));
        let joined = CommandTemplate::new(strings(&["claude", "--model=claude-sonnet-4-5"]));
        assert_eq!(joined.unwrap().model(), Some("claude-sonnet-4-5"));
        assert_eq!(CommandTemplate::default_claude().model(), None);
    }

    #[test]
    fn resume_appends_the_session_and_continues() {
        let argv = CommandTemplate::default_claude().build("write docs", Some("sess-9"));
        assert_eq!(argv.len(), 8);
        assert_eq!(argv[2], resume_prompt("write docs"));
        assert_eq!(&argv[6..], &strings(&["--resume", "sess-9"])[..]);
    }

    #[test]
    fn placeholder_inside_an_argument_and_missing_placeholder() {
        let template = CommandTemplate::new(strings(&["agent", "--prompt={prompt}"])).unwrap();
        assert_eq!(
            template.build("x y", None),
            strings(&["agent", "--prompt=x y"])
        );
        let template = CommandTemplate::new(strings(&["echo"])).unwrap();
        assert_eq!(
            template.build("hello there", None),
            strings(&["echo", "hello there"])
        );
        assert!(CommandTemplate::new(vec![]).is_err());
        assert!(CommandTemplate::new(strings(&[""])).is_err());
    }

    #[test]
    fn tasks_from_flags_and_a_mixed_file() {
        let defaults = TaskDefaults {
            namespace: Some(Namespace::new("backend").unwrap()),
            level: PriorityLevel::Low,
            tags: vec![Tag::new("api").unwrap()],
            model: Some("sonnet".to_owned()),
            cwd: None,
        };
        let file = "# comment\nfirst plain prompt\n\n{\"id\":\"docs\",\"prompt\":\"write docs\",\"namespace\":\"frontend\",\"priority\":\"high\",\"tags\":[\"web\"],\"model\":\"claude-opus-4-5\",\"cwd\":\"/tmp\"}\n  second plain  \n";
        let tasks = collect_tasks(
            &strings(&["from flag"]),
            Some((Path::new("tasks.txt"), file)),
            &defaults,
        )
        .unwrap();
        let ids: Vec<_> = tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["task-1", "task-2", "docs", "task-4"]);
        assert_eq!(tasks[1].prompt, "first plain prompt");
        assert_eq!(tasks[1].level, PriorityLevel::Low);
        assert_eq!(tasks[2].namespace.as_ref().unwrap().as_str(), "frontend");
        assert_eq!(tasks[2].level, PriorityLevel::High);
        assert_eq!(tasks[2].tags.len(), 2);
        assert_eq!(tasks[1].model.as_deref(), Some("sonnet"));
        assert_eq!(tasks[2].model.as_deref(), Some("claude-opus-4-5"));
        assert_eq!(tasks[2].cwd.as_deref(), Some(Path::new("/tmp")));
        assert_eq!(tasks[3].prompt, "second plain");
        assert_eq!(tasks[3].index, 4);
    }

    #[test]
    fn bad_lines_name_the_line_and_the_problem() {
        let defaults = TaskDefaults::default();
        let check = |content: &str| {
            format!(
                "{:#}",
                collect_tasks(&[], Some((Path::new("t.jsonl"), content)), &defaults).unwrap_err()
            )
        };
        let message = check("ok\n{\"prompt\":\"x\",\"prio\":\"high\"}");
        assert!(
            message.contains("line 2") && message.contains("prio"),
            "{message}"
        );
        let message = check("{\"prompt\":\"x\",\"priority\":\"urgent\"}");
        assert!(
            message.contains("line 1") && message.contains("urgent"),
            "{message}"
        );
        let message = check("{\"id\":\"a\",\"prompt\":\"x\"}\n{\"id\":\"a\",\"prompt\":\"y\"}");
        assert!(message.contains("used twice"), "{message}");
        let message = check("{\"prompt\":\"  \"}");
        assert!(message.contains("empty"), "{message}");
    }
}
