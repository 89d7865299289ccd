#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read(const char *path, size_t max, char **data, size_t *len, struct hail_errbuf *e)
{
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? HAIL_E_NOT_FOUND :
			hail_fail(e, HAIL_E_INTERNAL, "open %s: %s", path, strerror(errno));
	buf = malloc(max + 2);
	if (!buf) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	/* one byte past max tells "full" from "too big" */
	while (got <= max && (n = read(fd, buf + got, max + 1 - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = hail_fail(e, HAIL_E_INTERNAL, "read %s: %s", path, strerror(errno));
			goto out;
		}
		got += (size_t)n;
	}
	if (got > max) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "%s is larger than %zu bytes", path, max);
		goto out;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

static bool file_is(const char *path, const void *data, size_t len, mode_t mode)
{
	struct hail_errbuf ignored;
	struct stat st;
	char *old = NULL;
	size_t old_len;
	bool same;

	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != mode ||
	    (size_t)st.st_size != len)
		return false;
	if (file_read(path, len, &old, &old_len, &ignored) < 0)
		return false;
	same = old_len == len && memcmp(old, data, len) == 0;
	free(old);
	return same;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	int fd, r;

	if (n == 0) {
		dir[0] = slash ? '/' : '.';
		n = 1;
	} else if (n < sizeof(dir)) {
		memcpy(dir, path, n);
	} else {
		return -1;
	}
	dir[n] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      bool *changed, bool durable, struct hail_errbuf *e)
{
	char tmp[PATH_MAX];
	int fd = -1, ret;

	if (changed) {
		*changed = false;
		if (file_is(path, data, len, mode))
			return 0;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return hail_fail(e, HAIL_E_INTERNAL, "%s: path too long", path);
	(void)unlink(tmp);      /* a leftover of ours from a crash */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "create %s: %s", tmp, strerror(errno));
	/* the umask must not widen or narrow what we asked for */
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || (durable && fsync(fd) < 0)) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "write %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = hail_fail(e, HAIL_E_INTERNAL, "write %s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "rename %s to %s: %s", tmp, path, strerror(errno));
		goto fail;
	}
	if (durable && fsync_dir_of(path) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "fsync the folder of %s: %s", path, strerror(errno));
	if (changed)
		*changed = true;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	(void)unlink(tmp);
	return ret;
}

int file_remove(const char *path, bool durable, struct hail_errbuf *e)
{
	if (unlink(path) < 0)
		return errno == ENOENT ? HAIL_E_NOT_FOUND :
			hail_fail(e, HAIL_E_INTERNAL, "remove %s: %s", path, strerror(errno));
	/* without it a power cut may bring the file back */
	if (durable && fsync_dir_of(path) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "fsync the folder of %s: %s", path, strerror(errno));
	return 0;
}

int mkdir_parents(const char *path, mode_t mode, struct hail_errbuf *e)
{
	char dir[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(dir))
		return hail_fail(e, HAIL_E_USAGE, "%s: path too long", path);
	memcpy(dir, path, len + 1);
	for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(dir, mode) < 0 && errno != EEXIST)
			return hail_fail(e, HAIL_E_INTERNAL, "mkdir %s: %s", dir, strerror(errno));
		*p = '/';
	}
	return 0;
}
