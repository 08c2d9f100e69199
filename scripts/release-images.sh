#!/usr/bin/env bash
# Build the three images and push them, tagged, to a registry: what the release workflow
# (.github/workflows/release.yml) runs on a version tag, and what the cluster suite runs against
# its own registry (tests/test_cluster.py), so that the workflow calls a tested script.
#
#   scripts/release-images.sh REGISTRY/PREFIX TAG      e.g. ghcr.io/you/vdt2023 v1.2.0
#
# It builds with BuildKit from compose.yaml's own build settings (`docker buildx bake`), so the
# images are exactly compose's: REGISTRY/PREFIX/{webserver,backend,database}:TAG, labelled with
# the version and the commit. Environment:
#   PLATFORMS     (linux/amd64,linux/arm64) what to build for; more than one needs a
#                 docker-container builder (made here, named vdt2023-release) and QEMU for the
#                 foreign ones (binfmt, as GitHub's runners have after docker/setup-qemu's step)
#   ATTESTATIONS  (1) attach SLSA provenance (mode=max) and an SBOM to each image; needs the
#                 docker-container builder too. 0: none (the docker driver cannot attach them).
#   OFFLINE=1     add compose.offline.yaml (local bases, the database stand-in)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -ne 2 ]]; then
  echo "usage: $0 REGISTRY/PREFIX TAG" >&2
  exit 2
fi
prefix=${1%/}
tag=$2
platforms=${PLATFORMS:-linux/amd64,linux/arm64}
attestations=${ATTESTATIONS:-1}
targets=(webserver backend database)

files=(-f compose.yaml)
if [[ ${OFFLINE:-} == 1 ]]; then
  # Its builds reach PyPI through the host's network (compose.offline.yaml: network: host).
  files+=(-f compose.offline.yaml --allow=network.host)
fi

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
sets=(
  --set "*.platform=$platforms"
  --set "*.labels.org.opencontainers.image.version=$tag"
  --set "*.labels.org.opencontainers.image.revision=$revision"
)
for target in "${targets[@]}"; do
  sets+=(--set "$target.tags=$prefix/$target:$tag")
done
if [[ $attestations == 1 ]]; then
  sets+=(--set "*.attest=type=provenance,mode=max" --set "*.attest=type=sbom")
fi

builder=()
if [[ $platforms == *,* || $attestations == 1 ]]; then
  # The docker driver builds one platform and attaches nothing: use a BuildKit container.
  docker buildx inspect vdt2023-release >/dev/null 2>&1 ||
    docker buildx create --name vdt2023-release --driver docker-container --bootstrap >/dev/null
  builder=(--builder vdt2023-release)
fi

docker buildx bake "${builder[@]}" "${files[@]}" "${sets[@]}" --push "${targets[@]}"
for target in "${targets[@]}"; do
  echo "release: pushed $prefix/$target:$tag ($platforms)"
done
