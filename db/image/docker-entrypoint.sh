#!/bin/bash
# The entrypoint of the offline-built images. It keeps the documented contract of the
# official postgres / timescaledb images, so a user (or a volume) can move between
# them:
#   - POSTGRES_PASSWORD, POSTGRES_USER, POSTGRES_DB, POSTGRES_INITDB_ARGS, each also
#     as <NAME>_FILE (Docker secrets); POSTGRES_INITDB_WALDIR;
#     POSTGRES_HOST_AUTH_METHOD; PGDATA; PGPORT;
#   - /docker-entrypoint-initdb.d/*.sh (run when executable, else sourced), *.sql,
#     *.sql.gz, *.sql.xz, *.sql.zst: once, on an empty data directory, through a
#     server that listens on the Unix socket only;
#   - started as root it makes sure postgres (uid 999) owns what it must, then drops
#     root; started with `--user <any uid>` it runs as that uid (nss_wrapper gives
#     initdb a user name);
#   - `postgres --help/--version/--describe-config` and any other command run as
#     they are, without initialising anything;
#   - PostgreSQL 18+: data in /var/lib/postgresql/<major>/docker, and a refusal of
#     a volume at the old /var/lib/postgresql/data path;
#   - called as docker-ensure-initdb.sh: initialise if needed, then exit (an init
#     container); as docker-enforce-initdb.sh: the same, but an existing database
#     is an error.
# TimescaleDB is preloaded (when installed) and its telemetry is off. As in the
# official timescale/timescaledb image, a new cluster has the extension in
# template1, postgres and POSTGRES_DB, and postgresql.conf tuned for the container's
# memory and CPUs (TS_TUNE_MEMORY, TS_TUNE_NUM_CPUS, TS_TUNE_MAX_CONNS,
# TS_TUNE_MAX_BG_WORKERS, TS_TUNE_WAL_DISK_SIZE; NO_TS_TUNE leaves it untuned).
#
# No `set -u`: init scripts that are sourced run inside this shell, and the official
# image sources them without it; a script written for that one must work here.
set -Eeo pipefail

log() { printf '%(%Y-%m-%d %H:%M:%S UTC)T [entrypoint] %s\n' -1 "$*"; }
fail() {
	log "ERROR: $1" >&2
	log "TIP: $2" >&2
	exit 1
}
export TZ="${TZ:-UTC}"

# Parameter expansions, not basename/id/subshells: each fork is a cold start's cost.
self="${0##*/}"
case "$self" in
	docker-ensure-initdb.sh | docker-enforce-initdb.sh)
		# An init container: the arguments are the server's, "postgres" optional.
		if [ "${1:-}" != 'postgres' ]; then set -- postgres "$@"; fi
		;;
	*)
		# `docker run IMAGE -c fsync=off` means "postgres -c fsync=off".
		if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi
		;;
esac

wants_no_server() {
	# These options print and exit; they need no data directory (and work as root).
	local arg
	for arg; do
		case "$arg" in
			-'?' | --help | --describe-config | -V | --version) return 0 ;;
		esac
	done
	return 1
}

if [ "$1" != 'postgres' ] || wants_no_server "$@"; then
	exec "$@"
fi

# <NAME> from the environment, or read from the file <NAME>_FILE names (a Docker
# secret); both at once is ambiguous and refused, as in the official image.
file_env() {
	local name="$1" file_name="${1}_FILE" default="${2:-}"
	if [ -n "${!name:-}" ] && [ -n "${!file_name:-}" ]; then
		fail "both $name and $file_name are set; they are exclusive" \
			"keep one of them: $file_name for a secret file, $name for a value"
	fi
	local value="$default"
	if [ -n "${!name:-}" ]; then
		value="${!name}"
	elif [ -n "${!file_name:-}" ]; then
		[ -r "${!file_name}" ] || fail "$file_name names ${!file_name}, which cannot be read" \
			"mount the secret file there (readable by the container's user)"
		value="$(<"${!file_name}")"
	fi
	export "$name"="$value"
	unset "$file_name"
}

file_env POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS
export PGPORT="${PGPORT:-5432}"

database_exists() { [ -s "$PGDATA/PG_VERSION" ]; }

refuse_a_data_directory_of_another_uid() {
	# PostgreSQL runs only on a data directory its uid owns; as root, the entrypoint
	# hands it to postgres, but `--user <uid>` cannot. The usual cause: Docker gives
	# an empty named volume the owner and mode of the image's directory each time it
	# is mounted (999, 1777), whoever owned it before.
	[ "$EUID" != 0 ] && ! database_exists && [ ! -O "$PGDATA" ] || return 0
	local owner
	owner="$(stat -c %u "$PGDATA")"
	fail "$PGDATA belongs to uid $owner, and this container runs as uid $EUID: PostgreSQL needs a data directory of its own" \
		"mount a volume that uid $EUID owns without Docker's copy (--mount type=volume,src=NAME,dst=${PGDATA},volume-nocopy), bind-mount a directory uid $EUID owns, or set PGDATA to a subdirectory of the volume"
}

refuse_old_layout() {
	# PostgreSQL 18 images keep the cluster in a version directory under a volume at
	# /var/lib/postgresql (docker-library/postgres#1259). A volume still mounted at
	# the old path would otherwise be ignored while the data went to an anonymous
	# volume: refuse instead, whether it holds a cluster or not.
	local old=/var/lib/postgresql/data
	[ "${PG_MAJOR:-0}" -ge 18 ] || return 0
	database_exists && return 0
	case "$PGDATA/" in "$old"/*) return 0 ;; esac
	if [ -s "$old/PG_VERSION" ]; then
		fail "$old holds a PostgreSQL $(<"$old/PG_VERSION") cluster in the layout before 18; this image uses $PGDATA under a volume at /var/lib/postgresql" \
			"mount the volume at /var/lib/postgresql instead (upgrade old data with pg_upgrade first), or keep this one with -e PGDATA=$old"
	fi
	if grep -qs " $old " /proc/self/mountinfo; then
		fail "a volume is mounted at $old, the layout before 18; this image keeps its data in $PGDATA, so the volume would be ignored" \
			"mount the volume at /var/lib/postgresql instead (docker-compose: POSTGRES_DATA_MOUNT=/var/lib/postgresql), or set -e PGDATA=$old"
	fi
}

create_directories() {
	# Failures are tolerated where the official image tolerates them: with --user,
	# an image-made directory may not be ours to chmod, and is fine as it is.
	mkdir -p "$PGDATA"
	chmod 700 "$PGDATA" 2>/dev/null || :
	mkdir -p /var/run/postgresql 2>/dev/null || :
	chmod 3777 /var/run/postgresql 2>/dev/null || :
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		mkdir -p "$POSTGRES_INITDB_WALDIR"
		if [ "$EUID" = "$(id -u postgres)" ]; then chmod 700 "$POSTGRES_INITDB_WALDIR"; fi
	fi
	if [ "$EUID" = 0 ]; then
		# Only what postgres does not own yet: a volume an official image (uid 999)
		# or an older build made is handed over; an owned data directory costs one
		# walk and no writes.
		local dirs=("$PGDATA" /var/run/postgresql)
		if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then dirs+=("$POSTGRES_INITDB_WALDIR"); fi
		find "${dirs[@]}" \! -user postgres -exec chown postgres '{}' +
	fi
}

refuse_old_layout
create_directories
refuse_a_data_directory_of_another_uid
if [ "$EUID" = 0 ]; then
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

shift # "postgres"; what is left are the server's own options

timescaledb_installed() {
	[ -e "/usr/share/postgresql/$PG_MAJOR/extension/timescaledb.control" ]
}

# The init files the official image runs, in name order, into INIT_FILES.
find_init_files() {
	INIT_FILES=()
	local f
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh | *.sql | *.sql.gz | *.sql.xz | *.sql.zst) INIT_FILES+=("$f") ;;
			*) if [ -e "$f" ]; then log "ignoring $f"; fi ;;
		esac
	done
}

check_minimum_env() {
	if [ -z "$POSTGRES_PASSWORD" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != 'trust' ]; then
		fail 'the database is uninitialized and POSTGRES_PASSWORD is not set' \
			'pass -e POSTGRES_PASSWORD=... (or POSTGRES_PASSWORD_FILE, or POSTGRES_HOST_AUTH_METHOD=trust for a throwaway database)'
	fi
	# Unreadable init files would only show up after initdb: say it now.
	ls /docker-entrypoint-initdb.d/ >/dev/null
}

with_user_name() {
	# initdb refuses to run as a uid without a passwd entry (`--user 1234`):
	# nss_wrapper lends it one for that command only.
	if getent passwd "$EUID" >/dev/null; then
		"$@"
		return
	fi
	local passwd group
	passwd="$(mktemp)" group="$(mktemp)"
	printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$EUID" "$(id -g)" "$PGDATA" >"$passwd"
	printf 'postgres:x:%s:\n' "$(id -g)" >"$group"
	LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$passwd" NSS_WRAPPER_GROUP="$group" "$@"
	rm -f "$passwd" "$group"
}

# The cluster initdb made at build time with the image's defaults (the Dockerfile),
# archived: user postgres, no password, the image's locale, TZ=UTC.
CLUSTER_TEMPLATE=/usr/local/share/devdb/cluster.tar.zst
CLUSTER_IDENTITY=/usr/local/lib/devdb/new-cluster-identity
BOOTSTRAP_SUPERUSER_OID=10

can_copy_cluster_template() {
	# Only where initdb would be given nothing the template was not made with: no
	# arguments but --no-sync, the default WAL directory, the image's locale and
	# time zone, run as the template's owner (not `--user <any uid>`), into an
	# empty directory (initdb refuses any other, and says so).
	[ -O "$CLUSTER_TEMPLATE" ] || return 1
	# initdb refuses these in the superuser's name (extension scripts could not
	# quote it): leave it to initdb to say so.
	case "$POSTGRES_USER" in *[\"\$\'\\]*) return 1 ;; esac
	case "$POSTGRES_INITDB_ARGS" in '' | --no-sync) ;; *) return 1 ;; esac
	[ -z "${POSTGRES_INITDB_WALDIR:-}" ] || return 1
	[ "${LANG:-}" = C.UTF-8 ] && [ "$TZ" = UTC ] || return 1
	[ -z "${LC_ALL:-}${LC_CTYPE:-}${LC_COLLATE:-}${LC_MESSAGES:-}${LC_MONETARY:-}${LC_NUMERIC:-}${LC_TIME:-}" ] || return 1
	local entry
	for entry in "$PGDATA"/* "$PGDATA"/.[!.]* "$PGDATA"/..?*; do
		if [ -e "$entry" ] || [ -L "$entry" ]; then return 1; fi
	done
}

# Statements for the standalone backend, quoted into PENDING_SQL (no command
# substitution: it would strip the empty line that ends each statement).
quote_literal() { QUOTED="'${1//"'"/"''"}'"; }
quote_identifier() { QUOTED="\"${1//'"'/'""'}\""; }
add_statement() { PENDING_SQL+="$1"$'\n\n'; }

# What initdb --username/--pwfile would have done, on the copied template: the
# bootstrap superuser renamed (by its fixed OID: ALTER ROLE cannot rename the
# session user) and given the password.
add_adoption_statements() {
	if [ "$POSTGRES_USER" != postgres ]; then
		quote_literal "$POSTGRES_USER"
		add_statement "UPDATE pg_authid SET rolname = $QUOTED WHERE oid = $BOOTSTRAP_SUPERUSER_OID;"
	fi
	if [ -n "$POSTGRES_PASSWORD" ]; then
		local role
		quote_identifier "$POSTGRES_USER"
		role="$QUOTED"
		quote_literal "$POSTGRES_PASSWORD"
		add_statement "ALTER ROLE $role PASSWORD $QUOTED;"
	fi
}

run_initdb() {
	local args=()
	# The official image lets POSTGRES_INITDB_ARGS carry shell quoting
	# (--locale-provider=icu --icu-locale='en-US'): split it as the shell would.
	eval "args=($POSTGRES_INITDB_ARGS)"
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then args+=(--waldir "$POSTGRES_INITDB_WALDIR"); fi
	log "initialising $PGDATA for user $POSTGRES_USER"
	local initdb=(with_user_name initdb --username="$POSTGRES_USER" --no-instructions)
	if [ -n "$POSTGRES_PASSWORD" ]; then
		# Through a pipe, never through argv. The pipe lives as long as the command
		# it is written in, so it cannot be kept in an array.
		"${initdb[@]}" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") "${args[@]}" >/dev/null
	else
		"${initdb[@]}" "${args[@]}" >/dev/null
	fi
	CLUSTER_MADE_BY_INITDB=1
}

init_database_directory() {
	# Set when the database is still to be created in a standalone backend, along
	# with the template's adoption (one backend start instead of two).
	PENDING_SQL=''
	if can_copy_cluster_template; then
		log "initialising $PGDATA for user $POSTGRES_USER (a copy of the cluster initdb made when the image was built)"
		tar -C "$PGDATA" --zstd -xpf "$CLUSTER_TEMPLATE"
		# What initdb draws for every cluster: a system identifier and a
		# mock-authentication nonce of its own, not the image's.
		"$CLUSTER_IDENTITY" "$PGDATA" ||
			fail "could not give the copied cluster in $PGDATA an identity of its own" \
				'remove the volume and start again; set POSTGRES_INITDB_ARGS (e.g. -E UTF8) to have initdb make the cluster instead'
		# initdb's last step, unless told --no-sync: the new files reach the disk.
		if [ -z "$POSTGRES_INITDB_ARGS" ]; then sync -f "$PGDATA"; fi
		add_adoption_statements
	else
		run_initdb
	fi

	local auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
	if [ "$auth" = 'trust' ]; then
		log 'WARNING: POSTGRES_HOST_AUTH_METHOD=trust: anyone who reaches the port connects without a password'
	fi
	printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
	{
		printf "\n# Added by the stock-tracker offline image entrypoint\n"
		printf "listen_addresses = '*'\n"
		# The offline image ships no LLVM: say so instead of trying to load it.
		printf "jit = off\n"
		if timescaledb_installed; then
			printf "shared_preload_libraries = 'timescaledb'\n"
			printf "timescaledb.telemetry_level = off\n"
		fi
	} >>"$PGDATA/postgresql.conf"
}

# psql on the init server's socket, as the official image's helper of the same name
# (sourced init scripts may call it).
docker_process_sql() {
	local runner=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
	if [ -n "$POSTGRES_DB" ]; then runner+=(--dbname "$POSTGRES_DB"); fi
	PGHOST='' PGHOSTADDR='' "${runner[@]}" "$@"
}

# initdb makes these; the official image creates POSTGRES_DB only when it is missing.
database_is_made_by_initdb() {
	case "$POSTGRES_DB" in postgres | template0 | template1) return 0 ;; esac
	return 1
}

# SQL run by a standalone backend: no server start, wait and stop (about half a
# second of a cold start). -j: a statement ends at a semicolon and an empty line,
# so any quoted name or password fits in one. Fails naming ``what``.
run_single_user_sql() {
	local what="$1" sql="$2" database="${3:-postgres}" output line status=0
	# A standalone backend looks its uid's name up, as initdb does (`--user <uid>`).
	output="$(printf '%s' "$sql" |
		with_user_name postgres --single -j -D "$PGDATA" -c listen_addresses='' "$database" 2>&1 >/dev/null)" || status=$?
	# The backend reports a failed statement on stderr and may still exit 0.
	if [ "$status" != 0 ] || [[ $output == *ERROR:* ]] || [[ $output == *FATAL:* ]]; then
		while IFS= read -r line; do
			case "$line" in *ERROR:* | *FATAL:*) break ;; esac
		done <<<"$output"
		line="${line#*ERROR:  }"
		line="${line:-the standalone backend exited with status $status}"
		fail "could not $what: ${line#*FATAL:  }" \
			'check POSTGRES_USER, POSTGRES_DB and the server options; remove the volume to start afresh'
	fi
}

finish_in_single_user() {
	# The template's adoption (if any) and, with no init files, the database.
	local what='adopt the copied cluster'
	if [ "$1" = with-database ]; then
		log "creating database $POSTGRES_DB (no init files: no init server)"
		quote_identifier "$POSTGRES_DB"
		add_statement "CREATE DATABASE $QUOTED;"
		what="create the database $POSTGRES_DB"
	fi
	if [ -n "$PENDING_SQL" ]; then run_single_user_sql "$what" "$PENDING_SQL"; fi
	PENDING_SQL=''
}

run_init_files() {
	# The init server listens on the Unix socket only: nobody on TCP can mistake it
	# for the real server. Server options pass through with their quoting intact
	# (pg_ctl hands -o to a shell): -c log_line_prefix='%m [%p] ' stays one value.
	local options
	options="$(printf '%q ' "${SERVER_ARGS[@]}" -c listen_addresses='' -p "$PGPORT")"
	log 'starting the init server (Unix socket only)'
	PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -w -o "$options" start >/dev/null

	if ! database_is_made_by_initdb; then
		# psql interpolates :"db" (a quoted identifier) in stdin, not in -c.
		echo 'CREATE DATABASE :"db";' | docker_process_sql --dbname postgres --set db="$POSTGRES_DB" >/dev/null
	fi
	local f
	for f; do
		case "$f" in
			*.sh)
				if [ -x "$f" ]; then
					log "running $f"
					"$f"
				else
					log "sourcing $f"
					# shellcheck disable=SC1090
					. "$f"
				fi
				;;
			*.sql) log "running $f" && docker_process_sql -f "$f" >/dev/null ;;
			*.sql.gz) log "running $f" && gunzip -c "$f" | docker_process_sql >/dev/null ;;
			*.sql.xz) log "running $f" && xz -dc "$f" | docker_process_sql >/dev/null ;;
			*.sql.zst) log "running $f" && zstd -dc "$f" | docker_process_sql >/dev/null ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
}

# --- What the official timescale/timescaledb image adds to a new cluster ----------
# Its init scripts create the extension in template1, postgres and POSTGRES_DB, then
# run timescaledb-tune. The cluster copied from the image has the extension in
# template1 and postgres already (made when the image was built); a cluster initdb
# made now gets it here, in standalone backends. POSTGRES_DB is created from
# template1 afterwards, so it has it too.
create_timescaledb_in_initdb_cluster() {
	timescaledb_installed && [ -n "${CLUSTER_MADE_BY_INITDB:-}" ] || return 0
	# The next OID where a server's first start puts it (FirstNormalObjectId): in a
	# standalone backend the extension's objects would otherwise get OIDs of the
	# built-in range, and pg_dump would leave them out.
	pg_resetwal -o 16384 -D "$PGDATA" >/dev/null
	local database
	for database in template1 postgres; do
		run_single_user_sql "create the timescaledb extension in $database" \
			$'CREATE EXTENSION IF NOT EXISTS timescaledb;\n\n' "$database"
	done
}

tune_timescaledb() {
	# Before the init files, as the official image's tuning is: settings they append
	# to postgresql.conf come later, and win.
	timescaledb_installed && [ -z "${NO_TS_TUNE:-}" ] || return 0
	tune-timescaledb.sh "$PGDATA/postgresql.conf"
}

initialise() {
	check_minimum_env
	init_database_directory
	create_timescaledb_in_initdb_cluster
	tune_timescaledb
	# --auth-local=scram-sha-256 in POSTGRES_INITDB_ARGS: the socket wants a password.
	export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
	find_init_files
	if [ "${#INIT_FILES[@]}" -gt 0 ]; then
		finish_in_single_user without-database
		run_init_files "${INIT_FILES[@]}"
	elif ! database_is_made_by_initdb; then
		finish_in_single_user with-database
	else
		finish_in_single_user without-database
	fi
	unset PGPASSWORD
	log 'init complete; ready for start up'
}

SERVER_ARGS=("$@")
if database_exists; then
	if [ "$self" = docker-enforce-initdb.sh ]; then
		fail "$PGDATA already holds a database" 'docker-enforce-initdb.sh expects an empty data directory; use docker-ensure-initdb.sh to accept one'
	fi
	[ "$self" = docker-entrypoint.sh ] || log "$self: database already initialised in $PGDATA"
else
	initialise
fi

case "$self" in
	docker-ensure-initdb.sh | docker-enforce-initdb.sh) exit 0 ;;
esac
exec postgres "$@"
