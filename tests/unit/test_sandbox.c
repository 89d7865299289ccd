/* The fetcher's confinement (sandbox.h), tried from inside: each probe runs
 * in a child that enters the sandbox exactly as the fetcher does and then
 * attempts one thing. What the fetcher needs works; the secrets, the state
 * and everything that could change the machine do not. Run as root (as
 * tests/run does), the child also switches to the fetcher's user. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "sandbox.h"

enum outcome {
	DONE = 0,               /* the attempt succeeded */
	DENIED = 1,             /* it failed with EACCES or EPERM */
	OTHER = 2,              /* it failed some other way */
	NO_LANDLOCK = 3,        /* a Landlock-only probe, and no Landlock here */
	SETUP = 4,              /* the sandbox could not be entered */
	REFUSED = SANDBOX_REFUSED_STATUS,       /* the filter ended it */
};

static struct sandbox_user user;
static char dir[64], netrc[96], state[96];
static int memfd = -1;          /* made before the sandbox, as the fetcher does */

static int open_read(const char *path)
{
	char c;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return errno == EACCES || errno == EPERM ? DENIED : OTHER;
	n = read(fd, &c, 1);
	close(fd);
	return n >= 0 ? DONE : OTHER;
}

static int probe(const char *what)
{
	if (!strcmp(what, "ca-bundle"))
		return open_read("/etc/ssl/certs/ca-certificates.crt");
	if (!strcmp(what, "resolv.conf"))
		return access("/etc/resolv.conf", F_OK) ? DONE : open_read("/etc/resolv.conf");
	if (!strcmp(what, "netrc"))
		return open_read(netrc);
	if (!strcmp(what, "shadow"))
		return open_read("/etc/shadow");
	if (!strcmp(what, "state"))
		return open_read(state);
	if (!strcmp(what, "passwd"))
		return open_read("/etc/passwd");
	if (!strcmp(what, "memfd")) {
		char path[32];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
		return open_read(path);
	}
	if (!strcmp(what, "write-tmp")) {
		char path[128];
		int fd;

		snprintf(path, sizeof(path), "%s/written", dir);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		return fd >= 0 ? DONE : errno == EACCES || errno == EPERM ? DENIED : OTHER;
	}
	if (!strcmp(what, "tcp-socket")) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		return fd >= 0 ? DONE : OTHER;
	}
	if (!strcmp(what, "unix-socket")) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		return fd >= 0 ? DONE : errno == EACCES ? DENIED : OTHER;
	}
	if (!strcmp(what, "fcntl-setown")) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			return OTHER;
		return fcntl(sv[0], F_SETOWN, 1) == 0 ? DONE : OTHER;
	}
	if (!strcmp(what, "exec")) {
		execl("/bin/true", "true", (char *)NULL);
		return OTHER;
	}
	if (!strcmp(what, "fork")) {
		pid_t p = fork();

		if (p == 0)
			_exit(0);
		return p > 0 ? DONE : OTHER;
	}
	if (!strcmp(what, "packet-socket"))
		return socket(AF_PACKET, SOCK_RAW, 0) >= 0 ? DONE : OTHER;
	if (!strcmp(what, "ptrace"))
		return ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0 ? DONE : OTHER;
	if (!strcmp(what, "kill-init"))
		return kill(1, 0) == 0 ? DONE : OTHER;
	if (!strcmp(what, "setuid-root"))
		return setuid(0) == 0 ? DONE : REFUSED;     /* the filter says it first */
	return OTHER;
}

/* Runs probe what in a sandboxed child; its outcome. */
static int run(const char *what, bool landlock_only)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct hail_errbuf e;
		bool landlock;
		pid_t parent = getppid();

		if (sandbox_enter(&user, parent, NULL, &landlock, &e) < 0) {
			fprintf(stderr, "%s\n", e.msg);
			_exit(SETUP);
		}
		if (landlock_only && !landlock)
			_exit(NO_LANDLOCK);
		_exit(probe(what));
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void expect(const char *what, bool landlock_only, int want, const char *why)
{
	int got = run(what, landlock_only);

	if (got == NO_LANDLOCK) {
		printf("PASS %s: %s (no Landlock in this kernel: not tried)\n", what, why);
		return;
	}
	CHECK(got == want, "%s: %s (outcome %d)", what, why, got);
}

int main(void)
{
	struct hail_errbuf e;
	bool fell_back;
	int fd;

	if (sandbox_find_user(SANDBOX_DEFAULT_USER, false, &user, &fell_back, &e) < 0) {
		printf("FAIL find the fetcher's user: %s\n", e.msg);
		return 1;
	}
	snprintf(dir, sizeof(dir), "/tmp/hail-sandbox-XXXXXX");
	if (!mkdtemp(dir) || chmod(dir, 0777) < 0)
		return 1;
	snprintf(netrc, sizeof(netrc), "%s/netrc", dir);
	snprintf(state, sizeof(state), "%s/state.json", dir);
	fd = open(netrc, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, "machine x login u password p\n", 29) != 29 || close(fd) < 0)
		return 1;
	/* readable by anyone: only Landlock keeps the fetcher out */
	fd = open(state, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0 || write(fd, "{}\n", 3) != 3 || close(fd) < 0)
		return 1;

	memfd = memfd_create("probe", MFD_CLOEXEC);
	if (memfd < 0 || write(memfd, "x", 1) != 1)
		return 1;
	expect("ca-bundle", false, DONE, "the CA store can be read");
	expect("resolv.conf", false, DONE, "the resolver's files can be read");
	expect("memfd", false, DONE, "its own memfd can be read through /proc/self/fd (the netrc copy)");
	expect("tcp-socket", false, DONE, "a TCP socket can be made");
	if (user.switch_to) {
		expect("netrc", false, DENIED, "the root-only netrc cannot be read");
		expect("shadow", false, DENIED, "/etc/shadow cannot be read");
		expect("setuid-root", false, REFUSED, "there is no way back to root");
	}
	expect("state", true, DENIED, "the state (mode 0644) cannot be read");
	expect("passwd", true, DENIED, "/etc/passwd is not on its list either");
	expect("write-tmp", true, DENIED, "nothing can be written, even where all may write");
	expect("unix-socket", false, DENIED, "no AF_UNIX socket (a nix-daemon's least of all)");
	expect("fcntl-setown", false, REFUSED, "no F_SETOWN (a signal to another process)");
	expect("exec", false, REFUSED, "exec is refused by the filter");
	expect("fork", false, REFUSED, "a new process is refused by the filter");
	expect("packet-socket", false, REFUSED, "a raw packet socket is refused");
	expect("ptrace", false, REFUSED, "ptrace is refused");
	expect("kill-init", false, REFUSED, "signalling another process is refused");

	unlink(netrc);
	unlink(state);
	rmdir(dir);
	return check_exit();
}
