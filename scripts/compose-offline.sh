#!/bin/sh
# Run compose in the offline/CI mode: local base images, nx-27017 in place of mongo:8.0
# (see compose.offline.yaml for what is substituted and why). Any compose arguments follow:
#
#   scripts/compose-offline.sh up --build -d --scale backend=2
#   scripts/compose-offline.sh down
#
# Before `up` or `build` it makes sure that the Docker engine answers, that the base images
# exist (scripts/build-base-images.sh, about 85 s the first time) and that the secrets exist.
set -eu
cd "$(dirname "$0")/.."

case ${1:-} in
  up | build)
    scripts/build-base-images.sh
    scripts/make-secrets.sh >/dev/null
    ;;
esac

# Compose v2 (docker compose) where it exists, else v1 (docker-compose): same files, same result.
if docker compose version >/dev/null 2>&1; then
  exec docker compose -f compose.yaml -f compose.offline.yaml "$@"
fi
exec docker-compose -f compose.yaml -f compose.offline.yaml "$@"
