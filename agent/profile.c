#include "profile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "signals.h"
#include "storepath.h"
#include "strutil.h"

#define LINK_HOPS_MAX 8

static bool path_is_clean(const char *p)
{
	const char *seg = p;

	for (;;) {
		const char *slash = strchr(seg, '/');
		size_t len = slash ? (size_t)(slash - seg) : strlen(seg);

		if ((len == 1 && seg[0] == '.') || (len == 2 && !memcmp(seg, "..", 2)))
			return false;
		if (len == 0 && seg != p)       /* "//" or a trailing "/" */
			return false;
		if (!slash)
			return true;
		seg = slash + 1;
	}
}

int profile_path(const char *name, char **path, struct hail_errbuf *e)
{
	char shown[128];

	str_escape(shown, sizeof(shown), name, strlen(name));
	if (name[0] == '/' ? strlen(name) > 512 || name[strlen(name) - 1] == '/' ||
	    !path_is_clean(name + 1) || strcspn(name, "\n\r\t") != strlen(name) :
	    !profile_name_valid(name))
		return hail_fail(e, HAIL_E_USAGE, "profile '%s': not a name (segments of A-Z a-z "
				 "0-9 - _ ., not starting with . or -, joined by /) or an absolute "
				 "path", shown);
	*path = name[0] == '/' ? strdup(name) : str_concat(PROFILES_DIR "/", name, NULL);
	if (!*path)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	return 0;
}

int profile_current(const char *path, char **store_path, struct hail_errbuf *e)
{
	char cur[PATH_MAX], target[PATH_MAX];

	*store_path = NULL;
	if (strlen(path) >= sizeof(cur))
		return hail_fail(e, HAIL_E_USAGE, "profile path too long");
	memcpy(cur, path, strlen(path) + 1);
	/* P -> P-N-link -> /nix/store/...: follow links until a store path,
	 * not further (an output may itself be a symlink). */
	for (int hop = 0; hop < LINK_HOPS_MAX; hop++) {
		ssize_t n = readlink(cur, target, sizeof(target) - 1);

		if (n < 0 && errno == ENOENT && hop == 0)
			return 0;
		if (n < 0)
			return hail_fail(e, HAIL_E_NIX, "profile %s: %s: %s", path, cur,
					 errno == EINVAL ? "not a symlink" : strerror(errno));
		target[n] = '\0';
		if (target[0] != '/') {
			char *slash = strrchr(cur, '/');
			size_t dirlen = slash ? (size_t)(slash - cur) + 1 : 0;

			if (dirlen + (size_t)n >= sizeof(cur))
				return hail_fail(e, HAIL_E_NIX, "profile %s: link too long", path);
			memmove(cur + dirlen, target, (size_t)n + 1);
		} else {
			memcpy(cur, target, (size_t)n + 1);
		}
		if (storepath_valid(cur, strlen(cur), NULL)) {
			*store_path = strdup(cur);
			return *store_path ? 0 : hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		}
	}
	return hail_fail(e, HAIL_E_NIX, "profile %s does not lead to a store path", path);
}

long profile_generation(const char *path)
{
	const char *base = strrchr(path, '/');
	char target[PATH_MAX];
	unsigned long long n;
	ssize_t len;
	size_t blen;

	base = base ? base + 1 : path;
	blen = strlen(base);
	len = readlink(path, target, sizeof(target) - 1);
	if (len < 0)
		return 0;
	target[len] = '\0';
	/* "NAME-N-link", relative, as nix-env makes it */
	if ((size_t)len < blen + 7 || strncmp(target, base, blen) || target[blen] != '-' ||
	    strcmp(target + len - 5, "-link"))
		return 0;
	target[len - 5] = '\0';
	if (str_to_u64(target + blen + 1, 1, 1000000000, &n) < 0)
		return 0;
	return (long)n;
}

int profile_switch_generation(const char *path, long generation, unsigned timeout_s,
			      struct hail_errbuf *e)
{
	char num[24];
	const char *argv[] = { "nix-env", "--profile", path, "--switch-generation", num, NULL };
	struct child_result res;
	char how[128];

	snprintf(num, sizeof(num), "%ld", generation);
	if (child_run(argv, timeout_s, &res) < 0)
		return hail_fail(e, HAIL_E_NIX, "cannot run nix-env: %s", strerror(res.spawn_errno));
	if (!child_succeeded(&res)) {
		child_describe(&res, how, sizeof(how));
		return hail_fail(e, HAIL_E_NIX, "nix-env --profile %s --switch-generation %ld %s",
				 path, generation, how);
	}
	return 0;
}

int profile_lock(const char *path, unsigned wait_s, int *fd, struct hail_errbuf *e)
{
	long long deadline = monotonic_ms() + (long long)wait_s * 1000;
	char *lock_path = str_concat(path, ".hail.lock", NULL);
	int lfd, ret;

	if (!lock_path)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	lfd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (lfd < 0) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "open %s: %s", lock_path, strerror(errno));
		goto out;
	}
	/* flock() would block with our signals held: try, and wait on the
	 * signals in between, so SIGTERM still ends the wait. */
	for (bool said = false; flock(lfd, LOCK_EX | LOCK_NB) < 0; said = true) {
		if (errno != EWOULDBLOCK) {
			ret = hail_fail(e, HAIL_E_INTERNAL, "lock %s: %s", lock_path, strerror(errno));
			goto out;
		}
		if (signals_stop_requested()) {
			ret = hail_fail(e, HAIL_E_INTERRUPTED, "stopped while waiting for the lock "
					"of profile %s", path);
			goto out;
		}
		if (!said && wait_s)
			log_info("profile %s is locked by another process: waiting up to %us",
				 path, wait_s);
		if (monotonic_ms() >= deadline) {
			ret = hail_fail(e, HAIL_E_BUSY, "profile %s is locked by another process "
					"(%s)", path, lock_path);
			goto out;
		}
		signals_wait(100);
	}
	*fd = lfd;
	lfd = -1;
	ret = 0;
out:
	if (lfd >= 0)
		close(lfd);
	free(lock_path);
	return ret;
}

int profile_set(const char *path, const char *store_path, unsigned timeout_s,
		struct hail_errbuf *e)
{
	const char *argv[] = { "nix-env", "--profile", path, "--set", store_path, NULL };
	struct child_result res;
	char how[128];

	if (!storepath_valid(store_path, strlen(store_path), NULL))
		return hail_fail(e, HAIL_E_PROTOCOL, "refusing to switch to a non-store path");
	if (child_run(argv, timeout_s, &res) < 0)
		return hail_fail(e, HAIL_E_NIX, "cannot run nix-env: %s", strerror(res.spawn_errno));
	if (!child_succeeded(&res)) {
		child_describe(&res, how, sizeof(how));
		return hail_fail(e, HAIL_E_NIX, "nix-env --profile %s --set %s %s", path, store_path, how);
	}
	return 0;
}

/* Runs P/program with a time limit. HAIL_E_NOT_FOUND when it is not there
 * and optional. */
static int run_program(const char *path, const char *program, bool optional, unsigned timeout_s,
		       struct child_result *res, struct hail_errbuf *e)
{
	char *file = str_concat(path, "/", program);
	const char *argv[] = { file, NULL };
	struct child_result local;
	char how[128];
	int ret;

	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	if (!file)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	if (access(file, X_OK) < 0) {
		if (optional && errno == ENOENT)
			ret = HAIL_E_NOT_FOUND;
		else
			ret = hail_fail(e, HAIL_E_ACTIVATE, "%s: %s", file,
					errno == EACCES ? "not executable" : strerror(errno));
		goto out;
	}
	if (child_run(argv, timeout_s, res) < 0) {
		ret = hail_fail(e, HAIL_E_ACTIVATE, "cannot run %s: %s", file,
				strerror(res->spawn_errno));
		goto out;
	}
	child_describe(res, how, sizeof(how));
	ret = child_succeeded(res) ? 0 : hail_fail(e, HAIL_E_ACTIVATE, "%s %s", file, how);
out:
	free(file);
	return ret;
}

int profile_activate(const char *path, unsigned timeout_s, struct child_result *res,
		     struct hail_errbuf *e)
{
	return run_program(path, "bin/activate", false, timeout_s, res, e);
}

int profile_health_check(const char *path, unsigned timeout_s, struct child_result *res,
			 struct hail_errbuf *e)
{
	return run_program(path, "bin/health-check", true, timeout_s, res, e);
}
