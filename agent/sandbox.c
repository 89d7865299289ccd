#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

/* Debian 12's headers stop at Landlock ABI 2; the kernel may know more. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

/* What the fetcher reads after it is confined: the CA store, the resolver's
 * files, the libraries glibc and OpenSSL load late (NSS modules, OpenSSL's
 * configuration), and the store, where a hail built by Nix finds its own.
 * Nothing of hail's: not /etc/hail, /var/lib/hail, a netrc or /root. */
static const char *const read_paths[] = {
	"/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/usr/share/ca-certificates",
	"/usr/lib/ssl", "/etc/pki/tls/certs", "/etc/pki/ca-trust",
	"/etc/resolv.conf", "/run/systemd/resolve", "/etc/hosts", "/etc/nsswitch.conf",
	"/etc/host.conf", "/etc/gai.conf", "/etc/services", "/etc/protocols",
	"/etc/ld.so.cache", "/etc/localtime", "/usr/share/zoneinfo",
	"/usr/lib", "/lib", "/lib64", "/usr/lib64", "/nix/store",
	"/dev/null", "/dev/urandom",
};

int sandbox_find_user(const char *name, bool named, struct sandbox_user *u, bool *fell_back,
		      struct hail_errbuf *e)
{
	const struct passwd *pw;

	memset(u, 0, sizeof(*u));
	*fell_back = false;
	if (geteuid() != 0) {
		u->uid = geteuid();
		u->gid = getegid();
		snprintf(u->name, sizeof(u->name), "uid %u", (unsigned)u->uid);
		return 0;
	}
	errno = 0;
	pw = getpwnam(name);
	if (!pw && !named) {
		*fell_back = true;
		pw = getpwnam(SANDBOX_FALLBACK_USER);
	}
	if (!pw)
		return hail_fail(e, HAIL_E_USAGE, "fetcher-user %s: no such user%s", name,
				 named ? "" : ", and no " SANDBOX_FALLBACK_USER " either");
	if (pw->pw_uid == 0 || pw->pw_gid == 0)
		return hail_fail(e, HAIL_E_USAGE, "fetcher-user %s: is root", pw->pw_name);
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	u->switch_to = true;
	snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
	return 0;
}

static int drop_user(const struct sandbox_user *u, struct hail_errbuf *e)
{
	uid_t r, ef, s;

	/* root's bounding set emptied first, while CAP_SETPCAP is there */
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return hail_fail(e, HAIL_E_INTERNAL, "PR_CAPBSET_DROP: %s", strerror(errno));
	if (setgroups(0, NULL) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
	    setresuid(u->uid, u->uid, u->uid) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "switching to user %s: %s", u->name,
				 strerror(errno));
	/* the switch must have taken, all of it: no way back to root */
	if (getresuid(&r, &ef, &s) < 0 || r != u->uid || ef != u->uid || s != u->uid ||
	    setuid(0) == 0)
		return hail_fail(e, HAIL_E_INTERNAL, "switching to user %s did not take", u->name);
	return 0;
}

static long landlock_abi(void)
{
	return syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
}

static int add_read_rule(int ruleset, const char *path, uint64_t handled)
{
	struct landlock_path_beneath_attr rule = { 0 };
	struct stat st;
	int fd, ret;

	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	rule.parent_fd = fd;
	rule.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE;
	if (S_ISDIR(st.st_mode))
		rule.allowed_access |= LANDLOCK_ACCESS_FS_READ_DIR;
	rule.allowed_access &= handled;
	ret = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
	ret = ret < 0 ? -errno : 0;
	close(fd);
	return ret;
}

static int enter_landlock(const char *extra_read, bool *on, struct hail_errbuf *e)
{
	struct landlock_ruleset_attr attr = { 0 };
	long abi = landlock_abi();
	int ruleset, ret = 0;

	*on = false;
	if (abi < 1)
		return 0;       /* no Landlock here: the user and the filter remain */
	attr.handled_access_fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;       /* ABI 1 */
	if (abi >= 2)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "landlock_create_ruleset: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(read_paths) / sizeof(read_paths[0]) && ret == 0; i++)
		ret = add_read_rule(ruleset, read_paths[i], attr.handled_access_fs);
	if (ret == 0 && extra_read)
		ret = add_read_rule(ruleset, extra_read, attr.handled_access_fs);
	if (ret < 0)
		ret = hail_fail(e, HAIL_E_INTERNAL, "landlock_add_rule: %s", strerror(-ret));
	else if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
		ret = hail_fail(e, HAIL_E_INTERNAL, "landlock_restrict_self: %s", strerror(errno));
	else
		*on = true;
	close(ruleset);
	return ret;
}

/* SIGSYS from the filter: name the call, end the fetcher. Only write and
 * _exit, both allowed. */
static void refused(int sig, siginfo_t *si, void *ctx)
{
	char msg[96] = "system call ";
	size_t n = strlen(msg);
	char digits[12];
	int k = 0, nr = si->si_syscall;

	(void)sig;
	(void)ctx;
	do {
		digits[k++] = (char)('0' + nr % 10);
		nr /= 10;
	} while (nr && k < (int)sizeof(digits));
	while (k)
		msg[n++] = digits[--k];
	memcpy(msg + n, " refused by its filter\n", 23);
	n += 23;
	if (write(2, msg, n) < 0) {
		/* nothing more to do about it */
	}
	_exit(SANDBOX_REFUSED_STATUS);
}

/* The calls the fetcher makes (strace of polls over HTTP and HTTPS, with
 * IMDS, SSM and a resolver thread), each allowed with any arguments unless
 * a rule below narrows it. */
static const int allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(close), SCMP_SYS(lseek),
	SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(stat),
	SCMP_SYS(lstat), SCMP_SYS(openat), SCMP_SYS(open), SCMP_SYS(access),
	SCMP_SYS(faccessat), SCMP_SYS(faccessat2), SCMP_SYS(readlink),
	SCMP_SYS(readlinkat), SCMP_SYS(getdents64), SCMP_SYS(dup),
	SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(ftruncate), SCMP_SYS(sendfile),
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(mremap),
	SCMP_SYS(brk), SCMP_SYS(madvise),
	SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity), SCMP_SYS(exit),
	SCMP_SYS(exit_group), SCMP_SYS(restart_syscall),
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigpending), SCMP_SYS(rt_sigtimedwait),
	SCMP_SYS(sigaltstack), SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getppid),
	SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	SCMP_SYS(getrandom), SCMP_SYS(uname), SCMP_SYS(sysinfo), SCMP_SYS(prlimit64),
	SCMP_SYS(getrlimit),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday),
	SCMP_SYS(time), SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select), SCMP_SYS(pselect6),
	SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait), SCMP_SYS(eventfd2), SCMP_SYS(pipe2), SCMP_SYS(pipe),
	SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(getsockname),
	SCMP_SYS(getpeername), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt),
	SCMP_SYS(sendto), SCMP_SYS(recvfrom), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmmsg), SCMP_SYS(recvmmsg), SCMP_SYS(shutdown),
};

/* A rule on one argument (libseccomp's SCMP_A0() leaves datum_b out, which
 * clang warns about). */
static int rule_on_arg(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned arg,
		       enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
	struct scmp_arg_cmp cmp = { .arg = arg, .op = op, .datum_a = a, .datum_b = b };

	return seccomp_rule_add_array(ctx, action, nr, 1, &cmp);
}

static int enter_seccomp(struct hail_errbuf *e)
{
	/* no AF_UNIX socket: nothing on this machine to talk to (a nix-daemon's
	 * socket least of all); socketpair() stays, for libcurl's wake-ups */
	static const int families[] = { AF_INET, AF_INET6, AF_NETLINK };
	/* fcntl() without F_SETOWN and F_SETSIG, which would let a signal
	 * reach another process */
	static const int fcntls[] = { F_GETFD, F_SETFD, F_GETFL, F_DUPFD, F_DUPFD_CLOEXEC };
	static const unsigned long ioctls[] = { FIONREAD, FIONBIO, TCGETS };
	struct sigaction sa = { .sa_sigaction = refused, .sa_flags = SA_SIGINFO };
	scmp_filter_ctx ctx;
	int ret = 0;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "sigaction SIGSYS: %s", strerror(errno));
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return hail_fail(e, HAIL_E_INTERNAL, "seccomp_init failed");
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]) && ret == 0; i++)
		if (allowed[i] >= 0)    /* < 0: a call this architecture does not have */
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]) && ret == 0; i++)
		ret = rule_on_arg(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 0, SCMP_CMP_EQ,
				  (scmp_datum_t)families[i], 0);
	if (ret == 0)
		ret = rule_on_arg(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 0, SCMP_CMP_EQ,
				  AF_UNIX, 0);
	/* glibc asks nscd and nss-resolve over AF_UNIX sockets: told no, it
	 * asks DNS itself */
	if (ret == 0)
		ret = rule_on_arg(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0, SCMP_CMP_EQ,
				  AF_UNIX, 0);
	for (size_t i = 0; i < sizeof(fcntls) / sizeof(fcntls[0]) && ret == 0; i++)
		ret = rule_on_arg(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1, SCMP_CMP_EQ,
				  (scmp_datum_t)fcntls[i], 0);
	if (ret == 0) {
		struct scmp_arg_cmp setfl[] = {
			{ .arg = 1, .op = SCMP_CMP_EQ, .datum_a = F_SETFL },
			{ .arg = 2, .op = SCMP_CMP_MASKED_EQ, .datum_a = O_ASYNC, .datum_b = 0 },
		};

		ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 2, setfl);
	}
	for (size_t i = 0; i < sizeof(ioctls) / sizeof(ioctls[0]) && ret == 0; i++)
		ret = rule_on_arg(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_CMP_EQ,
				  (scmp_datum_t)ioctls[i], 0);
	/* threads, never processes; clone3's flags are in memory the filter
	 * cannot read, so it says ENOSYS and glibc falls back to clone */
	if (ret == 0)
		ret = rule_on_arg(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0, SCMP_CMP_MASKED_EQ,
				  CLONE_THREAD, CLONE_THREAD);
	if (ret == 0)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* raise() and abort() signal the fetcher itself, nothing else */
	if (ret == 0)
		ret = rule_on_arg(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 0, SCMP_CMP_EQ,
				  (scmp_datum_t)getpid(), 0);
	if (ret == 0)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	if (ret < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "seccomp filter: %s", strerror(-ret));
	return 0;
}

int sandbox_enter(const struct sandbox_user *u, pid_t parent, const char *extra_read,
		  bool *landlock, struct hail_errbuf *e)
{
	int ret = 0;

	*landlock = false;
	if (u->switch_to)
		ret = drop_user(u, e);
	/* the death signal is cleared by a change of user, so it comes after;
	 * a parent that died before it was set is caught by getppid() */
	if (ret == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent))
		ret = hail_fail(e, HAIL_E_INTERNAL, "the root side is gone");
	/* not dumpable: another process of the same user (nobody, say) can
	 * neither ptrace it nor read its memory */
	if (ret == 0 && (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
			 prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0))
		ret = hail_fail(e, HAIL_E_INTERNAL, "prctl: %s", strerror(errno));
	if (ret == 0)
		ret = enter_landlock(extra_read, landlock, e);
	if (ret == 0)
		ret = enter_seccomp(e);
	return ret;
}
