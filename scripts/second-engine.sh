#!/bin/bash
# A second Docker engine on this machine, reached over TCP at an address that is
# not 127.0.0.0/8, so the toolkit treats it as a remote engine: ports are
# published on that address and readiness, Alembic and psql go there too.
#
#   sudo scripts/second-engine.sh start [IMAGE...]   # prints the DOCKER_HOST to use
#   DOCKER_HOST=tcp://198.18.0.1:23750 .venv/bin/pytest tests/remote
#   sudo scripts/second-engine.sh stop
#
# The address lives on the loopback interface (198.18.0.0/15 is reserved for
# network tests and routed nowhere), so the engine's unauthenticated TCP API is
# reachable from this machine only. It uses its own bridge, data and exec roots,
# and no iptables rules (Docker's userland proxy publishes ports), so it never
# touches the main engine's containers, images or firewall chains. `start` loads
# the given images (default: the offline reference image) from the main engine.
set -Eeuo pipefail

ADDRESS=198.18.0.1
PORT=23750
BRIDGE=devdb-engine2
SUBNET=172.31.250.1/24
ROOT=/var/tmp/devdb-second-engine
RUN=/var/run/devdb-second-engine
export_line="export DOCKER_HOST=tcp://$ADDRESS:$PORT"

fail() {
	echo "ERROR: $1" >&2
	echo "TIP: $2" >&2
	exit 1
}

start() {
	[ "$(id -u)" = 0 ] || fail 'a second engine needs root' 'run it with sudo'
	command -v dockerd >/dev/null || fail 'dockerd is not installed' 'install docker.io (Debian) or Docker Engine'
	if [ -s "$RUN.pid" ] && kill -0 "$(cat "$RUN.pid")" 2>/dev/null; then
		echo "already running; $export_line"
		return
	fi
	ip -br addr show dev lo | grep -q "$ADDRESS/" || ip addr add "$ADDRESS/32" dev lo
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge
		ip addr add "$SUBNET" dev "$BRIDGE"
		ip link set "$BRIDGE" up
	fi
	mkdir -p "$ROOT/data"
	echo '{}' >"$ROOT/daemon.json" # not /etc/docker/daemon.json: the main engine's
	local driver
	driver="$(docker info --format '{{.Driver}}')"
	setsid dockerd --config-file "$ROOT/daemon.json" --data-root "$ROOT/data" \
		--exec-root "$RUN" --pidfile "$RUN.pid" \
		-H "unix://$RUN.sock" -H "tcp://$ADDRESS:$PORT" \
		--bridge "$BRIDGE" --iptables=false --ip-masq=false \
		--storage-driver "$driver" >"$ROOT/dockerd.log" 2>&1 </dev/null &
	local tries=0
	until DOCKER_HOST="unix://$RUN.sock" docker version >/dev/null 2>&1; do
		tries=$((tries + 1))
		[ "$tries" -lt 300 ] || fail "the second engine did not answer; see $ROOT/dockerd.log" 'fix what the log says, then run stop and start again'
		sleep 0.1
	done
	local image images=("$@")
	[ "${#images[@]}" -gt 0 ] || images=("${DEVDB_OFFLINE_REPOSITORY:-stock-tracker-devdb/offline}:pg17-ts2.19")
	for image in "${images[@]}"; do
		docker save "$image" | DOCKER_HOST="unix://$RUN.sock" docker load -q
	done
	echo "$export_line"
}

stop() {
	if [ -s "$RUN.pid" ]; then
		local pid
		pid="$(cat "$RUN.pid")"
		# Its containers first (they hold the bridge), then the engine itself.
		DOCKER_HOST="unix://$RUN.sock" docker ps -aq | xargs -r env DOCKER_HOST="unix://$RUN.sock" docker rm -f -v >/dev/null || :
		kill "$pid" 2>/dev/null || :
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	fi
	ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
	ip -br addr show dev lo | grep -q "$ADDRESS/" && ip addr del "$ADDRESS/32" dev lo
	rm -rf "$ROOT" "$RUN" "$RUN.pid" "$RUN.sock"
	echo 'second engine stopped and removed'
}

case "${1:-}" in
	start) shift && start "$@" ;;
	stop) stop ;;
	*) fail "unknown command '${1:-}'" 'use: second-engine.sh start [IMAGE...] | stop' ;;
esac
