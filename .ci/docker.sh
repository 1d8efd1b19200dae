#!/usr/bin/env bash
# CI machine set-up for `make sam-local`: a Docker daemon of our own, started and stopped by .ci/run.
#   .ci/docker.sh start   install docker.io when Docker is unusable (Debian package registry), start dockerd
#   .ci/docker.sh stop    stop the dockerd this script started (nothing else)
# Without root or without apt, `start` says so and returns 0: `make test` then skips the SAM step with one line.
set -uo pipefail
cd "$(dirname "$0")/.."
PIDFILE=.build/dockerd.pid
LOG=.build/dockerd.log

start() {
    if docker info >/dev/null 2>&1; then
        echo "docker: a daemon is already running; using it"
        return 0
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
            echo "docker: not installed, and this is not a root Debian machine; not installing it"
            return 0
        fi
        echo "docker: installing docker.io from the Debian package registry"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null ||
            { echo "docker: installing docker.io failed"; return 0; }
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "docker: dockerd needs root; not starting it"
        return 0
    fi
    mkdir -p .build
    # No systemd here: dockerd runs in the background and is stopped by `stop` (also when make test fails).
    nohup dockerd >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 60); do
        if docker info >/dev/null 2>&1; then
            echo "docker: dockerd $(cat "$PIDFILE") is up"
            return 0
        fi
        sleep 1
    done
    echo "docker: dockerd did not answer within 60 s (log: $LOG)"
    tail -20 "$LOG" || true
    return 0
}

stop() {
    [ -f "$PIDFILE" ] || return 0
    local pid
    pid=$(cat "$PIDFILE")
    rm -f "$PIDFILE"
    # Containers first (sam local removes its own; anything left is ours), then the daemon and its containerd.
    docker ps -q 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1 || true
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || { echo "docker: dockerd $pid stopped"; return 0; }
        sleep 1
    done
    kill -9 "$pid" 2>/dev/null || true
    echo "docker: dockerd $pid killed"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
