#!/usr/bin/env bash
# Build Threadline's Dockerfile and run a command in the image, on a machine with no Docker engine and no
# container registry (CI). With Docker, use `docker build .` / `docker compose up` instead; see README.
#
# Usage: scripts/image-build.sh [-- COMMAND ...]
#   env IMAGE (default threadline:ci), CONTEXT (default: the repository root).
#
# How: the Dockerfile takes its base from `ARG BASE` (python:3.12-slim by default); here the base is a Debian
# bookworm made by debootstrap from Debian's packages (python3.11 + venv) and imported as a local image, cached
# as localhost/threadline-base:bookworm. podman builds with chroot isolation on vfs storage; buildah runs the
# command in the built image (podman run fails on rlimits in such sandboxes). Networking inside is the host's.
# Exit codes: the command's own, 3 when podman/buildah/debootstrap are missing and cannot be installed (not root).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
context=${CONTEXT:-$here}
image=localhost/${IMAGE:-threadline:ci}
base=localhost/threadline-base:bookworm
[ "${1:-}" = "--" ] && shift
S=(--storage-driver vfs)

have_tools() { command -v podman && command -v buildah && command -v debootstrap; } >/dev/null
if ! have_tools; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "image-build: podman, buildah and debootstrap are missing (as root with apt, this script installs them)" >&2
    exit 3
  fi
  echo "image-build: installing podman buildah debootstrap (apt)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah debootstrap >/dev/null
fi

# The base is built once per machine and kept in podman's storage: later builds start from it.
if ! podman "${S[@]}" image exists "$base" 2>/dev/null; then
  echo "image-build: making the Debian base $base (debootstrap, about a minute, once)" >&2
  root=$(mktemp -d) && chmod 755 "$root"   # the image root must be traversable by the non-root user
  trap 'rm -rf "$root"' EXIT
  # No python3-pip: like the slim image, pip exists only in the venv the build stage makes (ensurepip).
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" >/dev/null
  # pip inside the build must trust the same certificate authorities as this machine.
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  tar -C "$root" -c . | podman "${S[@]}" import - "$base" >/dev/null
  rm -rf "$root" && trap - EXIT
fi

# --layers=false: on vfs every cached layer is a full copy of the image (minutes); Docker users keep the layer
# cache. --format docker keeps HEALTHCHECK and SHELL, which the OCI format drops.
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$context/pyproject.toml")
podman "${S[@]}" build --isolation chroot --layers=false --format docker \
  --build-arg BASE="$base" --build-arg VERSION="$version" -t "$image" "$context" >&2
# The image this replaced is now untagged: drop it, or each build leaves half a gigabyte behind.
podman "${S[@]}" image prune --force >/dev/null

if [ "$#" -gt 0 ]; then
  ctr=$(buildah "${S[@]}" from "$image")
  trap 'buildah "${S[@]}" rm "$ctr" >/dev/null' EXIT
  buildah "${S[@]}" run --isolation chroot "$ctr" -- "$@"
fi
