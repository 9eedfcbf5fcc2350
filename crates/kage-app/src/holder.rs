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

#[cfg(test)]
mod tests {
    use super::*;

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
