#!/usr/bin/env bash
# A local stand-in for the `provided.al2023` Lambda base image, for `sam local invoke --invoke-image`.
#
# Why: no container registry is reachable from this machine kind, so public.ecr.aws/lambda/provided:al2023
# cannot be pulled. SAM only needs a base it can build its "rapid" image on (`ADD aws-lambda-rie`, then a
# `RUN mv … && chmod …`, so /bin/sh, mv and chmod), and our binary needs glibc. This root filesystem is made
# from two Debian packages (libc6 and busybox-static: ~5 MB) and imported with `docker import`.
# Where a registry is reachable, use the real image instead: drop --invoke-image/--skip-pull-image, or pass
# --invoke-image public.ecr.aws/lambda/provided:al2023.
#
# Usage: tests/sam_local/base-image.sh IMAGE   (rebuilds only when this script changed)
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGE=${1:?usage: $0 IMAGE}
STAMP=$(sha256sum "$0" | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "stamp"}}' "$IMAGE" 2>/dev/null)" = "$STAMP" ]; then
    echo "base image $IMAGE is up to date"
    exit 0
fi
WORK=.build/base-image
rm -rf "$WORK" && mkdir -p "$WORK/debs" "$WORK/rootfs"
download() { (cd "$WORK/debs" && apt-get download -qq libc6 busybox-static); }
if ! download 2>/dev/null; then
    # A fresh machine may have no package lists yet.
    [ "$(id -u)" = 0 ] && apt-get update -qq
    download
fi
for deb in "$WORK"/debs/*.deb; do
    dpkg-deb -x "$deb" "$WORK/rootfs"
done
ROOT=$WORK/rootfs
mkdir -p "$ROOT"/{bin,tmp,var/task,var/runtime,opt,etc}
chmod 1777 "$ROOT/tmp"
for tool in sh mv chmod cp ls cat env; do
    ln -sf busybox "$ROOT/bin/$tool"
done
# Debian's usrmerge layout: the loader is asked for as /lib64/ld-linux-x86-64.so.2.
if [ -d "$ROOT/usr/lib64" ] && [ ! -e "$ROOT/lib64" ]; then ln -s usr/lib64 "$ROOT/lib64"; fi
if [ -d "$ROOT/usr/lib" ] && [ ! -e "$ROOT/lib" ]; then ln -s usr/lib "$ROOT/lib"; fi
echo 'root:x:0:0:root:/root:/bin/sh' >"$ROOT/etc/passwd"
echo 'sbx_user1051:x:993:990::/home/sbx_user1051:/sbin/nologin' >>"$ROOT/etc/passwd"
echo 'root:x:0:' >"$ROOT/etc/group"
tar -C "$ROOT" -c . | docker import \
    --change "LABEL stamp=$STAMP" \
    --change 'ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime PATH=/bin:/usr/bin' \
    --change 'WORKDIR /var/task' - "$IMAGE" >/dev/null
echo "built base image $IMAGE ($(du -sh "$ROOT" | cut -f1) root filesystem from libc6 and busybox-static)"
