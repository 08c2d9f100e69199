#!/usr/bin/env bash
# Install compose v2 (the `docker compose` plugin) and buildx (BuildKit) from Debian forky,
# pinned, on a bookworm host whose own Debian has only compose v1 and no buildx.
#
# The machine's apt sources stay untouched (scripts/install-from-forky.sh): only the two .deb
# files are downloaded and their plugins copied to /usr/local/lib/docker/cli-plugins, where the
# docker CLI looks for plugins; dpkg's database is not changed, so bookworm's `docker-compose` v1
# package stays installed as it was. Both plugins need only libc6 >= 2.34.
# Idempotent: does nothing when the pinned versions already answer.
set -euo pipefail

COMPOSE_VERSION=2.40.3
BUILDX_VERSION=0.29.1

installed() {
  # True when `docker VERB version` reports the pinned VERSION.
  docker "$1" version 2>/dev/null | grep -q "v\?$2"
}
if installed compose "$COMPOSE_VERSION" && installed buildx "$BUILDX_VERSION"; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-compose-v2: not root; cannot install the docker CLI plugins" >&2
  exit 1
fi

# Only the two packages' plugins, unpacked beside dpkg (scripts/install-from-forky.sh).
"$(dirname "$0")/install-from-forky.sh" \
  "docker-compose=${COMPOSE_VERSION}*" "docker-buildx=${BUILDX_VERSION}*"

installed compose "$COMPOSE_VERSION" || { echo "install-compose-v2: compose $COMPOSE_VERSION does not answer" >&2; exit 1; }
installed buildx "$BUILDX_VERSION" || { echo "install-compose-v2: buildx $BUILDX_VERSION does not answer" >&2; exit 1; }
echo "install-compose-v2: $(docker compose version), $(docker buildx version)"
