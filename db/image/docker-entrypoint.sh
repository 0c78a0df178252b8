#!/bin/bash
# The official postgres / timescaledb image contract, for the offline-built images:
#   POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, POSTGRES_INITDB_ARGS,
#   POSTGRES_HOST_AUTH_METHOD and PGDATA; /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz
#   run once, on an empty data directory, by a server listening on the Unix socket
#   only; then the real server starts and listens on TCP. TimescaleDB is preloaded
#   (when installed) and its telemetry is off.
set -Eeuo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*"; }

# `docker run IMAGE -c fsync=off` means "postgres -c fsync=off", as in the official image.
if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" != 'postgres' ]; then
	exec "$@"
fi

if [ "$(id -u)" = '0' ]; then
	# A fresh volume or tmpfs belongs to root: hand it to postgres, then drop root.
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

shift # "postgres"; what is left are the server's own options

timescaledb_installed() {
	[ -e "/usr/share/postgresql/$PG_MAJOR/extension/timescaledb.control" ]
}

init_database_directory() {
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != 'trust' ]; then
		log 'ERROR: the database is uninitialized and POSTGRES_PASSWORD is not set.'
		log 'TIP: pass -e POSTGRES_PASSWORD=... (or POSTGRES_HOST_AUTH_METHOD=trust for a throwaway database).'
		exit 1
	fi
	local user="${POSTGRES_USER:-postgres}"
	log "initialising $PGDATA for user $user"
	# The password goes through a pipe, never through argv.
	# shellcheck disable=SC2086
	initdb --username="$user" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
		${POSTGRES_INITDB_ARGS:-} >/dev/null

	local auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
	printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
	{
		printf "\n# Added by the stock-tracker offline image entrypoint\n"
		printf "listen_addresses = '*'\n"
		# The offline image ships no LLVM: say so instead of failing to load it.
		printf "jit = off\n"
		if timescaledb_installed; then
			printf "shared_preload_libraries = 'timescaledb'\n"
			printf "timescaledb.telemetry_level = off\n"
		fi
	} >>"$PGDATA/postgresql.conf"
}

run_init_scripts() {
	local user="${POSTGRES_USER:-postgres}"
	local db="${POSTGRES_DB:-$user}"
	# The init server listens on the Unix socket only: nobody on TCP can mistake it
	# for the real server.
	pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p 5432 $*" start >/dev/null
	local psql=(psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "$user")
	if [ "$db" != 'postgres' ]; then
		# Through stdin: psql interpolates :"db" (quoted identifier) there, not in -c.
		echo 'CREATE DATABASE :"db";' |
			"${psql[@]}" --dbname postgres --set db="$db" >/dev/null
	fi
	local f
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh)
				if [ -x "$f" ]; then log "running $f"; "$f"
				else log "sourcing $f"; . "$f"; fi ;;
			*.sql) log "running $f"; "${psql[@]}" --dbname "$db" -f "$f" >/dev/null ;;
			*.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$db" >/dev/null ;;
			*) [ -e "$f" ] && log "ignoring $f" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	log 'init complete; starting the server'
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	init_database_directory
	run_init_scripts "$@"
fi

exec postgres "$@"
