#!/usr/bin/env bash
# Install compose v2 (the `docker compose` plugin) and buildx (BuildKit) from Debian forky,
# pinned, on a bookworm host whose own Debian has only compose v1 and no buildx.
#
# The machine's apt sources stay untouched: apt gets a sources directory, package lists and a
# cache of its own (under $FORKY_APT_DIR) holding one forky entry on the same mirror URI that
# /etc/apt/sources.list.d/debian.sources names. Only the two .deb files are downloaded (apt checks
# them against forky's signed Release file) and unpacked into /usr/local/lib/docker/cli-plugins,
# where the docker CLI looks for plugins: dpkg's database is not changed, so bookworm's
# `docker-compose` v1 package stays installed as it was. Both plugins need only libc6 >= 2.34.
# Idempotent: does nothing when the pinned versions already answer.
set -euo pipefail

COMPOSE_VERSION=2.40.3
BUILDX_VERSION=0.29.1
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
FORKY_APT_DIR=${FORKY_APT_DIR:-/var/cache/vdt-forky-apt}

installed() {
  # True when `docker VERB version` reports the pinned VERSION.
  docker "$1" version 2>/dev/null | grep -q "v\?$2"
}
if installed compose "$COMPOSE_VERSION" && installed buildx "$BUILDX_VERSION"; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-compose-v2: not root; cannot install into $PLUGIN_DIR" >&2
  exit 1
fi

# The mirror this machine already uses (no registry host is written into the repository).
mirror=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
if [[ -z $mirror ]]; then
  echo "install-compose-v2: no Debian URI in /etc/apt/sources.list.d/debian.sources" >&2
  exit 1
fi

mkdir -p "$FORKY_APT_DIR"/{sources,lists/partial,cache/archives/partial,debs}
cat >"$FORKY_APT_DIR/sources/forky.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: forky
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
# Dir::Etc::SourceList=/dev/null: only the forky entry above, not the machine's bookworm ones.
# Check-Valid-Until=false: the mirror's forky Release file is past its Valid-Until date.
apt_opts=(
  -o "Dir::Etc::SourceList=/dev/null"
  -o "Dir::Etc::SourceParts=$FORKY_APT_DIR/sources"
  -o "Dir::State::Lists=$FORKY_APT_DIR/lists"
  -o "Dir::Cache=$FORKY_APT_DIR/cache"
  -o "Acquire::Check-Valid-Until=false"
)
apt-get "${apt_opts[@]}" update -qq
cd "$FORKY_APT_DIR/debs"
rm -f ./*.deb
# apt downloads as its sandbox user _apt, which must be able to write here.
chown _apt "$FORKY_APT_DIR/debs" 2>/dev/null || true
apt-get "${apt_opts[@]}" download -qq \
  "docker-compose=${COMPOSE_VERSION}*" "docker-buildx=${BUILDX_VERSION}*"

mkdir -p "$PLUGIN_DIR"
for deb in ./*.deb; do
  unpacked=$(mktemp -d)
  dpkg-deb -x "$deb" "$unpacked"
  # Each package ships its plugin binary under .../docker/cli-plugins/.
  find "$unpacked" -path '*/docker/cli-plugins/*' -type f -exec install -m 0755 {} "$PLUGIN_DIR/" \;
  rm -rf "$unpacked"
done

installed compose "$COMPOSE_VERSION" || { echo "install-compose-v2: compose $COMPOSE_VERSION does not answer" >&2; exit 1; }
installed buildx "$BUILDX_VERSION" || { echo "install-compose-v2: buildx $BUILDX_VERSION does not answer" >&2; exit 1; }
echo "install-compose-v2: $(docker compose version), $(docker buildx version)"
