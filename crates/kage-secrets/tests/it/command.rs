//! The command source. Production never uses a shell; these tests build
//! misbehaving commands with `sh -c` only to script them.

use std::time::Duration;

use kage_domain::CredentialSource;
use kage_secrets::{ExposeSecret, InMemorySecretStore, SecretError, SecretStore, SecretString};

use crate::{CANARY, message_without_canary, name, new_id};

/// `sh -c SCRIPT` as one command line.
fn sh(script: &str) -> String {
    format!("sh -c {}", shell_words::quote(script))
}

/// `sh -c SCRIPT FILE`: the script sees the file as `$0`, so the command
/// line itself never contains the canary.
fn sh_with_file(script: &str, file: &str) -> String {
    format!("{} {}", sh(script), shell_words::quote(file))
}

/// A temporary file holding `contents`; keep the guard alive while used.
fn canary_file(contents: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("credential");
    std::fs::write(&path, contents).expect("write");
    let path = path.to_string_lossy().into_owned();
    (dir, path)
}

async fn fetch(command: &str) -> Result<SecretString, SecretError> {
    fetch_with_timeout(command, Duration::from_secs(10)).await
}

async fn fetch_with_timeout(command: &str, timeout: Duration) -> Result<SecretString, SecretError> {
    InMemorySecretStore::new()
        .with_command_timeout(timeout)
        .fetch(
            new_id(),
            &name("work"),
            &CredentialSource::Command(command.to_owned()),
        )
        .await
}

#[tokio::test]
async fn prints_the_credential_trimmed() {
    let secret = fetch(&sh(&format!("printf '  {CANARY}\\n\\n'")))
        .await
        .expect("fetched");
    assert_eq!(secret.expose_secret(), CANARY);
}

#[tokio::test]
async fn the_first_line_is_the_credential_like_pass() {
    let secret = fetch(&sh(&format!(
        "printf '{CANARY}\\nlogin: me\\nurl: example\\n'"
    )))
    .await
    .expect("fetched");
    assert_eq!(secret.expose_secret(), CANARY);
}

#[tokio::test]
async fn quoted_arguments_are_split_like_a_shell_without_running_one() {
    // printf is a program here, not a shell builtin: argv is exactly what
    // shell-words produced.
    let secret = fetch(r#"printf "[%s]" 'one two' "it's" 'x"y' plain\ escaped"#)
        .await
        .expect("fetched");
    assert_eq!(
        secret.expose_secret(),
        r#"[one two][it's][x"y][plain escaped]"#
    );
}

#[tokio::test]
async fn no_shell_means_no_expansion_and_no_command_chaining() {
    let secret = fetch("echo $HOME ; echo *").await.expect("fetched");
    assert_eq!(secret.expose_secret(), "$HOME ; echo *");
}

#[tokio::test]
async fn a_failing_command_shows_its_stderr_but_never_its_stdout() {
    let (_dir, canary_path) = canary_file(CANARY);
    let script = "cat \"$0\"; echo 'pass: gpg decryption failed' >&2; exit 3";
    let error = fetch(&sh_with_file(script, &canary_path))
        .await
        .expect_err("must fail");
    assert!(
        matches!(error, SecretError::CommandFailed { .. }),
        "{error:?}"
    );
    let message = message_without_canary(&error);
    assert!(message.contains("subscription work"), "{message}");
    assert!(message.contains("exit status 3"), "{message}");
    assert!(message.contains("pass: gpg decryption failed"), "{message}");
}

#[tokio::test]
async fn a_secret_repeated_on_stderr_is_masked() {
    let (_dir, canary_path) = canary_file(CANARY);
    let script = "cat \"$0\"; echo \"token $(cat \"$0\") rejected\" >&2; exit 1";
    let error = fetch(&sh_with_file(script, &canary_path))
        .await
        .expect_err("must fail");
    let message = message_without_canary(&error);
    assert!(message.contains("token [redacted] rejected"), "{message}");

    // Masked even when it is not what the command printed on stdout.
    let (_other_dir, other_file) = canary_file("sk-ant-api03-ABCDEF0123456789");
    let script = "echo \"bad key $(cat \"$0\")\" >&2; exit 1";
    let error = fetch(&sh_with_file(script, &other_file))
        .await
        .expect_err("must fail");
    let message = message_without_canary(&error);
    assert!(message.contains("bad key sk-ant-[redacted]"), "{message}");
    assert!(!message.contains("ABCDEF0123456789"), "{message}");
}

#[tokio::test]
async fn long_stderr_is_capped_to_one_line() {
    let error = fetch(&sh("yes 'a long complaint' | head -n 500 >&2; exit 1"))
        .await
        .expect_err("must fail");
    let message = message_without_canary(&error);
    assert!(message.len() < 700, "{} bytes: {message}", message.len());
    assert!(message.ends_with('…'), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[tokio::test]
async fn a_command_that_prints_nothing_is_an_error() {
    for command in [sh("exit 0"), sh("printf '  \\n\\t\\n'")] {
        let error = fetch(&command).await.expect_err("must fail");
        assert!(
            matches!(error, SecretError::CommandEmpty { .. }),
            "{error:?}"
        );
        let message = message_without_canary(&error);
        assert!(message.contains("printed nothing") && message.contains("subscription work"));
    }
}

#[tokio::test]
async fn standard_input_is_null_so_a_reader_does_not_hang() {
    // `cat` waits for input; with stdin null it reads EOF at once.
    let error = fetch("cat").await.expect_err("prints nothing");
    assert!(
        matches!(error, SecretError::CommandEmpty { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_hanging_command_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("pid");
    let script = format!(
        "echo $$ > {}; exec sleep 30",
        shell_words::quote(&pid_file.to_string_lossy())
    );
    let error = fetch_with_timeout(&sh(&script), Duration::from_secs(1))
        .await
        .expect_err("must time out");
    assert!(
        matches!(error, SecretError::CommandTimedOut { seconds: 1, .. }),
        "{error:?}"
    );
    let message = message_without_canary(&error);
    assert!(message.contains("did not finish within 1s"), "{message}");

    // The process was killed and reaped, not left behind.
    let pid = std::fs::read_to_string(&pid_file).expect("pid written");
    if cfg!(target_os = "linux") {
        let proc_dir = std::path::Path::new("/proc").join(pid.trim());
        assert!(!proc_dir.exists(), "process {} still exists", pid.trim());
    }
}

#[tokio::test]
async fn a_missing_program_says_so() {
    let error = fetch("kage-no-such-credential-helper read work")
        .await
        .expect_err("must fail");
    let message = message_without_canary(&error);
    assert!(message.contains("could not be started"), "{message}");
    assert!(
        message.contains("kage-no-such-credential-helper` installed and on PATH"),
        "{message}"
    );
}

#[tokio::test]
async fn bad_quoting_and_empty_commands_are_refused() {
    let error = fetch("pass show \"claude/work")
        .await
        .expect_err("unbalanced quote");
    let message = message_without_canary(&error);
    assert!(
        message.contains("cannot be split into arguments"),
        "{message}"
    );
    assert!(
        message.contains("kage subscription edit work --credential-command"),
        "{message}"
    );

    let error = fetch("   ").await.expect_err("empty");
    let message = message_without_canary(&error);
    assert!(message.contains("the command line is empty"), "{message}");
}

#[tokio::test]
async fn output_that_is_not_text_or_too_long_is_refused() {
    let error = fetch("printf '\\377\\376'").await.expect_err("not UTF-8");
    assert!(message_without_canary(&error).contains("not UTF-8 text"));

    let (_dir, long_file) = canary_file(&format!("{CANARY}\n").repeat(2000));
    let error = fetch(&format!("cat {}", shell_words::quote(&long_file)))
        .await
        .expect_err("too long");
    let message = message_without_canary(&error);
    assert!(message.contains("more than 64 KiB"), "{message}");
}

#[tokio::test]
async fn a_command_source_cannot_be_stored_and_deleting_it_is_a_no_op() {
    let store = InMemorySecretStore::new();
    let source = CredentialSource::Command("pass show claude/work".to_owned());
    let error = store
        .store(new_id(), &name("work"), &source, SecretString::from(CANARY))
        .await
        .expect_err("not storable");
    let message = message_without_canary(&error);
    assert!(
        message.contains("command `pass show claude/work`"),
        "{message}"
    );
    store
        .delete(new_id(), &name("work"), &source)
        .await
        .expect("no-op");
    assert!(store.keychain().is_empty());
}

#[tokio::test]
async fn a_credential_pasted_into_the_command_line_is_masked_in_errors() {
    let command = format!("sh -c 'exit 7' {CANARY}");
    let error = fetch(&command).await.expect_err("must fail");
    let message = message_without_canary(&error);
    assert!(
        message.contains("`sh -c 'exit 7' sk-ant-[redacted]`"),
        "{message}"
    );

    let command = format!("echo {CANARY}");
    let error = InMemorySecretStore::new()
        .store(
            new_id(),
            &name("work"),
            &CredentialSource::Command(command),
            SecretString::from(CANARY),
        )
        .await
        .expect_err("not storable");
    message_without_canary(&error);
}
