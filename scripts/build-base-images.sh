#!/usr/bin/env bash
# Build the local base images for the offline/CI build mode (no image registry
# reachable, only Debian's archive and PyPI):
#   vdt-local/python:3.14  Debian forky minbase + python3, python3-venv   (Python 3.14)
#   vdt-local/nginx:1.30   Debian forky minbase + nginx-light              (nginx 1.30)
# Forky carries the same upstream lines as the official python:3.14-alpine and
# nginx:1.30-alpine images (bookworm only has Python 3.11 / nginx 1.22). Dockerfiles
# take these names through their PYTHON_IMAGE / NGINX_IMAGE build args.
#
# Usage: scripts/build-base-images.sh [--force]   (existing images are kept unless --force)
set -euo pipefail

PY_IMAGE=vdt-local/python:3.14
NGINX_IMAGE=vdt-local/nginx:1.30

force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

"$(dirname "$0")/start-docker.sh"

todo=()
for img in "$PY_IMAGE" "$NGINX_IMAGE"; do
  if ((force)) || ! docker image inspect "$img" >/dev/null 2>&1; then
    todo+=("$img")
  else
    echo "build-base-images: $img exists, skipping (--force rebuilds)"
  fi
done
((${#todo[@]})) || exit 0
[[ $(id -u) -eq 0 ]] || { echo "build-base-images: debootstrap needs root" >&2; exit 1; }

# Use whatever Debian mirror this host's apt already uses: no host name in the repo.
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
[[ -n $mirror ]] || { echo "build-base-images: no URIs: in debian.sources" >&2; exit 1; }

work=$(mktemp -d /tmp/vdt-base.XXXXXX)
kill_tree() {
  local c
  for c in $(pgrep -P "$1"); do kill_tree "$c"; done
  kill "$1" 2>/dev/null || true
}
cleanup() {
  # On interruption: stop our still-running builds (debootstrap and its children)
  # and release mounts they left, before deleting the work dir.
  local j
  for j in $(jobs -p); do kill_tree "$j"; done
  wait 2>/dev/null || true
  findmnt -rn -o TARGET | grep "^$work/" | sort -r | xargs -r umount -l || true
  rm -rf "$work"
}
trap cleanup EXIT

# Shrink a root fs the way debian:*-slim does, now and for later apt installs.
slim() {
  local r=$1
  cat >"$r/etc/dpkg/dpkg.cfg.d/90-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
CFG
  find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  rm -rf "$r"/usr/share/{man,info,lintian}/* "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/* \
    "$r"/var/cache/debconf/*-old "$r"/var/log/*.log "$r"/var/log/apt/*
  # debootstrap copied the host's; Docker supplies its own at run time.
  : >"$r/etc/hostname"
  : >"$r/etc/resolv.conf"
  # Alpine-based official images have busybox `wget`; healthchecks written as
  # `wget -q -O /dev/null http://127.0.0.1:PORT/...` then work on both bases.
  ln -s /usr/bin/busybox "$r/usr/local/bin/wget"
  # The host's trust store (may hold a site CA) so TLS, pip included, works in builds.
  cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
}

build() {
  local name=$1 r="$work/${1//[:\/]/_}" pkgs out old changes=()
  case $name in
    "$PY_IMAGE")
      # python-is-python3: `python` exists as in the official image.
      pkgs=python3,python3-venv,python-is-python3,ca-certificates,busybox
      changes=(--change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]') ;;
    "$NGINX_IMAGE")
      pkgs=nginx-light,ca-certificates,busybox
      changes=(--change 'EXPOSE 80' --change 'CMD ["nginx", "-g", "daemon off;"]') ;;
  esac
  # forky has no debootstrap script of its own in bookworm; sid's fits.
  debootstrap --variant=minbase --include="$pkgs" forky "$r" "$mirror" \
    /usr/share/debootstrap/scripts/sid >"$r.log" 2>&1 ||
    { tail -n 20 "$r.log" >&2; echo "build-base-images: debootstrap for $name failed" >&2; return 1; }
  slim "$r"
  # No pip configuration of the host's goes in: Debian's pip trusts the system store above.
  case $name in
    "$NGINX_IMAGE")
      # Like the official image: logs to the container's stdout/stderr and a
      # user "nginx" with uid/gid 101 (Debian itself only has www-data, 33).
      ln -sf /dev/stdout "$r/var/log/nginx/access.log"
      ln -sf /dev/stderr "$r/var/log/nginx/error.log"
      chroot "$r" groupadd -r -g 101 nginx
      chroot "$r" useradd -r -u 101 -g 101 -M -d /nonexistent -s /usr/sbin/nologin nginx ;;
  esac
  # With --force, the image being replaced is removed afterwards (unless a container uses it).
  old=$(docker image inspect -f '{{.Id}}' "$name" 2>/dev/null || true)
  tar -C "$r" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
    docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      "${changes[@]}" - "$name" >/dev/null
  if [[ $name == "$NGINX_IMAGE" ]]; then
    # Graceful stop as in the official image; `docker import --change` (20.10) refuses STOPSIGNAL.
    # (Output kept for failures only: the client nags about the legacy builder.)
    out=$(printf 'FROM %s\nSTOPSIGNAL SIGQUIT\n' "$name" | docker build -q -t "$name" - 2>&1) ||
      { echo "$out" >&2; return 1; }
  fi
  if [[ -n $old && $old != "$(docker image inspect -f '{{.Id}}' "$name")" ]]; then
    docker rmi "$old" >/dev/null 2>&1 || true
  fi
  echo "build-base-images: built $name"
}

# One debootstrap per image, in parallel: each is mostly single-threaded
# (package list parsing, dpkg), so two cores give about the time of one.
pids=()
for img in "${todo[@]}"; do
  build "$img" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
((rc == 0)) || exit 1

# Smoke tests, a second each: what the Dockerfiles rely on. A failing image is
# untagged so that the next run builds it again instead of skipping it.
smoke() {
  case $1 in
    "$PY_IMAGE")
      docker run --rm "$1" python3 -c 'import ssl, sqlite3, venv, sys; print(sys.version.split()[0])' ;;
    "$NGINX_IMAGE")
      # `server ... resolve` in an upstream needs nginx >= 1.27.3; -t proves the parser takes it.
      docker run --rm "$1" sh -c 'nginx -v && printf "%s\n" "events {}" "http { resolver 127.0.0.11;" \
        "upstream u { zone u 64k; server backend:5000 resolve; } server { location / { proxy_pass http://u; } } }" \
        >/tmp/t.conf && nginx -q -t -c /tmp/t.conf' ;;
  esac
}
for img in "${todo[@]}"; do
  smoke "$img" || { docker rmi "$img" >/dev/null; echo "build-base-images: $img failed its smoke test" >&2; exit 1; }
done
