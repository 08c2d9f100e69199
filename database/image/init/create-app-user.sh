# shellcheck shell=bash
# Create the application's MongoDB user: readWrite on its own database (vdt2023), nothing else.
#
# The official mongo image sources this file from /docker-entrypoint-initdb.d once, on the first
# start with an empty /data/db, while a temporary mongod runs on localhost without --auth. Its
# entrypoint (bash) defines `mongo`: the mongosh command line for that mongod. The password is
# read by the shell itself from the secret file, so it appears in no argument list.
#
# Exercised only where mongo:8.0 can be pulled: the offline/CI mode replaces MongoDB with a
# stand-in that has no users (see compose.offline.yaml). If this script fails, or the first start
# is interrupted, the container exits and `restart: unless-stopped` starts it again: the
# entrypoint then sees an initialised /data/db and skips init, so mongod runs with auth and no app
# user. The healthcheck (app-user-can-log-in.sh) then stays unhealthy and says so; the way out
# is to remove the half-initialised volume (docker compose down -v) and start again.

: "${MONGO_INITDB_DATABASE:?set in compose.yaml}"
: "${MONGO_APP_USERNAME:?set in compose.yaml}"
: "${MONGO_APP_PASSWORD_FILE:?set in compose.yaml}"
if [ ! -s "$MONGO_APP_PASSWORD_FILE" ]; then
  echo "create-app-user: $MONGO_APP_PASSWORD_FILE is missing or empty (scripts/make-secrets.sh)" >&2
  exit 1
fi

# A JavaScript string literal holding $1.
js_string() {
  printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# mongosh has Node's fs; the legacy `mongo` shell (images older than 5.0) has cat().
# shellcheck disable=SC2154  # `mongo` comes from the image's docker-entrypoint.sh
"${mongo[@]}" "$MONGO_INITDB_DATABASE" --eval "
  const name = $(js_string "$MONGO_APP_USERNAME");
  const file = $(js_string "$MONGO_APP_PASSWORD_FILE");
  const password = (typeof require === 'function'
    ? require('fs').readFileSync(file, 'utf8') : cat(file)).trim();
  db.createUser({ user: name, pwd: password, roles: [{ role: 'readWrite', db: db.getName() }] });
  print('create-app-user: ' + name + ' may read and write ' + db.getName() + ', nothing else');
"
