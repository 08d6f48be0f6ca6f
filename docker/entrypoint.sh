#!/bin/sh
# Container entrypoint. `migrate` prepares the database and the first admin, then exits
# (the compose `migrate` service runs it once before the app starts); anything else is
# exec'd as given, so the image's CMD (gunicorn) becomes PID 1 and receives signals.
set -eu

if [ "${1:-}" = "migrate" ]; then
    flask --app app db upgrade
    flask --app app users bootstrap
    exit 0
fi

exec "$@"
