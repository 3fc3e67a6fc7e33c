/*
 * The deploy writer: certfleetd-deploy-writer, a small program of its own
 * (libc only, so starting it costs ~2 ms, not the ~12 ms of certfleetd's
 * libraries) started by the deploy runner through proc.c, never on the
 * loop.  It reads one deploy
 * on stdin, checks the directory, and writes each file the safe way: a
 * temporary name made O_EXCL|O_NOFOLLOW with mode 0600, given its owner
 * and mode before it holds any data, written, fsynced, then all renamed
 * into place and the directory fsynced.  A failure before the renames
 * leaves the previous files as they were.  It prints one line on failure
 * and exits 1.
 *
 * Input: "certfleet-deploy 1\n", "dir PATH\n", then per file
 * "file NAME MODE UID GID LENGTH\n" and LENGTH bytes, then "end\n".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy.h"

#define WRITER_INPUT_MAX	(1024u * 1024)

const char *const deploy_file_names[] = {
	"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem", "combined.pem",
	NULL,
};

struct wfile {
	char		 name[32];
	unsigned	 mode;
	long		 uid, gid;
	const char	*data;
	size_t		 len;
	char		 tmp[64];
};

static int
name_allowed(const char *name)
{
	for (size_t i = 0; deploy_file_names[i] != NULL; i++)
		if (strcmp(name, deploy_file_names[i]) == 0)
			return 1;
	return 0;
}

/* Parses the input; 0, or -1 with err. */
static int
parse(char *in, size_t n, char *dir, size_t dirlen, struct wfile *f,
    size_t *nf, char *err, size_t errlen)
{
	char *p = in, *end = in + n, *nl;

	*nf = 0;
	if (n < 19 || memcmp(p, "certfleet-deploy 1\n", 19) != 0)
		return snprintf(err, errlen, "deploy writer: bad input"), -1;
	p += 19;
	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL ||
	    strncmp(p, "dir /", 5) != 0 || (size_t)(nl - p - 4) >= dirlen)
		return snprintf(err, errlen, "deploy writer: bad dir line"), -1;
	memcpy(dir, p + 4, (size_t)(nl - p - 4));
	dir[nl - p - 4] = '\0';
	p = nl + 1;
	while (p < end && strncmp(p, "end\n", 4) != 0) {
		struct wfile *w = &f[*nf];
		unsigned long len;
		int used = 0;

		if (*nf == DEPLOY_FILES_MAX || (nl = memchr(p, '\n',
		    (size_t)(end - p))) == NULL)
			return snprintf(err, errlen, "deploy writer: bad file "
			    "line"), -1;
		*nl = '\0';
		memset(w, 0, sizeof(*w));
		if (sscanf(p, "file %31s %o %ld %ld %lu%n", w->name, &w->mode,
		    &w->uid, &w->gid, &len, &used) != 5 || p + used != nl ||
		    !name_allowed(w->name) || len > (size_t)(end - nl - 1) ||
		    (w->mode & ~0777u) != 0)
			return snprintf(err, errlen, "deploy writer: bad file "
			    "line"), -1;
		w->data = nl + 1;
		w->len = len;
		p = nl + 1 + len;
		(*nf)++;
	}
	if (p >= end || *nf == 0)
		return snprintf(err, errlen, "deploy writer: truncated input"),
		    -1;
	return 0;
}

/*
 * Opens the directory once, refusing a symbolic link, and checks what it
 * opened: everything after works on this descriptor (openat, renameat), so
 * no one can swap the directory between the check and the writes.  It must
 * not be writable by others, and belong to us, root or the files' owner.
 */
static int
open_dir(const char *dir, long owner, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (dir[0] != '/')
		return snprintf(err, errlen, "%s is not an absolute path", dir),
		    -1;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1)
		return snprintf(err, errlen, "%s: %s", dir, errno == ELOOP ?
		    "a symbolic link" : strerror(errno)), -1;
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
	} else if (st.st_mode & S_IWOTH) {
		snprintf(err, errlen, "%s is writable by others", dir);
	} else if (st.st_uid != 0 && st.st_uid != geteuid() &&
	    (long)st.st_uid != owner) {
		snprintf(err, errlen, "%s belongs to another user (uid %ld)", dir,
		    (long)st.st_uid);
	} else
		return fd;
	close(fd);
	return -1;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One temporary file in dfd: owner and mode first, then the data,
 * fsynced. */
static int
write_tmp(int dfd, const char *dir, struct wfile *w, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if ((size_t)snprintf(w->tmp, sizeof(w->tmp), ".%s.certfleet-%ld",
	    w->name, (long)getpid()) >= sizeof(w->tmp))
		return snprintf(err, errlen, "the name is too long"), -1;
	if (fstatat(dfd, w->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(st.st_mode))
		return snprintf(err, errlen, "%s/%s exists and is not a regular "
		    "file (a symbolic link?): refused", dir, w->name), -1;
	(void)unlinkat(dfd, w->tmp, 0);	/* a crashed writer's leftover */
	if ((fd = openat(dfd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return snprintf(err, errlen, "%s/%s: %s", dir, w->tmp,
		    strerror(errno)), -1;
	if ((w->uid != -1 || w->gid != -1) && fchown(fd, (uid_t)w->uid,
	    (gid_t)w->gid) == -1) {
		snprintf(err, errlen, "%s/%s: chown: %s", dir, w->tmp,
		    strerror(errno));
		goto fail;
	}
	if (fchmod(fd, (mode_t)w->mode) == -1 ||
	    write_all(fd, w->data, w->len) == -1 || fsync(fd) == -1) {
		snprintf(err, errlen, "%s/%s: %s", dir, w->tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		snprintf(err, errlen, "%s/%s: %s", dir, w->tmp, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	if (fd != -1)
		close(fd);
	unlinkat(dfd, w->tmp, 0);
	return -1;
}

int
deploy_write(const char *in, size_t n, char *err, size_t errlen)
{
	struct wfile f[DEPLOY_FILES_MAX];
	char dir[DEPLOY_PATH_MAX - 64], *copy;
	size_t nf = 0, i;
	int dfd = -1, rc = -1;

	if ((copy = malloc(n + 1)) == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	memcpy(copy, in, n);
	copy[n] = '\0';
	if (parse(copy, n, dir, sizeof(dir), f, &nf, err, errlen) == -1 ||
	    (dfd = open_dir(dir, f[0].uid, err, errlen)) == -1)
		goto out;
	for (i = 0; i < nf; i++)
		if (write_tmp(dfd, dir, &f[i], err, errlen) == -1) {
			while (i-- > 0)
				unlinkat(dfd, f[i].tmp, 0);
			goto out;
		}
	/* Every file is whole on disk: now they replace the old ones. */
	for (i = 0; i < nf; i++)
		if (renameat(dfd, f[i].tmp, dfd, f[i].name) == -1) {
			snprintf(err, errlen, "%s/%s: %s", dir, f[i].name,
			    strerror(errno));
			for (size_t k = i; k < nf; k++)
				unlinkat(dfd, f[k].tmp, 0);
			goto out;
		}
	if (fsync(dfd) == -1) {
		snprintf(err, errlen, "%s: fsync: %s", dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (dfd != -1)
		close(dfd);
	explicit_bzero(copy, n);
	free(copy);
	return rc;
}

int
deploy_writer_main(void)
{
	char *in, err[DEPLOY_PATH_MAX + 256];
	size_t n = 0;
	ssize_t r;
	int rc;

	if ((in = malloc(WRITER_INPUT_MAX)) == NULL)
		return 1;
	while (n < WRITER_INPUT_MAX && (r = read(0, in + n,
	    WRITER_INPUT_MAX - n)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			break;
		n += (size_t)r;
	}
	rc = deploy_write(in, n, err, sizeof(err));
	explicit_bzero(in, n);
	free(in);
	if (rc == -1) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return 0;
}
