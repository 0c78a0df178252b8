/*
 * new-cluster-identity DATADIR: give a copied cluster the identity initdb would.
 *
 * The offline images carry a cluster initdb made when the image was built, and a
 * fresh volume gets a copy of it (docker-entrypoint.sh). initdb gives every
 * cluster its own system identifier (from the clock and its process id) and its
 * own mock-authentication nonce (random bytes); a plain copy would share the
 * image's with every other container. Backup, replication and pg_rewind tell
 * clusters apart by the identifier, and the nonce is what keeps the answers to a
 * login as a role that does not exist from telling which roles do.
 *
 * Run on a stopped cluster, before its first start. pg_control is rewritten
 * through PostgreSQL's own update_controlfile(), which recomputes its CRC; WAL
 * repeats the identifier in the long header that opens each segment, and the
 * server refuses WAL "from a different database system", so those headers are
 * rewritten to match (they carry no CRC). Nothing is synced here: the entrypoint
 * syncs the whole data directory after it, unless told --no-sync, as initdb.
 *
 * Compiled in the builder stage against the image's own server headers and
 * libpgcommon, so the control file's layout is always that of the server.
 */
#include "postgres_fe.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#include "access/xlog_internal.h"
#include "catalog/pg_control.h"
#include "common/controldata_utils.h"
#include "common/logging.h"

/* How initdb draws it (BootStrapXLOG in xlog.c): seconds, microseconds, pid. */
static uint64
new_system_identifier(void)
{
	struct timeval tv;
	uint64		identifier;

	gettimeofday(&tv, NULL);
	identifier = ((uint64) tv.tv_sec) << 32;
	identifier |= ((uint64) tv.tv_usec) << 12;
	identifier |= getpid() & 0xFFF;
	return identifier;
}

static void
new_nonce(char *nonce)
{
	size_t		filled = 0;

	while (filled < MOCK_AUTH_NONCE_LEN)
	{
		ssize_t		got = getrandom(nonce + filled, MOCK_AUTH_NONCE_LEN - filled, 0);

		if (got < 0)
			pg_fatal("could not get random bytes for the nonce: %m");
		filled += (size_t) got;
	}
}

/* The identifier in the first page header of every WAL segment, old to new. */
static void
rewrite_wal_headers(const char *datadir, uint64 old_identifier, uint64 identifier)
{
	char		wal_dir[MAXPGPATH];
	DIR		   *directory;
	struct dirent *entry;

	snprintf(wal_dir, sizeof(wal_dir), "%s/%s", datadir, XLOGDIR);
	directory = opendir(wal_dir);
	if (directory == NULL)
		pg_fatal("could not open directory \"%s\": %m", wal_dir);
	while ((entry = readdir(directory)) != NULL)
	{
		char		path[MAXPGPATH];
		PGAlignedXLogBlock page;
		XLogLongPageHeader header = (XLogLongPageHeader) page.data;
		int			fd;
		ssize_t		got;

		if (!IsXLogFileName(entry->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", wal_dir, entry->d_name);
		fd = open(path, O_RDWR | PG_BINARY, 0);
		if (fd < 0)
			pg_fatal("could not open \"%s\": %m", path);
		got = pread(fd, page.data, SizeOfXLogLongPHD, 0);
		if (got < 0)
			pg_fatal("could not read \"%s\": %m", path);
		/* A segment no record was written to yet has no header to keep in step. */
		if (got == SizeOfXLogLongPHD &&
			header->std.xlp_magic == XLOG_PAGE_MAGIC &&
			(header->std.xlp_info & XLP_LONG_HEADER) != 0)
		{
			if (header->xlp_sysid != old_identifier)
				pg_fatal("\"%s\" belongs to another cluster", path);
			header->xlp_sysid = identifier;
			if (pwrite(fd, &header->xlp_sysid, sizeof(header->xlp_sysid),
					   offsetof(XLogLongPageHeaderData, xlp_sysid)) !=
				sizeof(header->xlp_sysid))
				pg_fatal("could not write \"%s\": %m", path);
		}
		if (close(fd) != 0)
			pg_fatal("could not close \"%s\": %m", path);
	}
	closedir(directory);
}

int
main(int argc, char **argv)
{
	ControlFileData *control;
	bool		crc_ok;
	uint64		old_identifier;

	pg_logging_init(argv[0]);
	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DATADIR\n", argv[0]);
		return 2;
	}
	control = get_controlfile(argv[1], &crc_ok);
	if (!crc_ok || control->pg_control_version != PG_CONTROL_VERSION)
		pg_fatal("\"%s/global/pg_control\" is not a version %d control file "
				 "with a valid checksum", argv[1], PG_CONTROL_VERSION);
	if (control->state != DB_SHUTDOWNED)
		pg_fatal("the cluster in \"%s\" was not shut down cleanly", argv[1]);
	old_identifier = control->system_identifier;
	control->system_identifier = new_system_identifier();
	new_nonce(control->mock_authentication_nonce);
	rewrite_wal_headers(argv[1], old_identifier, control->system_identifier);
	update_controlfile(argv[1], control, false);
	return 0;
}
