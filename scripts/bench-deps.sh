#!/usr/bin/env bash
# Installs what `make bench` needs that pip cannot provide: wrk (HTTP load), valgrind
# (benchmarks/instructions.py counts instructions with callgrind), and redis-server when
# it is missing (benchmarks/serve.py starts a throwaway one for the several-worker run). Best effort, like scripts/test-deps.sh: a benchmark that lacks
# its tool says so.
set -u

say() { printf 'bench-deps: %s\n' "$*" >&2; }

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

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ "${#missing[@]}" -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    say "apt-get not available; install ${missing[*]} yourself"
    exit 0
fi
say "installing ${missing[*]}"
as_root apt-get update -qq || { say "apt-get update failed"; exit 0; }
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || say "could not install ${missing[*]}"
exit 0
