//! Where the config file and the database are looked for.

use std::path::PathBuf;

use kage_config::{ConfigError, ConfigPath, Env, PathRule, config_path, default_database_path};

fn check(vars: &[(&str, &str)], expected: Option<(&str, PathRule)>) {
    let env: Env = vars.iter().copied().collect();
    let found = config_path(&env);
    match (found, expected) {
        (Ok(found), Some((path, rule))) => {
            assert_eq!(
                found,
                ConfigPath {
                    path: PathBuf::from(path),
                    rule
                },
                "{vars:?}"
            );
        }
        (Err(ConfigError::NoConfigLocation), None) => {}
        (found, expected) => panic!("{vars:?}: got {found:?}, expected {expected:?}"),
    }
}

#[test]
fn the_config_file_is_found_by_the_first_rule_that_applies() {
    let all = [
        ("KAGE_CONFIG", "/etc/kage.toml"),
        ("KAGE_CONFIG_DIR", "/cfg"),
        ("XDG_CONFIG_HOME", "/xdg"),
        ("HOME", "/home/u"),
    ];
    check(&all, Some(("/etc/kage.toml", PathRule::KageConfig)));
    check(
        &all[1..],
        Some(("/cfg/config.toml", PathRule::KageConfigDir)),
    );
    check(
        &all[2..],
        Some(("/xdg/kage/config.toml", PathRule::XdgConfigHome)),
    );
    check(
        &all[3..],
        Some(("/home/u/.config/kage/config.toml", PathRule::Home)),
    );
    check(&[], None);
}

#[test]
fn empty_and_relative_variables_do_not_count() {
    check(
        &[
            ("KAGE_CONFIG", ""),
            ("KAGE_CONFIG_DIR", ""),
            ("XDG_CONFIG_HOME", "relative/xdg"),
            ("HOME", "/home/u"),
        ],
        Some(("/home/u/.config/kage/config.toml", PathRule::Home)),
    );
    check(&[("XDG_CONFIG_HOME", "")], None);
}

#[test]
fn kage_config_paths_expand_the_home_folder() {
    check(
        &[("KAGE_CONFIG", "~/kage.toml"), ("HOME", "/home/u")],
        Some(("/home/u/kage.toml", PathRule::KageConfig)),
    );
    check(
        &[("KAGE_CONFIG_DIR", "~"), ("HOME", "/home/u")],
        Some(("/home/u/config.toml", PathRule::KageConfigDir)),
    );
    check(
        &[("USERPROFILE", "/users/u")],
        Some(("/users/u/.config/kage/config.toml", PathRule::Home)),
    );
}

#[test]
fn the_missing_location_error_says_what_to_set() {
    assert_eq!(
        config_path(&Env::empty()).unwrap_err().to_string(),
        "config error: cannot find the config file: set HOME, XDG_CONFIG_HOME, KAGE_CONFIG_DIR or KAGE_CONFIG"
    );
}

#[test]
fn the_database_defaults_to_the_data_folder() {
    let data = |vars: &[(&str, &str)]| default_database_path(&vars.iter().copied().collect());
    assert_eq!(
        data(&[("XDG_DATA_HOME", "/data"), ("HOME", "/home/u")]),
        Some(PathBuf::from("/data/kage/kage.db"))
    );
    assert_eq!(
        data(&[("HOME", "/home/u")]),
        Some(PathBuf::from("/home/u/.local/share/kage/kage.db"))
    );
    assert_eq!(data(&[("XDG_DATA_HOME", "data")]), None);
}

#[test]
fn rules_display_as_the_variable_that_chose_them() {
    let names: Vec<String> = [
        PathRule::KageConfig,
        PathRule::KageConfigDir,
        PathRule::XdgConfigHome,
        PathRule::Home,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        names,
        ["KAGE_CONFIG", "KAGE_CONFIG_DIR", "XDG_CONFIG_HOME", "HOME"]
    );
}
