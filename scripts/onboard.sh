#!/usr/bin/env bash
# Onboard a developer: from a clean clone to a migrated dev database, in one command.
#
#   scripts/onboard.sh
#
# Idempotent: every step first looks whether it is already done, and a second run
# changes nothing and says so. It checks Python, Docker, disk and the port; makes
# .venv at the repo root and installs the toolkit; installs debootstrap when the
# image must be built offline (no registry) and we are root; then `invoke db.up`
# gets the image (pull, or offline build), starts the database and migrates it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
STAMP="$VENV/.onboard-installed"
MIN_FREE_GB=2
CHANGED=()

# A checklist: one line per step, saying whether it was already in place (ok) or
# what this run did (done), with the time it took.
STEP="" STEP_STARTED=$SECONDS
step() { STEP="$1"; STEP_STARTED=$SECONDS; }
line() { printf '  %-5s %-18s %s\n' "$1" "$STEP" "$2"; }
ok()   { line ok "$*"; }
did()  { line "done" "$* ($((SECONDS - STEP_STARTED)) s)"; }
say()  { if [[ -t 1 ]]; then printf '\033[1m==>\033[0m %s\n' "$*"; else printf '==> %s\n' "$*"; fi; }
fail() { printf 'ERROR: %s\nTIP: %s\n' "$1" "$2" >&2; exit 1; }

# --- Python >= 3.11 ----------------------------------------------------------------
step "Python"
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        PYTHON="$(command -v "$candidate")"
        break
    fi
done
[[ -n "$PYTHON" ]] || fail "no Python 3.11 or newer found" \
    "install it (sudo apt-get install python3.11 python3.11-venv, or pyenv/uv), then re-run"
ok "$("$PYTHON" --version) at $PYTHON"

# --- Docker daemon -----------------------------------------------------------------
# The Python checks in `invoke doctor` run later too; this one fails before we spend
# a minute installing packages on a machine that cannot run the database anyway.
step "Docker"
if command -v docker >/dev/null 2>&1; then
    docker info >/dev/null 2>&1 || fail "the Docker daemon is not reachable (${DOCKER_HOST:-default socket})" \
        "start Docker (sudo systemctl start docker), or point DOCKER_HOST at a running engine"
    ok "daemon answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
else
    ok "no docker CLI; the daemon is checked through the Python SDK below"
fi

# --- disk --------------------------------------------------------------------------
step "Disk"
free_kb="$(df -Pk /var/tmp | awk 'NR == 2 { print $4 }')"
(( free_kb >= MIN_FREE_GB * 1024 * 1024 )) || fail \
    "only $((free_kb / 1024)) MB free under /var/tmp; ${MIN_FREE_GB} GB are needed" \
    "free some space (docker system prune removes unused images and containers)"
ok "$((free_kb / 1024 / 1024)) GB free under /var/tmp"

# --- virtualenv and packages -------------------------------------------------------
step "Virtualenv"
if [[ -x "$VENV/bin/python" ]]; then
    ok "$VENV exists"
else
    "$PYTHON" -m venv "$VENV" || fail "could not create $VENV" \
        "install the venv module (sudo apt-get install python3-venv), then re-run"
    did "created $VENV"
    CHANGED+=("created .venv")
fi
step "Packages"
# Reinstall only when what we install from changed: a second run stays quiet and fast.
wanted="$(cat requirements.txt backend/requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$wanted" ]]; then
    ok "installed and up to date"
else
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r requirements.txt -e .
    echo "$wanted" >"$STAMP"
    did "installed requirements.txt and the toolkit (-e .)"
    CHANGED+=("installed packages")
fi
INVOKE="$VENV/bin/invoke"

# --- debootstrap (offline image builds) --------------------------------------------
# Only needed when the image is missing and no registry answers; `invoke doctor`
# knows both, so ask it rather than guess here.
step "Build tools"
# A failure here (bad settings, say) is explained by the full doctor run below.
missing_tools="$("$INVOKE" doctor --missing-tools 2>/dev/null || true)"
if [[ "$missing_tools" == *debootstrap* && -z "$(command -v debootstrap || ls /usr/sbin/debootstrap 2>/dev/null)" ]]; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1; }
        did "installed debootstrap (no registry answers: the image is built offline)"
        CHANGED+=("installed debootstrap")
    else
        ok "debootstrap missing and not root: doctor below says what to do"
    fi
else
    ok "nothing to install"
fi

# --- every check at once -----------------------------------------------------------
step "invoke doctor"
summary="$("$INVOKE" doctor --quiet)" || fail "a check failed (see the table above)" \
    "apply the fix in each FAIL row, then re-run scripts/onboard.sh"
ok "$summary"

# --- the database ------------------------------------------------------------------
step "Dev database"
if "$INVOKE" db.status --check >/dev/null 2>&1; then
    ok "running and at head"
else
    "$INVOKE" db.up
    did "started and migrated"
    CHANGED+=("started and migrated the dev database")
fi
# A non-default port, container name or image source chosen for this run is kept
# for every later shell (devdb.local.toml), so the next `invoke` finds this database.
if [[ "$("$INVOKE" db.remember 2>&1)" == *remembered* ]]; then
    CHANGED+=("saved this machine's choices in devdb.local.toml")
fi

URL="$("$INVOKE" db.url)"
if (( ${#CHANGED[@]} == 0 )); then
    # Run again: the same database as last time, so the short version.
    cat <<MSG

Connect:   $URL   (or: $INVOKE db.psql)
Next:      source .venv/bin/activate; invoke --list shows every task
MSG
else
    cat <<MSG

Connect:   $URL
           (password: devdb.toml, or DEVDB_PASSWORD / devdb.local.toml)
           $INVOKE db.psql        psql inside the container, no client needed
Next:      source .venv/bin/activate
           invoke --list           every task
           invoke db.status        versions, revisions, hypertables
           invoke db.revision -m "what changes"   a new migration
           invoke db.down | db.up  stop and start (data kept)
MSG
fi
if (( ${#CHANGED[@]} == 0 )); then
    say "Nothing changed: everything was already in place."
else
    changed="$(IFS=';'; echo "${CHANGED[*]}")"
    say "Done. Changed: ${changed//;/; }."
fi
