# The builder stage of a full (TSL) TimescaleDB image: compiles one source archive
# in a Debian root filesystem that has the compiler, so the runtime image never
# does. devdb/images/build.py sends builder-rootfs.tar (debootstrap, cached per suite),
# the archive (verified against its version first), the patches and the script, then
# keeps /timescaledb-build.tar in the project cache and drops this image. No
# `# syntax=` line, and FROM scratch: nothing may need a registry.
FROM scratch AS builder
ADD builder-rootfs.tar /
ARG PG_MAJOR
ARG TIMESCALEDB_VERSION
ENV PG_MAJOR=${PG_MAJOR} \
    TIMESCALEDB_VERSION=${TIMESCALEDB_VERSION} \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8
COPY timescaledb-source /build/timescaledb-source
COPY patches/ /build/patches/
COPY build-timescaledb.sh /build/build-timescaledb.sh
RUN ["/bin/sh", "/build/build-timescaledb.sh"]
