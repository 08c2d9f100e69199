#!/usr/bin/env bash
# install-from-forky.sh PACKAGE[=VERSION]... : put the programs of Debian forky packages on PATH
# of this bookworm machine, e.g. `scripts/install-from-forky.sh promtool` for promtool 3.5.3.
#
# For self-contained programs (Go binaries such as promtool, the exporters and docker's compose
# and buildx plugins): the packages are downloaded without their dependencies, checked by apt
# against forky's signed Release file, unpacked under $FORKY_ROOT/PACKAGE, their usr/bin programs
# linked into /usr/local/bin (their /usr/share/prometheus data into /usr/share/prometheus, e.g.
# Alertmanager's templates) and their docker CLI plugins copied to $PLUGIN_DIR. dpkg's database and the machine's apt sources stay untouched: apt gets a
# sources directory, lists and cache of its own (under $FORKY_APT_DIR) with one forky entry on
# the mirror URI that /etc/apt/sources.list.d/debian.sources names.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 PACKAGE[=VERSION]..." >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-from-forky: not root; cannot install into /usr/local/bin" >&2
  exit 1
fi
FORKY_APT_DIR=${FORKY_APT_DIR:-/var/cache/vdt-forky-apt}
FORKY_ROOT=${FORKY_ROOT:-/opt/forky}
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins # where the docker CLI looks for plugins

# The mirror this machine already uses (no registry host is written into the repository).
mirror=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
if [[ -z $mirror ]]; then
  echo "install-from-forky: no Debian URI in /etc/apt/sources.list.d/debian.sources" >&2
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
# SourceList=/dev/null: only the forky entry, not the machine's bookworm ones.
# Check-Valid-Until=false: the mirror's forky Release file is past its Valid-Until date.
apt_opts=(
  -o "Dir::Etc::SourceList=/dev/null"
  -o "Dir::Etc::SourceParts=$FORKY_APT_DIR/sources"
  -o "Dir::State::Lists=$FORKY_APT_DIR/lists"
  -o "Dir::Cache=$FORKY_APT_DIR/cache"
  -o "Acquire::Check-Valid-Until=false"
)
apt-get "${apt_opts[@]}" update -qq
work=$(mktemp -d "$FORKY_APT_DIR/debs/XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt downloads as its sandbox user _apt, which must be able to write here.
chown _apt "$work" 2>/dev/null || true
cd "$work"
apt-get "${apt_opts[@]}" download -qq "$@"
for deb in ./*.deb; do
  package=$(dpkg-deb -f "$deb" Package)
  rm -rf "${FORKY_ROOT:?}/$package"
  mkdir -p "$FORKY_ROOT/$package"
  dpkg-deb -x "$deb" "$FORKY_ROOT/$package"
  for program in "$FORKY_ROOT/$package"/usr/bin/*; do
    [[ -e $program ]] || continue
    name=$(basename "$program")
    # Never shadow a program of the machine's own (forky's docker-compose ships a v2
    # `docker-compose` beside its plugin; bookworm's v1 stays what that name runs).
    found=$(command -v "$name" || true)
    if [[ -n $found && $(readlink -f "$found") != "$FORKY_ROOT"/* ]]; then
      echo "install-from-forky: $name is already $found; not linked" >&2
      continue
    fi
    ln -sf "$program" "/usr/local/bin/$name"
  done
  # Data that a program opens at a fixed path (Alertmanager's default.tmpl under
  # /usr/share/prometheus/alertmanager) is linked there, unless the machine has its own.
  for data in "$FORKY_ROOT/$package"/usr/share/prometheus/*; do
    [[ -e $data ]] || continue
    mkdir -p /usr/share/prometheus
    target="/usr/share/prometheus/$(basename "$data")"
    if [[ -e $target && $(readlink -f "$target") != "$FORKY_ROOT"/* ]]; then
      echo "install-from-forky: $target is the machine's own; not linked" >&2
      continue
    fi
    ln -sfn "$data" "$target"
  done
  for plugin in "$FORKY_ROOT/$package"/usr/{libexec,lib}/docker/cli-plugins/*; do
    [[ -e $plugin ]] && install -D -m 0755 "$plugin" "$PLUGIN_DIR/$(basename "$plugin")"
  done
  echo "install-from-forky: $package $(dpkg-deb -f "$deb" Version) in $FORKY_ROOT/$package"
done
