#!/bin/sh
# Runs in the builder stage (Dockerfile.builder): compile one TimescaleDB source
# archive, with tsl/, against the image's PostgreSQL, and leave what `make install`
# puts into the server's directories in /timescaledb-build.tar for the runtime image.
set -eu

: "${PG_MAJOR:?}" "${TIMESCALEDB_VERSION:?}"
pg_config="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"

mkdir -p /build/src /out
tar -xf /build/timescaledb-source -C /build/src --strip-components=1
cd /build/src

# Each patch must apply: a release that already carries a fix fails the build here
# rather than being patched twice (see db/image/patches/*.patch for why each exists).
for patch in /build/patches/*.patch; do
	[ -e "$patch" ] || continue
	echo "applying $(basename "$patch")"
	patch -p1 --forward --batch <"$patch"
done

# APACHE_ONLY=OFF builds tsl/ and makes timescaledb.license default to 'timescale'
# (src/license_guc.h), so volumes whose postgresql.conf never names the licence get
# the full TimescaleDB too. Telemetry is compiled out: a dev database phones nobody.
# Tests and warnings-as-errors need tools and compilers this build does not carry.
cmake -S . -B build \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DPG_CONFIG="$pg_config" \
	-DAPACHE_ONLY=OFF \
	-DREGRESS_CHECKS=OFF \
	-DTAP_CHECKS=OFF \
	-DWARNINGS_AS_ERRORS=OFF \
	-DSEND_TELEMETRY_DEFAULT=OFF \
	-DUSE_TELEMETRY=OFF
make -C build -j"$(nproc)"
make -C build install DESTDIR=/out >/dev/null
# Debug symbols are most of the libraries' size and no dev database reads them.
find /out -name '*.so' -exec strip --strip-unneeded {} +
tar -C /out --numeric-owner --owner=0 --group=0 -cf /timescaledb-build.tar .
echo "built TimescaleDB $TIMESCALEDB_VERSION for PostgreSQL $("$pg_config" --version)"
