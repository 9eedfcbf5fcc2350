#!/usr/bin/env bash
# Replays the scenarios of docs/user-guide.md against a throwaway pool and
# prints each command with its real output. `cargo xtask docs` runs it and
# fills the {B0}, {B1}, … placeholders of user-guide.template.md beside this
# script with its blocks (one per `$ ` command, `## ` lines end a block) to
# write docs/user-guide.md; `cargo xtask docs --check` (part of `cargo xtask
# ci`) fails when the committed guide differs from a fresh one.
#
#   KAGE_BIN=target/debug/kage crates/kage-cli/scripts/user-guide-session.sh
#
# Without KAGE_BIN it builds `kage` (debug) first.
#
# It uses the insecure test file secret store and a fixed clock
# (KAGE_TEST_NOW) so the figures are the same on every run; the output is
# otherwise exactly what `kage` prints.
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
kage_bin=${KAGE_BIN:-}
if [ -z "$kage_bin" ]; then
    cargo build --quiet -p kage-cli --bin kage --manifest-path "$root/Cargo.toml"
    kage_bin="$root/target/debug/kage"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
ln -s "$kage_bin" "$work/bin/kage"
export PATH="$work/bin:$PATH" HOME="$work/home"
unset XDG_CONFIG_HOME XDG_DATA_HOME KAGE_CONFIG KAGE_CONFIG_DIR KAGE_DATABASE_URL KAGE_DATABASE_PATH
export KAGE_SECRET_BACKEND="insecure-test-file:$work/secrets" RUST_LOG=error TZ=UTC NO_COLOR=1
export KAGE_TEST_NOW=2025-06-02T09:30:00Z
mkdir -p "$HOME"
cd "$work"

show() { # show CMD...: print the command, then run it (through a shell)
    printf '$ %s\n' "$*"
    local code=0
    bash -c "$*" > "$work/out" 2>&1 || code=$?
    sed "s|$HOME|~|g" "$work/out"
    [ "$code" = 0 ] || printf '[exit status %d]\n' "$code"
    printf '\n'
}
typed() { # typed SECRET CMD...: run CMD in a terminal, typing SECRET at the prompt
    local secret=$1; shift
    printf '$ %s\n' "$*"
    # Type only once the prompt is up, as a person would (no echo then).
    { sleep 1; printf '%s\n' "$secret"; } | script -qec "$*" /dev/null | tr -d '\r'
    printf '\n'
}
quietly() { bash -c "$*" >/dev/null 2>&1; }
spend() { # spend NAME USAGE COST: one leased, released piece of work on NAME
    quietly kage subscription route --namespace "only-$1" --subscriptions "$1"
    local lease
    lease=$(kage lease acquire --namespace "only-$1" --holder guide | cut -d' ' -f1)
    quietly kage lease release "$lease" --usage "$2" --cost-usd "$3"
    quietly kage subscription unroute --namespace "only-$1"
}

echo "## Adding subscriptions"
typed sk-ant-oat01-personal kage subscription add --name "personal"
typed sk-ant-oat01-premium kage subscription add --name "work-premium" --priority 150 --description \"Work account with higher limits\"
typed sk-ant-oat01-backend kage subscription add --name "backend-dedicated" --tags \"backend,api\" --priority 120
show kage subscription add --name personal-2
show "printf 'sk-ant-api03-ci\n' | kage subscription add --name ci --kind api-key --priority 60 --credential-stdin"
show "printf 'sk-ant-api03-oops\n' | kage subscription add --name overflow --priority 50 --credential-stdin"
show kage subscription add --name from-pass --credential-command \"pass show claude/work\"
show kage subscription list

echo "## Routing"
show kage subscription route --namespace backend --subscriptions \"backend-dedicated,work-premium\"
show kage subscription route --priority high --subscriptions \"premium-1,premium-2\"
for name in premium-1 premium-2; do printf 'sk-ant-oat01-%s\n' "$name" | quietly kage subscription add --name $name --priority 200 --credential-stdin; done
for name in batch-1 batch-2 batch-3; do printf 'sk-ant-oat01-%s\n' "$name" | quietly kage subscription add --name $name --priority 20 --credential-stdin; done
show kage subscription route --priority high --subscriptions \"premium-1,premium-2\"
show kage subscription route --priority batch --subscriptions \"batch-1,batch-2,batch-3\"
typed sk-ant-oat01-audited kage subscription add --name \"sec-audited\" --tags \"security,compliance\"
show kage subscription route --namespace security --subscriptions \"sec-audited\"
show kage subscription routes
show kage subscription explain --namespace backend
show kage subscription explain --namespace security --priority high

# History for the monitoring screens (not shown).
export KAGE_TEST_NOW=2025-05-30T15:00:00Z
spend personal input=3000,output=1200,cache-read=4000 0.21
spend work-premium input=2000,output=800 0.09
export KAGE_TEST_NOW=2025-06-01T11:00:00Z
spend work-premium input=5000,output=1000,cache-write=500,cache-read=2500 0.35
export KAGE_TEST_NOW=2025-06-02T09:30:00Z
spend work-premium input=8000,output=2450,cache-read=2000 0.52
spend personal input=10000,output=3200,cache-write=1000,cache-read=4000 0.61
spend backend-dedicated input=9000,output=2580,cache-read=3000 0.44

echo "## Leases"
show 'kage exec --namespace backend -- sh -c '"'"'echo "$KAGE_SUBSCRIPTION got ${#CLAUDE_CODE_OAUTH_TOKEN} characters in CLAUDE_CODE_OAUTH_TOKEN"'"'"''
# `pass` as it answers for an entry it does not have (the same on every
# machine, whether or not pass is installed).
printf '#!/bin/sh\necho "Error: $2 is not in the password store." >&2\nexit 1\n' > "$work/bin/pass"
chmod +x "$work/bin/pass"
show kage subscription test from-pass personal
quietly kage subscription remove from-pass
show 'read -r lease subscription < <(kage lease acquire --namespace backend --holder nightly-job); echo "$subscription"; kage lease list; kage lease release "$lease" --outcome rate-limited --resets-at 4m --reason "429 retry-after 240"'
show kage lease acquire --namespace security --json
show kage subscription disable sec-audited --reason \"audit renewal\"
show kage lease acquire --namespace security
show kage subscription enable sec-audited
quietly kage subscription route --namespace spill --subscriptions overflow
lease=$(kage lease acquire --namespace spill --holder guide | cut -d' ' -f1)
quietly kage lease release "$lease" --outcome rate-limited --resets-at 5m --reason \"429 retry-after 300\"
show kage lease acquire --namespace spill
show kage lease acquire --namespace spill --wait 10m --holder overflow-job

echo "## Monitoring"
show kage subscription status
show kage subscription usage --period week
show kage subscription usage --subscription work-premium --period month
show kage subscription show work-premium
show "kage subscription status --json | head -n 16"
show "kage metrics | head -n 8"

echo "## Config file"
mkdir -p "$HOME/.config/kage"
cat > "$HOME/.config/kage/config.toml" <<'TOML'
[subscriptions]
# Default routing priority
default_priority = "round-robin"  # or "priority", "least-used"

# Rate limit settings
rate_limit_window = "1m"
rate_limit_cooldown = "5m"

[subscriptions.routing]
# Namespace-specific routing
backend = ["backend-dedicated", "work-premium"]
frontend = ["frontend-1", "personal"]

# Priority-level routing
high = ["premium-1", "premium-2"]
batch = ["batch-1", "batch-2"]
TOML
show kage config path
show kage config check
printf 'sk-ant-oat01-frontend\n' | quietly kage subscription add --name frontend-1 --credential-stdin
show kage config check
show kage subscription routes
show KAGE_SUBSCRIPTIONS__LEASE_TTL=5m kage config show --resolved
sed -i 's/rate_limit_cooldown/rate_limit_cooldwn/' "$HOME/.config/kage/config.toml"
show kage subscription status

echo "## Doctor"
# A stand-in `claude` that only answers --version (the guide runs without one),
# under the home folder so its path reads the same on every run.
mkdir -p "$HOME/.local/bin"
printf '#!/bin/sh\necho "2.0.14 (Claude Code)"\n' > "$HOME/.local/bin/claude"
chmod +x "$HOME/.local/bin/claude"
export PATH="$HOME/.local/bin:$PATH"
show kage doctor
sed -i 's/rate_limit_cooldwn/rate_limit_cooldown/' "$HOME/.config/kage/config.toml"
show kage doctor

echo "## Removing subscriptions"
show kage subscription remove personal
show kage subscription usage --period day

echo "## Backups"
show kage backup \~/kage-backup.db

echo "## Live view"
for id in $(kage lease list --json | grep -o '"id": *"[^"]*"' | cut -d'"' -f4); do quietly kage lease release "$id"; done
read -r lease subscription < <(kage lease acquire --namespace backend --holder "kage-agent@build-1:4242 task-3" --ttl 1h 2>/dev/null)
kage lease acquire --priority high --holder "kage-exec@laptop:77 claude" --ttl 1h >/dev/null 2>&1
printf '{"rate_limits":{"five_hour":{"used_percentage":83,"resets_at":"2025-06-02T12:00:00Z"},"seven_day":{"used_percentage":41,"resets_at":"2025-06-05T00:00:00Z"}}}' \
    | KAGE_SUBSCRIPTION="$subscription" KAGE_LEASE_ID="$lease" kage statusline >/dev/null
show "COLUMNS=80 LINES=24 kage top --once"

echo "## Importing usage"
# A session run outside Kage: one assistant message in its transcript.
project="$HOME/.claude/projects/-home-me-app"
mkdir -p "$project"
printf '%s\n' '{"type":"assistant","sessionId":"s1","requestId":"req_1","message":{"id":"msg_1","model":"claude-sonnet-4-5","content":[{"type":"text","text":"ok"}],"usage":{"input_tokens":1200,"cache_creation_input_tokens":300,"cache_read_input_tokens":9000,"output_tokens":450}},"uuid":"u1","timestamp":"2025-06-02T09:10:00.000Z"}' > "$project/s1.jsonl"
show kage usage import --subscription work-premium
show kage usage import --subscription work-premium
