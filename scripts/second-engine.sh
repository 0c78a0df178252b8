#!/bin/bash
# A second Docker engine on this machine, reached over TCP with mutual TLS at an
# address that is not 127.0.0.0/8, so the toolkit treats it as a remote engine:
# ports are published on that address and readiness, Alembic and psql go there.
#
#   sudo scripts/second-engine.sh start [IMAGE...]   # prints the exports to use
#   eval "$(sudo scripts/second-engine.sh env)"      # the same exports, again
#   .venv/bin/pytest tests/remote
#   sudo scripts/second-engine.sh stop
#
# The engine demands a client certificate signed by a throwaway CA that `start`
# generates with openssl (and `stop` deletes): a client is exactly what a real
# remote engine wants, DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH. The
# address lives on the loopback interface (198.18.0.0/15 is reserved for network
# tests and routed nowhere); Linux would still answer a neighbour who routes that
# address here, so TLS, not the address, is what keeps the engine's API (root on
# this machine) to whoever holds the client key. It listens on that address only.
# It uses its own bridge, data and exec roots, and no iptables rules (Docker's
# userland proxy publishes ports), so it never touches the main engine's
# containers, images or firewall chains. `start` loads the given images (default:
# the offline reference image) from the main engine.
#
# DEVDB_SECOND_ENGINE_ADDRESS / _PORT move it (two checkouts, two engines).
set -Eeuo pipefail

ADDRESS="${DEVDB_SECOND_ENGINE_ADDRESS:-198.18.0.19}"
PORT="${DEVDB_SECOND_ENGINE_PORT:-23769}"
NAME="devdb-tls-engine-$PORT"
BRIDGE="dvtls$PORT"
SUBNET="${DEVDB_SECOND_ENGINE_SUBNET:-172.31.219.1/24}"
ROOT="/var/tmp/$NAME"
RUN="/var/run/$NAME"
CERTS="$ROOT/certs"

fail() {
	echo "ERROR: $1" >&2
	echo "TIP: $2" >&2
	exit 1
}

exports() {
	echo "export DOCKER_HOST=tcp://$ADDRESS:$PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$CERTS/client"
}

make_certificates() {
	# A CA, a server certificate for the address, a client certificate; all
	# throwaway (one day), and the keys readable by root only.
	local ssl=(openssl req -batch -nodes -newkey rsa:2048 -sha256)
	mkdir -p "$CERTS/ca" "$CERTS/server" "$CERTS/client"
	chmod 700 "$CERTS" "$CERTS/ca" "$CERTS/server" "$CERTS/client"
	"${ssl[@]}" -x509 -days 1 -subj '/CN=devdb second engine CA' \
		-keyout "$CERTS/ca/key.pem" -out "$CERTS/ca/ca.pem" 2>/dev/null
	sign() { # <dir> <subject> <extensions>
		"${ssl[@]}" -subj "$2" -keyout "$1/key.pem" -out "$1/request.pem" 2>/dev/null
		openssl x509 -req -days 1 -sha256 -in "$1/request.pem" \
			-CA "$CERTS/ca/ca.pem" -CAkey "$CERTS/ca/key.pem" -CAcreateserial \
			-extfile <(printf '%s\n' "$3") -out "$1/cert.pem" 2>/dev/null
		rm -f "$1/request.pem"
		cp "$CERTS/ca/ca.pem" "$1/ca.pem"
	}
	sign "$CERTS/server" "/CN=$ADDRESS" "subjectAltName=IP:$ADDRESS
extendedKeyUsage=serverAuth"
	sign "$CERTS/client" '/CN=devdb tests' 'extendedKeyUsage=clientAuth'
	chmod 600 "$CERTS"/*/key.pem
}

start() {
	[ "$(id -u)" = 0 ] || fail 'a second engine needs root' 'run it with sudo'
	command -v dockerd >/dev/null || fail 'dockerd is not installed' 'install docker.io (Debian) or Docker Engine'
	command -v openssl >/dev/null || fail 'openssl is not installed' 'install openssl: the engine is reached over TLS'
	if [ -s "$RUN.pid" ] && kill -0 "$(cat "$RUN.pid")" 2>/dev/null; then
		echo "# already running" >&2
		exports
		return
	fi
	ip -br addr show dev lo | grep -q "$ADDRESS/" || ip addr add "$ADDRESS/32" dev lo
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge
		ip addr add "$SUBNET" dev "$BRIDGE"
		ip link set "$BRIDGE" up
	fi
	mkdir -p "$ROOT/data"
	make_certificates
	echo '{}' >"$ROOT/daemon.json" # not /etc/docker/daemon.json: the main engine's
	local driver
	driver="$(docker info --format '{{.Driver}}')"
	setsid dockerd --config-file "$ROOT/daemon.json" --data-root "$ROOT/data" \
		--exec-root "$RUN" --pidfile "$RUN.pid" \
		-H "unix://$RUN.sock" -H "tcp://$ADDRESS:$PORT" \
		--tlsverify --tlscacert "$CERTS/server/ca.pem" \
		--tlscert "$CERTS/server/cert.pem" --tlskey "$CERTS/server/key.pem" \
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
		docker save "$image" | DOCKER_HOST="unix://$RUN.sock" docker load -q >&2
	done
	exports
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
	if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
	if ip -br addr show dev lo | grep -q "$ADDRESS/"; then ip addr del "$ADDRESS/32" dev lo; fi
	rm -rf "$ROOT" "$RUN" "$RUN.pid" "$RUN.sock"
	echo 'second engine stopped and removed' >&2
}

case "${1:-}" in
	start) shift && start "$@" ;;
	env) exports ;;
	stop) stop ;;
	*) fail "unknown command '${1:-}'" 'use: second-engine.sh start [IMAGE...] | env | stop' ;;
esac
