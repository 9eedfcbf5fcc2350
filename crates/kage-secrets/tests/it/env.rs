//! The environment source, through an injected lookup (a test cannot
//! safely change its own environment) and through the real one.

use std::collections::HashMap;
use std::ffi::OsString;

use kage_domain::CredentialSource;
use kage_secrets::{ExposeSecret, InMemorySecretStore, SecretError, SecretStore, SecretString};

use crate::{CANARY, message_without_canary, name, new_id};

fn store_with(variables: &[(&str, &str)]) -> InMemorySecretStore {
    let variables: HashMap<String, OsString> = variables
        .iter()
        .map(|(key, value)| ((*key).to_owned(), OsString::from(value)))
        .collect();
    InMemorySecretStore::new().with_env_lookup(move |key| variables.get(key).cloned())
}

async fn fetch(store: &InMemorySecretStore, variable: &str) -> Result<SecretString, SecretError> {
    store
        .fetch(
            new_id(),
            &name("ci-key"),
            &CredentialSource::Env(variable.to_owned()),
        )
        .await
}

#[tokio::test]
async fn reads_the_variable_at_fetch_time_trimmed() {
    let value = format!("{CANARY}\n");
    let store = store_with(&[("CLAUDE_WORK_TOKEN", &value)]);
    let secret = fetch(&store, "CLAUDE_WORK_TOKEN").await.expect("set");
    assert_eq!(secret.expose_secret(), CANARY);
}

#[tokio::test]
async fn unset_empty_or_blank_variables_are_env_unset() {
    let store = store_with(&[("EMPTY", ""), ("BLANK", "  \n")]);
    for variable in ["MISSING", "EMPTY", "BLANK"] {
        let error = fetch(&store, variable).await.expect_err("unset");
        assert!(matches!(error, SecretError::EnvUnset { .. }), "{error:?}");
        let message = message_without_canary(&error);
        assert!(
            message.contains(&format!("environment variable {variable}")),
            "{message}"
        );
        assert!(message.contains("subscription ci-key"), "{message}");
        assert!(message.contains("export it"), "{message}");
    }
}

#[tokio::test]
async fn an_invalid_variable_name_is_refused() {
    let store = store_with(&[]);
    let error = fetch(&store, "A=B").await.expect_err("invalid name");
    let message = message_without_canary(&error);
    assert!(
        message.contains("invalid environment variable"),
        "{message}"
    );
    assert!(message.contains("--credential-env"), "{message}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_value_that_is_not_utf8_is_refused_without_showing_it() {
    use std::os::unix::ffi::OsStringExt;
    let store = InMemorySecretStore::new().with_env_lookup(|_| {
        Some(OsString::from_vec(
            b"sk-ant-\xff-CANARY-DO-NOT-LEAK".to_vec(),
        ))
    });
    let error = fetch(&store, "BROKEN").await.expect_err("not UTF-8");
    let message = message_without_canary(&error);
    assert!(message.contains("environment variable BROKEN"), "{message}");
    assert!(message.contains("not UTF-8"), "{message}");
}

#[tokio::test]
async fn the_default_lookup_is_the_process_environment() {
    let store = InMemorySecretStore::new();
    let path = std::env::var("PATH").expect("tests run with PATH set");
    let secret = fetch(&store, "PATH").await.expect("PATH is set");
    assert_eq!(secret.expose_secret(), path.trim());

    let error = fetch(&store, "KAGE_TEST_SURELY_UNSET_VARIABLE_5C1E")
        .await
        .expect_err("unset");
    assert!(matches!(error, SecretError::EnvUnset { .. }), "{error:?}");
}

#[tokio::test]
async fn an_env_source_cannot_be_stored() {
    let store = store_with(&[]);
    let error = store
        .store(
            new_id(),
            &name("ci-key"),
            &CredentialSource::Env("TOKEN".to_owned()),
            SecretString::from(CANARY),
        )
        .await
        .expect_err("not storable");
    assert!(
        matches!(error, SecretError::NotStorable { .. }),
        "{error:?}"
    );
    let message = message_without_canary(&error);
    assert!(message.contains("environment variable TOKEN"), "{message}");
}
