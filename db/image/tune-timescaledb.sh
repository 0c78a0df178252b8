#!/bin/bash
# Tunes postgresql.conf for the memory and CPUs the container has, once, when the
# entrypoint initialises a cluster on a TimescaleDB row: what the official
# timescale/timescaledb image does at init with timescaledb-tune. No Debian suite
# packages timescaledb-tune (timescaledb-tools), and these images are built from
# Debian's archive alone, so this script makes the same recommendations itself,
# from the same inputs:
#   TS_TUNE_MEMORY        memory to tune for (2GB, 512MB, 1048576kB, or bytes);
#                         default: the cgroup's memory limit, else the host's memory
#   TS_TUNE_NUM_CPUS      CPUs to tune for; default: the CPUs the container may use
#   TS_TUNE_MAX_CONNS     max_connections (25 at least); default: by memory
#   TS_TUNE_MAX_BG_WORKERS timescaledb.max_background_workers (16 at least)
#   TS_TUNE_WAL_DISK_SIZE size of the WAL's disk: max_wal_size takes 60% of it
# NO_TS_TUNE (any value) is read by the entrypoint, which then does not call this.
#
# Usage: tune-timescaledb.sh <path of postgresql.conf>. The settings are appended:
# PostgreSQL takes the last line for a name, so init scripts that append their own
# settings after this still win.
set -Eeuo pipefail

log() { printf '%(%Y-%m-%d %H:%M:%S UTC)T [entrypoint] %s\n' -1 "$*"; }
fail() {
	log "ERROR: $1" >&2
	log "TIP: $2" >&2
	exit 1
}

conf="${1:?usage: tune-timescaledb.sh <postgresql.conf>}"
KB_PER_MB=1024
KB_PER_GB=$((1024 * 1024))

# A size as timescaledb-tune reads one, in kB: a whole number, alone (bytes) or
# followed by B, kB, MB, GB or TB (any case).
size_in_kb() {
	local name="$1" value="$2" number unit
	if [[ ! $value =~ ^([0-9]+)[[:space:]]*([A-Za-z]*)$ ]]; then
		fail "$name=$value is not a size" "give a whole number with a unit, as in $name=2GB or $name=512MB"
	fi
	number="${BASH_REMATCH[1]}" unit="${BASH_REMATCH[2],,}"
	# Seventeen digits at most: what bash's 64-bit arithmetic holds with room to spare.
	[ "${#number}" -le 17 ] || fail "$name=$value is larger than any machine" "give the size in GB, as in $name=64GB"
	number=$((10#$number))
	case "$unit" in
		'' | b) SIZE_KB=$((number / 1024)) ;;
		k | kb) SIZE_KB=$number ;;
		m | mb) SIZE_KB=$((number * KB_PER_MB)) ;;
		g | gb) SIZE_KB=$((number * KB_PER_GB)) ;;
		t | tb) SIZE_KB=$((number * KB_PER_GB * 1024)) ;;
		*) fail "$name=$value has a unit this tuner does not know ($unit)" "use kB, MB, GB or TB, as in $name=2GB" ;;
	esac
	[ "$SIZE_KB" -gt 0 ] || fail "$name=$value is no memory at all" "give at least 1MB, as in $name=2GB"
}

whole_number() {
	local name="$1" value="$2" minimum="$3"
	if [[ ! $value =~ ^[0-9]{1,9}$ ]] || [ "$((10#$value))" -lt "$minimum" ]; then
		fail "$name=$value is not a whole number of at least $minimum" "set $name=$minimum or more, or leave it unset for the default"
	fi
	NUMBER=$((10#$value))
}

# The memory timescaledb-tune is given by the official image: TS_TUNE_MEMORY, else
# the cgroup's limit when it is below the host's memory (v2, then v1), else the
# host's memory, which timescaledb-tune reads itself.
memory_kb() {
	if [ -n "${TS_TUNE_MEMORY:-}" ]; then
		size_in_kb TS_TUNE_MEMORY "$TS_TUNE_MEMORY"
		MEMORY_KB=$SIZE_KB
		return
	fi
	local host_kb limit=''
	host_kb="$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
	if [ -f /sys/fs/cgroup/cgroup.controllers ] && [ -r /sys/fs/cgroup/memory.max ]; then
		limit="$(</sys/fs/cgroup/memory.max)"
	elif [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
		limit="$(</sys/fs/cgroup/memory/memory.limit_in_bytes)"
	fi
	# "max" (v2) or a 19-digit "no limit" (v1): no limit at all.
	if [[ $limit =~ ^[0-9]{1,18}$ ]] && [ "$((limit / 1024))" -lt "$host_kb" ]; then
		# Whole megabytes, as the official image hands the limit to timescaledb-tune.
		# shellcheck disable=SC2017
		MEMORY_KB=$((limit / 1024 / 1024 * KB_PER_MB))
	else
		MEMORY_KB=$host_kb
	fi
}

# PostgreSQL's memory units: the largest that divides the value.
pg_size() {
	local kb="$1"
	if [ $((kb % KB_PER_GB)) = 0 ]; then
		printf '%dGB' $((kb / KB_PER_GB))
	elif [ $((kb % KB_PER_MB)) = 0 ]; then
		printf '%dMB' $((kb / KB_PER_MB))
	else
		printf '%dkB' "$kb"
	fi
}

memory_kb
if [ -n "${TS_TUNE_NUM_CPUS:-}" ]; then
	whole_number TS_TUNE_NUM_CPUS "$TS_TUNE_NUM_CPUS" 1
	cpus=$NUMBER
else
	cpus="$(nproc)" # the CPUs this process may run on: docker's --cpuset-cpus
fi
connections_for_memory=0 # 0: max_connections by memory
if [ -n "${TS_TUNE_MAX_CONNS:-}" ]; then
	whole_number TS_TUNE_MAX_CONNS "$TS_TUNE_MAX_CONNS" 25
	connections_for_memory=$NUMBER
fi
background_workers=16
if [ -n "${TS_TUNE_MAX_BG_WORKERS:-}" ]; then
	whole_number TS_TUNE_MAX_BG_WORKERS "$TS_TUNE_MAX_BG_WORKERS" 16
	background_workers=$NUMBER
fi
max_wal_kb=$KB_PER_GB
if [ -n "${TS_TUNE_WAL_DISK_SIZE:-}" ]; then
	size_in_kb TS_TUNE_WAL_DISK_SIZE "$TS_TUNE_WAL_DISK_SIZE"
	# 60% of the disk, rounded up to whole 16MB WAL segments.
	segment_kb=$((16 * KB_PER_MB))
	max_wal_kb=$(((SIZE_KB * 60 / 100 + segment_kb - 1) / segment_kb * segment_kb))
fi

memory=$MEMORY_KB
half_the_cpus=$(((cpus + 1) / 2)) # rounded half up, as timescaledb-tune rounds
# work_mem: 128MB per GB of memory shared by the connections (100 unless given),
# divided among the parallel workers a query may use.
work_mem_connections=$((connections_for_memory > 0 ? connections_for_memory : 100))
work_mem=$((memory / 8 / work_mem_connections / half_the_cpus))
maintenance_work_mem=$((memory / 8 < 2047 * KB_PER_MB ? memory / 8 : 2047 * KB_PER_MB))
if [ "$memory" -lt $((2 * KB_PER_GB)) ]; then
	wal_buffers=$((memory * 7864 / KB_PER_GB))
else
	wal_buffers=$((16 * KB_PER_MB))
fi
if [ "$connections_for_memory" -gt 0 ]; then
	max_connections=$connections_for_memory
elif [ "$memory" -le $((2 * KB_PER_GB)) ]; then
	max_connections=25
elif [ "$memory" -le $((4 * KB_PER_GB)) ]; then
	max_connections=50
elif [ "$memory" -le $((6 * KB_PER_GB)) ]; then
	max_connections=75
else
	max_connections=100
fi
if [ "$memory" -ge $((32 * KB_PER_GB)) ]; then
	max_locks=1024
elif [ "$memory" -ge $((16 * KB_PER_GB)) ]; then
	max_locks=512
elif [ "$memory" -ge $((8 * KB_PER_GB)) ]; then
	max_locks=256
else
	max_locks=128
fi

{
	printf '\n# Tuned at init for %dMB of memory and %d CPUs (TS_TUNE_*; NO_TS_TUNE=1 leaves it out)\n' \
		$((memory / KB_PER_MB)) "$cpus"
	printf 'shared_buffers = %s\n' "$(pg_size $((memory / 4)))"
	printf 'effective_cache_size = %s\n' "$(pg_size $((memory * 3 / 4)))"
	printf 'maintenance_work_mem = %s\n' "$(pg_size "$maintenance_work_mem")"
	printf 'work_mem = %s\n' "$(pg_size $((work_mem > 64 ? work_mem : 64)))"
	# One CPU: no parallel workers to plan for, as timescaledb-tune leaves these.
	if [ "$cpus" -gt 1 ]; then
		printf 'timescaledb.max_background_workers = %d\n' "$background_workers"
		# The built-in processes (3), TimescaleDB's workers and one per CPU.
		printf 'max_worker_processes = %d\n' $((3 + background_workers + cpus))
		printf 'max_parallel_workers_per_gather = %d\n' "$half_the_cpus"
		printf 'max_parallel_workers = %d\n' "$cpus"
	fi
	printf 'wal_buffers = %s\n' "$(pg_size "$wal_buffers")"
	printf 'min_wal_size = %s\n' "$(pg_size $((max_wal_kb / 2)))"
	printf 'max_wal_size = %s\n' "$(pg_size "$max_wal_kb")"
	printf 'default_statistics_target = 100\n'
	printf 'random_page_cost = 1.1\n'
	printf 'checkpoint_completion_target = 0.9\n'
	printf 'max_connections = %d\n' "$max_connections"
	printf 'max_locks_per_transaction = %d\n' "$max_locks"
	printf 'autovacuum_max_workers = 10\n'
	printf 'autovacuum_naptime = 10\n'
	printf 'effective_io_concurrency = 256\n'
} >>"$conf"
log "tuned postgresql.conf for $((memory / KB_PER_MB))MB of memory and $cpus CPUs"
