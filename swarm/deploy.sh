#!/usr/bin/env bash
# Deploy the stack on Docker Swarm: build the images, merge compose.yaml with
# swarm/compose.swarm.yaml, turn that into a stack file and `docker stack deploy` it.
#
#   swarm/deploy.sh                      one node: the images built here are used as they are
#   swarm/deploy.sh REGISTRY/PREFIX      a cluster: the images are tagged REGISTRY/PREFIX/NAME:TAG
#                                        and pushed there, and every node pulls them
#
# Run it on a manager (`docker swarm init` first). Environment: STACK (vdt2023), TAG (latest),
# OFFLINE=1 adds compose.offline.yaml (no image registry: local bases, the database stand-in),
# ENCRYPT_OVERLAY=0 leaves the overlays unencrypted (for kernels without IPsec ESP),
# SECRETS_DIR (./secrets; scripts/make-secrets.sh adds what is missing), HTTPS_PORT (8443),
# HTTP_PORT (8080, a redirect to HTTPS), and the webserver's front-door settings (compose.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."

stack=${STACK:-vdt2023}
prefix=${1:-}
export TAG=${TAG:-latest}
files=(-f compose.yaml)
if [[ ${OFFLINE:-} == 1 ]]; then
  scripts/build-base-images.sh
  files+=(-f compose.offline.yaml)
fi
files+=(-f swarm/compose.swarm.yaml)
# Encrypted overlays need IPsec (ESP, AES-GCM) in every node's kernel; ENCRYPT_OVERLAY=0 leaves
# them out where it is missing (they would carry nothing between nodes there).
if [[ ${ENCRYPT_OVERLAY:-1} != 0 ]]; then
  files+=(-f swarm/compose.encrypted.yaml)
fi

if [[ $(docker info --format '{{.Swarm.ControlAvailable}}') != true ]]; then
  echo "deploy: this engine is not a swarm manager; run 'docker swarm init' first" >&2
  exit 1
fi
scripts/make-secrets.sh "${SECRETS_DIR:-secrets}" >/dev/null

docker compose "${files[@]}" build
resolve=never # one node: the images are here, and no registry is asked for their digests
if [[ -n $prefix ]]; then
  resolve=always
  for image in $(docker compose "${files[@]}" config --images | grep '^vdt2023\.invalid/'); do
    target="${prefix%/}/${image#vdt2023.invalid/}"
    docker tag "$image" "$target"
    docker push "$target"
  done
fi

stack_file=$(mktemp --suffix=.json)
trap 'rm -f "$stack_file"' EXIT
docker compose "${files[@]}" config --format json | python3 swarm/stack_file.py "$prefix" >"$stack_file"
docker stack deploy --prune --resolve-image "$resolve" --with-registry-auth -c "$stack_file" "$stack"
echo "deploy: stack $stack deployed; watch it with: docker stack ps $stack"
