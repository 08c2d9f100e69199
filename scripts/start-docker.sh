#!/usr/bin/env bash
# Make a Docker engine answer on this machine, idempotently.
# The dev/CI machines are plain Debian hosts with no init system running
# dockerd for us, so every script that needs Docker calls this first.
#   - installs docker.io, docker-compose (v1) and debootstrap if missing (root only);
#   - starts dockerd in the background (log: /var/log/dockerd.log) unless
#     `docker info` already answers;
#   - waits at most DOCKER_START_TIMEOUT seconds (default 60) for it.
set -euo pipefail

timeout_s="${DOCKER_START_TIMEOUT:-60}"

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "start-docker: missing ${missing[*]} and not root; install them first" >&2
    exit 1
  fi
  echo "start-docker: installing ${missing[*]}" >&2
  # A fresh machine may have no package lists yet; update once, quietly.
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

docker info >/dev/null 2>&1 && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "start-docker: docker does not answer and we are not root to start it" >&2
  exit 1
fi
# Serialise concurrent callers (parallel scripts/CI steps) so only one starts dockerd.
exec 9>/run/start-docker.lock
flock 9
if ! docker info >/dev/null 2>&1 && ! pgrep -x dockerd >/dev/null; then
  echo "start-docker: starting dockerd (log: /var/log/dockerd.log)" >&2
  # setsid + nohup: the daemon must outlive this script and its process group.
  setsid nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
fi

for ((i = 0; i < timeout_s; i++)); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "start-docker: dockerd did not answer within ${timeout_s}s; see /var/log/dockerd.log" >&2
tail -n 20 /var/log/dockerd.log >&2 || true
exit 1
