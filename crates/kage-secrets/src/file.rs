//! **Insecure, test-only** keychain: [`InsecureFileKeychain`] keeps each
//! keychain credential in a plain file, `<dir>/<subscription id>.credential`
//! (mode 0600, folder 0700 on Unix).
//!
//! It exists because the CLI's end-to-end tests run each `kage` command as a
//! separate process and need credentials to survive between them without a
//! real keychain. It is chosen only explicitly, with
//! `KAGE_SECRET_BACKEND=insecure-test-file:<dir>` (see
//! [`crate::secret_store_from_env`]), which logs a warning. Never use it for
//! real credentials: anyone who can read the folder can read them.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use kage_domain::SubscriptionId;
use kage_ports::SecretError;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::dispatch::SourceDispatchingSecretStore;
use crate::keychain::{KeychainBackend, KeychainError};

/// The name the test file store reports (`kage subscription list` shows it,
/// so a test run never claims to use an OS keychain).
pub const INSECURE_FILE_STORE_NAME: &str = "insecure test file store";

/// A [`crate::SecretStore`] over [`InsecureFileKeychain`]. Test only.
pub type InsecureFileSecretStore = SourceDispatchingSecretStore<InsecureFileKeychain>;

impl InsecureFileSecretStore {
    /// The store over files in `dir` (created if missing).
    ///
    /// # Errors
    /// [`SecretError::Unknown`] when the folder cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, SecretError> {
        Ok(Self::from_keychain(Arc::new(InsecureFileKeychain::open(
            dir,
        )?)))
    }
}

/// Keychain credentials as plain files. Test only; see the module docs.
#[derive(Debug)]
pub struct InsecureFileKeychain {
    dir: PathBuf,
}

impl InsecureFileKeychain {
    /// Use `dir`, creating it (mode 0700) if it does not exist.
    ///
    /// # Errors
    /// [`SecretError::Unknown`] when the folder cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, SecretError> {
        let dir = dir.into();
        if dir.as_os_str().is_empty() {
            return Err(SecretError::Unknown(anyhow::anyhow!(
                "the insecure test file store needs a folder: \
                 KAGE_SECRET_BACKEND=insecure-test-file:<dir>"
            )));
        }
        create_private_dir(&dir).with_context(|| {
            format!(
                "could not create the insecure test secret folder {}",
                dir.display()
            )
        })?;
        Ok(Self { dir })
    }

    /// The folder holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, account: SubscriptionId) -> PathBuf {
        self.dir.join(format!("{account}.credential"))
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

fn other(error: io::Error, what: String) -> KeychainError {
    KeychainError::Other(anyhow::Error::new(error).context(what))
}

impl KeychainBackend for InsecureFileKeychain {
    fn probe(&self) -> Result<String, KeychainError> {
        Ok(INSECURE_FILE_STORE_NAME.to_owned())
    }

    fn set(&self, account: SubscriptionId, secret: &SecretString) -> Result<(), KeychainError> {
        let path = self.path(account);
        // Write a private temporary file, then rename it over the old one,
        // so a reader never sees half a credential.
        let temporary = self
            .dir
            .join(format!("{account}.credential.{}.tmp", std::process::id()));
        let written = create_private_file(&temporary)
            .and_then(|mut file| {
                file.write_all(secret.expose_secret().as_bytes())?;
                file.sync_all()
            })
            .and_then(|()| fs::rename(&temporary, &path));
        if let Err(error) = written {
            let _ = fs::remove_file(&temporary);
            return Err(other(error, format!("could not write {}", path.display())));
        }
        Ok(())
    }

    fn get(&self, account: SubscriptionId) -> Result<SecretString, KeychainError> {
        let path = self.path(account);
        let bytes = Zeroizing::new(fs::read(&path).map_err(|error| {
            if error.kind() == io::ErrorKind::NotFound {
                KeychainError::NotFound
            } else {
                other(error, format!("could not read {}", path.display()))
            }
        })?);
        let text = std::str::from_utf8(&bytes).map_err(|_not_utf8| {
            KeychainError::Other(anyhow::anyhow!(
                "{} is not UTF-8 text; store the credential again",
                path.display()
            ))
        })?;
        Ok(SecretString::from(text.to_owned()))
    }

    fn delete(&self, account: SubscriptionId) -> Result<(), KeychainError> {
        let path = self.path(account);
        fs::remove_file(&path).map_err(|error| {
            if error.kind() == io::ErrorKind::NotFound {
                KeychainError::NotFound
            } else {
                other(error, format!("could not delete {}", path.display()))
            }
        })
    }
}
