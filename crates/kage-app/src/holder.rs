//! Who holds a lease: `PROGRAM@HOST:PID`, the same for every app.

/// `PROGRAM@HOST:PID`, for example `kage-agent@build-1:4242`; the host is
/// `localhost` when the system does not say.
pub fn holder(program: &str, pid: u32) -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{program}@{host}:{pid}")
}

/// `HOLDER TASK`: the holder with the task it works on, for screens that
/// show who holds what (`kage-agent@build-1:4242 task-3`).
pub fn with_task(holder: &str, task: &str) -> String {
    let task = task.split_whitespace().collect::<Vec<_>>().join("-");
    if task.is_empty() {
        holder.to_owned()
    } else {
        format!("{holder} {task}")
    }
}

/// A holder label read back: `PROGRAM@HOST:PID [TASK]`. Labels written
/// some other way (`--holder ci`) keep their text as the program.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HolderParts {
    pub program: String,
    pub host: Option<String>,
    pub pid: Option<u32>,
    pub task: Option<String>,
}

/// Read a holder label (see [`HolderParts`]).
pub fn parse_holder(text: &str) -> HolderParts {
    let (who, task) = match text.trim().split_once(' ') {
        Some((who, task)) => (who, Some(task.trim().to_owned()).filter(|t| !t.is_empty())),
        None => (text.trim(), None),
    };
    let parsed = who.split_once('@').and_then(|(program, rest)| {
        let (host, pid) = rest.rsplit_once(':')?;
        Some((program, host, pid.parse::<u32>().ok()?))
    });
    match parsed {
        Some((program, host, pid)) => HolderParts {
            program: program.to_owned(),
            host: Some(host.to_owned()),
            pid: Some(pid),
            task,
        },
        None => HolderParts {
            program: who.to_owned(),
            host: None,
            pid: None,
            task,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_are_read_back_with_their_task() {
        let parts = parse_holder(&with_task("kage-agent@build-1:4242", "fix tests"));
        assert_eq!(
            parts,
            HolderParts {
                program: "kage-agent".to_owned(),
                host: Some("build-1".to_owned()),
                pid: Some(4242),
                task: Some("fix-tests".to_owned()),
            }
        );
        let plain = parse_holder("ci");
        assert_eq!(
            (plain.program.as_str(), plain.host, plain.pid, plain.task),
            ("ci", None, None, None)
        );
        assert_eq!(with_task("kage@h:1", " "), "kage@h:1");
    }

    #[test]
    fn holders_name_program_host_and_pid() {
        let text = holder("kage-exec", 42);
        let (program, rest) = text.split_once('@').unwrap();
        let (host, pid) = rest.rsplit_once(':').unwrap();
        assert_eq!(program, "kage-exec");
        assert!(!host.is_empty());
        assert_eq!(pid, "42");
    }
}
