#!/bin/sh
# The database's healthcheck: healthy means "the application's user can log in", not merely
# "mongod answers". An unauthenticated ping succeeds even when the first init failed half way
# (auth on, root user made, no app user), and the backends could then never log in.
#
# Unhealthy while the official entrypoint's temporary init mongod runs (it writes the pid file
# below, on localhost only, before the init scripts and removes it after its shutdown): the app
# user may not exist yet, and that mongod is about to stop.
# The password is read by mongosh from the secret file, so it is in no argument list.
set -eu

# The entrypoint's temporary mongod (docker-library/mongo 8.0 docker-entrypoint.sh).
TEMP_MONGOD_PIDFILE="${TMPDIR:-/tmp}/docker-entrypoint-temp-mongod.pid"
if [ -e "$TEMP_MONGOD_PIDFILE" ]; then
  echo "app-user-can-log-in: the entrypoint's first init is still running"
  exit 1
fi

: "${MONGO_INITDB_DATABASE:?set in compose.yaml}"
: "${MONGO_APP_USERNAME:?set in compose.yaml}"
: "${MONGO_APP_PASSWORD_FILE:?set in compose.yaml}"

# The image sets HOME=/data/db: mongosh would leave its session logs in the data volume.
HOME=$(mktemp -d)
export HOME
trap 'rm -rf "$HOME"' EXIT

# mongosh, or the legacy `mongo` shell of images older than 5.0 (MONGO_IMAGE, e.g. for CPUs
# without AVX), which has cat() where mongosh has Node's fs.
shell=mongosh
command -v mongosh >/dev/null 2>&1 || shell=mongo

# A JavaScript string literal holding $1.
js_string() {
  printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

if ! "$shell" --quiet --norc "mongodb://127.0.0.1:27017/$MONGO_INITDB_DATABASE" --eval "
  const user = $(js_string "$MONGO_APP_USERNAME");
  const file = $(js_string "$MONGO_APP_PASSWORD_FILE");
  const password = (typeof require === 'function'
    ? require('fs').readFileSync(file, 'utf8') : cat(file)).trim();
  const login = db.auth(user, password);  // mongosh: { ok: 1 }; the legacy shell: 1
  if (login !== 1 && !(login && login.ok === 1)) throw new Error('authentication failed');
  const listed = db.runCommand({ listCollections: 1, nameOnly: true, authorizedCollections: true });
  if (listed.ok !== 1) throw new Error('listCollections: ' + listed.errmsg);
"; then
  echo "app-user-can-log-in: $MONGO_APP_USERNAME cannot log in to $MONGO_INITDB_DATABASE." \
    "If this lasts, the first init failed or was interrupted: docker compose down -v, then up again."
  exit 1
fi
