#include "fetcher.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cafile.h"
#include "control.h"
#include "http.h"
#include "log.h"
#include "record.h"
#include "strutil.h"

#define USER_AGENT "hail/" HAIL_VERSION
#define CONNECT_TIMEOUT_S 10
#define CHANNEL_FD 3            /* the fetcher's end, moved here */

/* What the fetcher holds while it serves. */
struct fetcher {
	const struct settings *set;     /* borrowed: the root side's copy, inherited */
	int fd;                         /* the channel */
	int netrc_fd;                   /* memfd with the netrc's bytes, or -1 */
	char netrc_path[32];            /* /proc/self/fd/N of it */
	struct hydra_job job;
	struct http_client *http;       /* owned */
	struct ca_set *extra_ca;        /* owned */
	struct control control;
	bool control_on;
};

int fetcher_job(const struct settings *set, struct hydra_job *job, struct hail_errbuf *e)
{
	int ret = hydra_job_parse(set->job_uri, job, e);
	char *url;

	if (ret < 0 || !set->wait_for_eval)
		return ret;
	/* the newest build whose whole evaluation is done (protocols.md) */
	url = str_concat(job->uri, "/latest-finished", NULL);
	if (!url) {
		hydra_job_clear(job);
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	}
	free(job->latest_url);
	job->latest_url = url;
	return 0;
}

static bool never_abort(void)
{
	return false;   /* SIGTERM ends the fetcher at once; the root side decides */
}

static int send_record(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;

	if (!len)
		return HAIL_E_INTERNAL;
	do
		n = send(fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? 0 : HAIL_E_INTERNAL;
}

/* An error as the root side takes it: the kinds a fetch fails with (a bad
 * setting only at the start); any other is the peer's nonsense. */
static int send_error(int fd, uint32_t seq, int kind, const char *msg)
{
	uint8_t buf[RECORD_MAX];

	if (kind != HAIL_E_INTERNAL && (kind > (seq ? HAIL_E_NETWORK : HAIL_E_USAGE) ||
					kind < HAIL_E_NOT_FOUND))
		kind = HAIL_E_PROTOCOL;
	return send_record(fd, buf, record_put_error(buf, seq, kind, msg));
}

/* Everything closed but the channel, stdin, and stdout and stderr, which
 * become the log pipe; signals as a new process has them (SIGPIPE stays
 * ignored: a peer's close is an error, not death). */
static int reset_process(int fd, int log_fd)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	if (dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0)
		return -1;
	if (fd != CHANNEL_FD && dup2(fd, CHANNEL_FD) < 0)
		return -1;
	if (close_range(CHANNEL_FD + 1, ~0U, 0) < 0)
		return -1;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGPIPE && sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	return sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Set-up and confinement; the netrc's memfd and --ca-file come first,
 * while the files can still be opened. */
static int setup(struct fetcher *f, const struct sandbox_user *user, pid_t parent,
		 struct hail_errbuf *e)
{
	struct http_options ho = {
		.user_agent = USER_AGENT,
		.connect_timeout_s = CONNECT_TIMEOUT_S,
		.total_timeout_s = f->set->http_timeout_s,
		.should_abort = never_abort,
	};
	bool landlock;
	int ret;

	if (f->set->netrc_file) {
		f->netrc_fd = memfd_create("netrc", MFD_CLOEXEC);
		if (f->netrc_fd < 0)
			return hail_fail(e, HAIL_E_INTERNAL, "memfd_create: %s", strerror(errno));
		snprintf(f->netrc_path, sizeof(f->netrc_path), "/proc/self/fd/%d", f->netrc_fd);
		ho.netrc_file = f->netrc_path;
	}
	if (f->set->ca_file) {
		ret = ca_set_load(f->set->ca_file, &f->extra_ca, e);
		if (ret < 0)
			return ret;
		ho.extra_ca = f->extra_ca;
	}
	ret = sandbox_enter(user, parent, NULL, &landlock, e);
	if (ret < 0)
		return ret;
	if (ho.connect_timeout_s > ho.total_timeout_s)
		ho.connect_timeout_s = ho.total_timeout_s;
	ret = http_global_init();
	if (ret < 0)
		return hail_fail(e, ret, "cannot initialise libcurl");
	ret = fetcher_job(f->set, &f->job, e);
	if (ret < 0)
		return ret;
	if (control_wanted(f->set)) {
		ret = control_open(&f->control, f->set, e);
		if (ret < 0)
			return ret;
		f->control_on = true;
	}
	f->http = http_client_new(&ho);
	if (!f->http)
		return hail_fail(e, HAIL_E_INTERNAL, "cannot set up libcurl");
	if (!landlock)
		log_warning("this kernel has no Landlock: confined by its user and its system call "
			    "filter only");
	log_debug("running as %s", user->name);
	return 0;
}

/* The netrc's bytes, bounded, into the memfd libcurl reads: copied by the
 * kernel (sendfile), so that no copy of them stays in this process's
 * memory. */
static int take_netrc(struct fetcher *f, int passed, struct hail_errbuf *e)
{
	size_t len = 0;
	ssize_t n;

	if (f->netrc_fd < 0)
		return 0;
	if (passed < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "no netrc descriptor came with the question");
	if (ftruncate(f->netrc_fd, 0) < 0 || lseek(f->netrc_fd, 0, SEEK_SET) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "netrc copy: %s", strerror(errno));
	do {
		n = sendfile(f->netrc_fd, passed, NULL, FETCHER_NETRC_MAX + 1 - len);
		if (n > 0)
			len += (size_t)n;
	} while ((n > 0 && len <= FETCHER_NETRC_MAX) || (n < 0 && errno == EINTR));
	if (n < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "netrc-file: %s", strerror(errno));
	if (len > FETCHER_NETRC_MAX) {
		/* the part copied is of no use to anyone */
		bool emptied = ftruncate(f->netrc_fd, 0) == 0;

		return hail_fail(e, HAIL_E_INTERNAL, "netrc-file: larger than %d bytes%s",
				 FETCHER_NETRC_MAX, emptied ? "" : " (its copy stays until the fetcher ends)");
	}
	return 0;
}

/* A build, of the job followed (a latest that redirects elsewhere, or a pin
 * to another job's build, must not deploy it). */
static int answer_build(struct fetcher *f, uint32_t seq, uint64_t id, const char *what,
			uint8_t *out, size_t *len, struct hail_errbuf *e)
{
	struct hydra_build b;
	int ret;

	ret = hydra_build(f->http, &f->job, id, &b, e);
	if (ret < 0)
		return ret;
	if (!hydra_build_of_job(&b, &f->job)) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "%s %" PRIu64 " is of job %s, not of %s", what,
				id, b.job_name ? b.job_name : "(not given)", f->job.uri);
	} else {
		/* a time before 1970 or after 9999 is as good as none */
		int64_t t = b.stoptime > 0 && b.stoptime <= RECORD_TIME_MAX ? b.stoptime : 0;

		*len = record_put_build(out, seq, id, t, b.out_path, b.job_name);
		if (!*len)
			ret = hail_fail(e, HAIL_E_PROTOCOL, "build %" PRIu64 ": a field too long", id);
	}
	hydra_build_clear(&b);
	return ret;
}

static int answer(struct fetcher *f, const struct record_ask *ask, int passed, uint8_t *out,
		  size_t *len, struct hail_errbuf *e)
{
	struct control_reading tags, fleet;
	uint64_t id;
	int ret;

	if (ask->type == RECORD_ASK_CONTROL) {
		if (f->control_on) {
			control_read(&f->control, &tags, &fleet);
		} else {
			memset(&tags, 0, sizeof(tags));
			tags.kind = fleet.kind = READING_ABSENT;
			fleet.v = tags.v;
		}
		*len = record_put_control(out, ask->seq, &tags, &fleet);
		return 0;
	}
	if (ask->type == RECORD_ASK_METRICS) {
		if (!f->control_on || !f->set->cloudwatch_metrics)
			return hail_fail(e, HAIL_E_INTERNAL, "no cloudwatch-metrics is set");
		ret = control_put_metrics(&f->control, f->set, &ask->metrics, e);
		if (ret == 0)
			*len = record_put_done(out, ask->seq);
		return ret;
	}
	if (ask->type == RECORD_ASK_ALARM) {
		enum alarm_state state;
		time_t since;

		if (!f->control_on || !f->set->halt_alarm)
			return hail_fail(e, HAIL_E_INTERNAL, "no halt-alarm is set");
		ret = control_read_alarm(&f->control, f->set->halt_alarm, &state, &since, e);
		if (ret == 0)
			*len = record_put_alarm(out, ask->seq, state,
						since > 0 && since <= RECORD_TIME_MAX ? since : 0);
		return ret;
	}
	ret = take_netrc(f, passed, e);
	if (ret < 0)
		return ret;
	if (ask->type == RECORD_ASK_BUILD)
		return answer_build(f, ask->seq, ask->id, "pinned build", out, len, e);
	ret = hydra_latest(f->http, &f->job, &id, e);
	if (ret < 0)
		return ret;
	if (id == ask->id) {
		*len = record_put_same(out, ask->seq, id);
		return 0;
	}
	return answer_build(f, ask->seq, id, "latest build", out, len, e);
}

/* One question: its record, and a descriptor when one came along. Returns
 * the record's length, 0 when the root side has gone, -1 on a broken
 * channel. */
static ssize_t receive(int fd, uint8_t *buf, int *passed)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = RECORD_MAX };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *c;
	ssize_t n;

	*passed = -1;
	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)) && *passed < 0)
			memcpy(passed, CMSG_DATA(c), sizeof(int));
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -1;
	return n;
}

static int serve(struct fetcher *f)
{
	uint8_t in[RECORD_MAX], out[RECORD_MAX];

	for (;;) {
		struct hail_errbuf e = { "" };
		struct record_ask ask;
		size_t len = 0;
		int passed, ret;
		ssize_t n = receive(f->fd, in, &passed);

		if (n == 0)
			return 0;       /* the root side closed the channel: done */
		if (n < 0 || record_read_ask(in, (size_t)n, &ask, &e) < 0) {
			if (passed >= 0)
				close(passed);
			log_error(HAIL_E_PROTOCOL, "%s", n < 0 ? "broken channel" : e.msg);
			return FETCHER_EXIT_CHANNEL;
		}
		ret = answer(f, &ask, passed, out, &len, &e);
		if (passed >= 0)
			close(passed);
		if (ret < 0)
			ret = send_error(f->fd, ask.seq, ret, e.msg);
		else
			ret = send_record(f->fd, out, len);
		if (ret < 0)
			return FETCHER_EXIT_CHANNEL;
	}
}

static void fetcher_main(const struct settings *set, const struct sandbox_user *user,
			 pid_t parent, int fd, int log_fd)
{
	struct fetcher f = { .set = set, .fd = CHANNEL_FD, .netrc_fd = -1 };
	struct hail_errbuf e = { "" };
	uint8_t hello[RECORD_MAX];
	int ret;

	if (reset_process(fd, log_fd) < 0)
		_exit(FETCHER_EXIT_SETUP);
	/* the root side files each line again, by its "<N>" (fetch.h) */
	log_set_priority_prefixes(1);
	ret = setup(&f, user, parent, &e);
	if (ret < 0) {
		(void)send_error(f.fd, 0, ret, e.msg);
		_exit(FETCHER_EXIT_SETUP);
	}
	if (send_record(f.fd, hello, record_put_hello(hello)) < 0)
		_exit(FETCHER_EXIT_CHANNEL);
	ret = serve(&f);
	/* no clean-up of libcurl or OpenSSL: the process ends here */
	_exit(ret);
}

int fetcher_spawn(const struct settings *set, const struct sandbox_user *user, pid_t *pid,
		  int *fd, int *log_fd, struct hail_errbuf *e)
{
	pid_t parent = getpid();
	int sv[2], lp[2];
	pid_t child;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "socketpair: %s", strerror(errno));
	if (pipe2(lp, O_CLOEXEC) < 0) {
		close(sv[0]);
		close(sv[1]);
		return hail_fail(e, HAIL_E_INTERNAL, "pipe: %s", strerror(errno));
	}
	fflush(NULL);
	child = fork();
	if (child == 0) {
		close(sv[0]);
		close(lp[0]);
		fetcher_main(set, user, parent, sv[1], lp[1]);
	}
	close(sv[1]);
	close(lp[1]);
	if (child < 0 || fcntl(lp[0], F_SETFL, O_NONBLOCK) < 0) {
		int err = errno;

		close(sv[0]);
		close(lp[0]);
		if (child > 0) {
			kill(child, SIGKILL);
			(void)waitpid(child, NULL, 0);
		}
		return hail_fail(e, HAIL_E_INTERNAL, "starting the fetcher: %s", strerror(err));
	}
	*pid = child;
	*fd = sv[0];
	*log_fd = lp[0];
	return 0;
}
