"""Turn `docker compose config --format json` (compose.yaml + swarm/compose.swarm.yaml, merged and
resolved by compose) into a file that `docker stack deploy` accepts.

Swarm reads a subset of the Compose Spec and refuses a file with properties it does not know, so:
- kept: what a swarm service can do (image, command, environment, secrets, networks, ports,
  healthcheck, deploy, read_only, cap_drop, user, logging, stop_grace_period, ...);
- turned into swarm's form: `tmpfs` paths become tmpfs mounts (swarm ignores `tmpfs:`),
  `mem_limit` and `pids_limit` become deploy.resources.limits, published ports numbers;
- left out, with the reason printed: `build` (images are built before), `pull_policy`,
  `depends_on` and `restart` (swarm has no start order; deploy.restart_policy restarts),
  `security_opt` (swarm services cannot set no-new-privileges).

Standard library only, so that it runs wherever docker does:
    docker compose -f compose.yaml -f swarm/compose.swarm.yaml config --format json \\
        | python3 swarm/stack_file.py [IMAGE_PREFIX] > stack.json
IMAGE_PREFIX (e.g. registry.example.org:5000/vdt2023) replaces the repository part of our own
images (vdt2023.invalid/...), for a swarm whose nodes pull from a registry.
"""

import json
import sys

KEPT = {
    "cap_add",
    "cap_drop",
    "command",
    "deploy",
    "entrypoint",
    "environment",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "labels",
    "logging",
    "networks",
    "ports",
    "read_only",
    "secrets",
    "stop_grace_period",
    "stop_signal",
    "user",
    "volumes",
    "working_dir",
}
# Compose keys that swarm expresses otherwise: the key it becomes (deploy.resources.limits.*).
CONVERTED = {"tmpfs": "volumes", "mem_limit": "memory", "pids_limit": "pids"}
OWN_IMAGES = "vdt2023.invalid/"
SIZE_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}


def tmpfs_mount(spec: str) -> dict:
    """`/tmp:size=16m,uid=101` as a swarm tmpfs mount. Swarm has no uid option: the tmpfs takes
    the owner and mode of the image's directory, so the images own those directories."""
    target, _, options = spec.partition(":")
    tmpfs: dict[str, int] = {}
    mount = {"type": "tmpfs", "target": target, "tmpfs": tmpfs}
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        if key == "size":
            number, unit = value.rstrip("kmgKMG"), value[len(value.rstrip("kmgKMG")) :].lower()
            tmpfs["size"] = int(number) * SIZE_UNITS.get(unit, 1)
    return mount


def service(name: str, spec: dict, image_prefix: str | None, notes: list[str]) -> dict:
    """One service in the form swarm accepts."""
    dropped = sorted(set(spec) - KEPT - set(CONVERTED))
    if dropped:
        notes.append(f"{name}: left out {', '.join(dropped)}")
    converted = {key: value for key, value in spec.items() if key in KEPT and value is not None}
    limits = {CONVERTED[key]: spec[key] for key in ("mem_limit", "pids_limit") if key in spec}
    if limits:
        resources = converted.setdefault("deploy", {}).setdefault("resources", {})
        resources.setdefault("limits", {}).update(limits)
    mounts = [tmpfs_mount(path) for path in spec.get("tmpfs", [])]
    if mounts:
        converted["volumes"] = converted.get("volumes", []) + mounts
    for port in converted.get("ports", []):
        port["published"] = int(port["published"])
        port.pop("host_ip", None)  # a host port binds every address of the node
    image = converted.get("image", "")
    if image_prefix and image.startswith(OWN_IMAGES):
        converted["image"] = f"{image_prefix.rstrip('/')}/{image.removeprefix(OWN_IMAGES)}"
    return converted


def stack(config: dict, image_prefix: str | None = None) -> tuple[dict, list[str]]:
    """The stack file for CONFIG, and notes on what was left out."""
    notes: list[str] = []
    services = {
        name: service(name, spec, image_prefix, notes) for name, spec in config["services"].items()
    }
    # Compose names networks, volumes and secrets after its project; swarm after the stack.
    top = {
        key: {name: {k: v for k, v in item.items() if k != "name"} for name, item in items.items()}
        for key, items in config.items()
        if key in ("networks", "volumes", "secrets")
    }
    return {"version": "3.9", "services": services, **top}, notes


def main() -> int:
    """Read compose's JSON on stdin, write the stack file on stdout, notes on stderr."""
    prefix = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None
    converted, notes = stack(json.load(sys.stdin), prefix)
    for note in notes:
        print(f"stack_file: {note}", file=sys.stderr)
    json.dump(converted, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
