#!/usr/bin/env bash
# Runs kage-secrets' `keychain_real` tests against real Linux keychains.
#
#   1. Secret Service: a private D-Bus session (dbus-run-session) with a
#      gnome-keyring-daemon unlocked with a throwaway password, its keyrings
#      in a temporary HOME; KAGE_TEST_KEYCHAIN=secret-service.
#   2. Secret Service, locked: a second private session in which the test
#      locks the login collection and expects KeychainLocked.
#   3. Kernel keyring: a fresh session keyring (`keyctl session -`) and no
#      DBUS_SESSION_BUS_ADDRESS; KAGE_TEST_KEYCHAIN=keyutils.
#   4. Kernel keyring fallback: DBUS_SESSION_BUS_ADDRESS points at a bus
#      that does not exist, so the Secret Service does not answer and Kage
#      must fall back to the kernel keyring.
#
# The tests are compiled only with the `keychain-tests` feature, so the
# ordinary `cargo nextest run` never counts them. Every run fails (never
# skips) when its keychain cannot be used.
#
# Debian/Ubuntu packages needed (apt-get install -y …), for the sessions
# only: Kage itself talks D-Bus in pure Rust (zbus) and builds without them:
#   dbus dbus-daemon dbus-bin gnome-keyring keyutils
# (dbus-daemon and dbus-bin are split out of `dbus` on Debian 12+; on older
# releases `dbus` alone provides dbus-run-session and dbus-send.)
#
# Run from anywhere: bash crates/kage-secrets/tests/run-keychain-tests.sh
# Extra arguments are passed to `cargo nextest run`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"

missing=()
for tool in dbus-run-session dbus-send gnome-keyring-daemon keyctl; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "run-keychain-tests: missing ${missing[*]}" >&2
    echo "run-keychain-tests: install them with: apt-get install -y dbus dbus-daemon dbus-bin gnome-keyring keyutils" >&2
    exit 1
fi

build=(cargo nextest run -p kage-secrets --features keychain-tests --no-run)
nextest=(cargo nextest run -p kage-secrets --features keychain-tests --no-tests=fail "$@")
all_but_locked='test(/^keychain_real::/) & not test(locked)'
only_locked='test(=keychain_real::locked_secret_service_is_reported_locked)'
only_backend='test(=keychain_real::the_expected_backend_is_picked)'

# Build once, outside the sessions (the sessions only run tests).
"${build[@]}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The body of a Secret Service session: start an unlocked gnome-keyring in a
# temporary HOME, then run nextest with the given filter.
# shellcheck disable=SC2016
secret_service_session='
set -eu
home="$1"; shift
mkdir -p "$home/run" && chmod 700 "$home/run"
printf %s kage-test-password | HOME="$home" XDG_DATA_HOME="$home/data" \
    XDG_RUNTIME_DIR="$home/run" gnome-keyring-daemon --unlock --components=secrets >/dev/null
# Wait until our daemon owns the Secret Service name on this session bus. Ask
# the bus (NameHasOwner), never the service itself: a message to an unowned
# name makes D-Bus start a second gnome-keyring-daemon (its .service file)
# with the real HOME, which wins the race and has no unlocked login collection.
tries=0
until dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus \
        /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
        string:org.freedesktop.secrets 2>/dev/null | grep -q true; do
    tries=$((tries + 1))
    if [ "$tries" -ge 50 ]; then
        echo "run-keychain-tests: gnome-keyring-daemon did not start a Secret Service" >&2
        exit 1
    fi
    sleep 0.1
done
# ...and until its login collection is the default one: gnome-keyring makes
# it a moment after it answers (on a loaded machine the first store found no
# default collection).
tries=0
until dbus-send --session --print-reply=literal --dest=org.freedesktop.secrets \
        /org/freedesktop/secrets org.freedesktop.Secret.Service.ReadAlias string:default \
        2>/dev/null | grep -q /collection/; do
    tries=$((tries + 1))
    if [ "$tries" -ge 100 ]; then
        echo "run-keychain-tests: gnome-keyring-daemon made no default collection" >&2
        exit 1
    fi
    sleep 0.1
done
KAGE_TEST_KEYCHAIN=secret-service "$@"
'

echo "== keychain tests: Secret Service (dbus-run-session + gnome-keyring-daemon)" >&2
dbus-run-session -- sh -c "$secret_service_session" sh "$work/ss-home" \
    "${nextest[@]}" -E "$all_but_locked"

echo "== keychain tests: Secret Service, locked collection (separate session)" >&2
dbus-run-session -- sh -c "$secret_service_session" sh "$work/ss-locked-home" \
    "${nextest[@]}" -E "$only_locked"

echo "== keychain tests: kernel keyring (keyctl session -, no D-Bus session bus)" >&2
env -u DBUS_SESSION_BUS_ADDRESS KAGE_TEST_KEYCHAIN=keyutils \
    keyctl session - "${nextest[@]}" -E "$all_but_locked"

echo "== keychain tests: kernel keyring fallback (a session bus that does not answer)" >&2
DBUS_SESSION_BUS_ADDRESS="unix:path=$work/no-such-bus" KAGE_TEST_KEYCHAIN=keyutils \
    keyctl session - "${nextest[@]}" -E "$only_backend"

echo "== keychain tests: all passed" >&2
