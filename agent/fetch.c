#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "fetcher.h"
#include "log.h"
#include "signals.h"
#include "strutil.h"

#define START_DEADLINE_MS 30000
#define BACKOFF_MAX_S 60

/* How long a question may take: each of its requests (Hydra's latest and a
 * build; IMDS token, tags, credentials and SSM) may run for the whole HTTP
 * timeout, and one may be tried twice. */
static long long question_deadline_ms(const struct settings *set)
{
	return (8LL * set->http_timeout_s + 5) * 1000;
}

/* How it ended, in child.h's words; a filter's refusal by name. */
static const char *describe_status(int status, char *buf, size_t size)
{
	struct child_result res = { .wait_status = status };

	if (WIFEXITED(status) && WEXITSTATUS(status) == SANDBOX_REFUSED_STATUS)
		snprintf(buf, size, "exited after its filter refused a system call");
	else
		child_describe(&res, buf, (unsigned)size);
	return buf;
}

/* One line the fetcher wrote, filed again: escaped, marked as the
 * fetcher's, and never above error priority, so that it can neither forge
 * a line of the root side's nor raise an alert. */
static void file_line(const char *line, size_t len)
{
	char shown[sizeof(((struct fetch *)0)->log) + 64];
	int prio = LOG_WARNING;         /* an unmarked line: the SIGSYS handler's */

	if (len >= 3 && line[0] == '<' && line[1] >= '0' && line[1] <= '7' && line[2] == '>') {
		prio = line[1] - '0';
		line += 3;
		len -= 3;
	}
	if (prio < LOG_ERR)
		prio = LOG_ERR;
	str_escape(shown, sizeof(shown), line, len);
	log_msg(prio, 0, "fetcher: %s", shown);
}

/* Files every whole line waiting in the pipe (and, once it is closed, the
 * rest). A line longer than the buffer is cut in pieces. */
static void drain_log(struct fetch *f)
{
	for (;;) {
		ssize_t n;
		char *nl;

		if (f->log_fd < 0)
			return;
		n = read(f->log_fd, f->log + f->log_len, sizeof(f->log) - f->log_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				if (f->log_len)
					file_line(f->log, f->log_len);
				f->log_len = 0;
				close(f->log_fd);       /* closed by the fetcher */
				f->log_fd = -1;
			}
			return;
		}
		f->log_len += (size_t)n;
		while ((nl = memchr(f->log, '\n', f->log_len))) {
			size_t line = (size_t)(nl - f->log);

			file_line(f->log, line);
			memmove(f->log, nl + 1, f->log_len - line - 1);
			f->log_len -= line + 1;
		}
		if (f->log_len == sizeof(f->log)) {
			file_line(f->log, f->log_len);
			f->log_len = 0;
		}
	}
}

/* Kills and reaps the fetcher; returns its wait status. What it wrote
 * before it went is filed first. */
static int stop_fetcher(struct fetch *f)
{
	int status = 0;

	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		while (waitpid(f->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	f->pid = 0;
	drain_log(f);
	if (f->log_fd >= 0)
		close(f->log_fd);
	f->log_fd = -1;
	f->log_len = 0;
	return status;
}

/* The fetcher failed: killed, reaped, logged once, its restart put off. */
static int lost(struct fetch *f, const char *why, struct hail_errbuf *e)
{
	pid_t pid = f->pid;
	char how[96];
	unsigned wait_s;
	int status = stop_fetcher(f);

	wait_s = f->failures ? 1u << (f->failures - 1 < 6 ? f->failures - 1 : 6) : 0;
	if (wait_s > BACKOFF_MAX_S)
		wait_s = BACKOFF_MAX_S;
	f->failures++;
	f->restart_at_ms = monotonic_ms() + wait_s * 1000LL;
	if (f->restarts)
		(*f->restarts)++;
	if (wait_s)
		log_warning("fetcher (pid %d) %s, and %s; starting another in %us", (int)pid,
			    why, describe_status(status, how, sizeof(how)), wait_s);
	else
		log_warning("fetcher (pid %d) %s, and %s; starting another at the next poll",
			    (int)pid, why, describe_status(status, how, sizeof(how)));
	return hail_fail(e, HAIL_E_INTERNAL, "the fetcher %s", why);
}

/* Waits for the channel, filing the fetcher's log lines meanwhile. 1 when
 * there is a record (or the channel closed), 0 on time-out, or the error of
 * the wait (HAIL_E_INTERRUPTED for a stop). */
static int wait_channel(struct fetch *f, long long deadline)
{
	for (;;) {
		int fds[2] = { f->fd, f->log_fd };
		int ret = signals_wait_readable(fds, f->log_fd >= 0 ? 2 : 1,
						(long)(deadline - monotonic_ms()));

		if (ret != 2)
			return ret;
		drain_log(f);
	}
}

/* Waits for the reply to ask and reads it. A fetcher that fails in any way
 * is lost; one the root side gave up on (a stop, its own failure to wait)
 * is out of step with its questions, so it goes too, uncounted. */
static int await(struct fetch *f, const struct record_ask *ask, long long deadline,
		 struct record_reply *reply, struct hail_errbuf *e)
{
	uint8_t buf[RECORD_MAX];
	struct hail_errbuf why;
	char refused[sizeof(why.msg) + 64];
	ssize_t n;
	int ret;

	ret = wait_channel(f, deadline);
	if (ret < 0) {
		stop_fetcher(f);
		return ret == HAIL_E_INTERRUPTED ? hail_fail(e, ret, "stopped") :
			hail_fail(e, ret, "waiting for the fetcher: %s", strerror(errno));
	}
	if (ret == 0)
		return lost(f, "did not answer in time", e);
	do
		n = recv(f->fd, buf, RECORD_MAX, MSG_TRUNC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	drain_log(f);           /* what it wrote before it answered, first */
	if (n == 0)
		return lost(f, "closed the channel", e);
	if (n < 0)
		return lost(f, "could not be read from", e);
	if (n > RECORD_MAX)
		return lost(f, "sent an oversized record", e);
	if (record_read_reply(buf, (size_t)n, ask, reply, &why) < 0) {
		snprintf(refused, sizeof(refused), "sent a record the root side refuses (%s)",
			 why.msg);
		return lost(f, refused, e);
	}
	if (reply->type == RECORD_ERROR)
		return hail_fail(e, reply->u.error.kind, "%s", reply->u.error.message);
	if (ask->type != RECORD_ASK_START)
		f->failures = 0;        /* a hello alone proves little */
	return 0;
}

/* Starts a fetcher and waits for its hello. At the first start, a fetcher
 * that says why it cannot go on (a bad --ca-file) gives that error, for
 * agent_init to report; later, it is a failure like any other. */
static int start(struct fetch *f, bool first, struct hail_errbuf *e)
{
	struct record_ask ask = { .type = RECORD_ASK_START };
	struct record_reply reply;
	long long now = monotonic_ms();
	char why[sizeof(e->msg) + 32];
	int ret;

	if (now < f->restart_at_ms)
		return hail_fail(e, HAIL_E_INTERNAL, "the fetcher is starting again in %llds",
				 (f->restart_at_ms - now + 999) / 1000);
	ret = fetcher_spawn(f->set, &f->user, &f->pid, &f->fd, &f->log_fd, e);
	if (ret < 0)
		return ret;
	ret = await(f, &ask, now + START_DEADLINE_MS, &reply, e);
	if (ret < 0 && f->pid && first) {
		stop_fetcher(f);
	} else if (ret < 0 && f->pid) {
		snprintf(why, sizeof(why), "could not set itself up (%s)", e->msg);
		ret = lost(f, why, e);
	}
	return ret;
}

int fetch_open(struct fetch *f, const struct settings *set, unsigned long *restarts,
	       struct hail_errbuf *e)
{
	const char *name = set->fetcher_user ? set->fetcher_user : SANDBOX_DEFAULT_USER;
	bool fell_back;
	int ret;

	memset(f, 0, sizeof(*f));
	f->set = set;
	f->fd = -1;
	f->log_fd = -1;
	ret = sandbox_find_user(name, set->fetcher_user != NULL, &f->user, &fell_back, e);
	if (ret < 0)
		return ret;
	if (fell_back)
		log_warning("no user %s (the image and the package make one): the fetcher "
			    "runs as %s, which other daemons may share", name, f->user.name);
	ret = start(f, true, e);
	f->restarts = restarts;         /* only restarts count */
	return ret;
}

void fetch_close(struct fetch *f)
{
	stop_fetcher(f);
}

void fetch_renew(struct fetch *f)
{
	/* not a failure: not counted, no backoff; the next question starts it */
	stop_fetcher(f);
}

/* Sends a question, with the netrc's descriptor for Hydra's, and reads its
 * reply. Never blocks on the channel: a fetcher that does not take its
 * questions is lost, not waited for. */
static int ask(struct fetch *f, struct record_ask *q, struct record_reply *reply,
	       struct hail_errbuf *e)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	uint8_t buf[RECORD_MAX];
	struct iovec iov = { .iov_base = buf };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	int netrc = -1, ret;
	ssize_t n;

	if (signals_stop_requested())
		return hail_fail(e, HAIL_E_INTERRUPTED, "stopped");
	if (!f->pid) {
		ret = start(f, false, e);
		if (ret < 0)
			return ret;
	}
	q->seq = ++f->seq;
	iov.iov_len = q->type == RECORD_ASK_METRICS ? record_put_ask_metrics(buf, q->seq, &q->metrics) :
		record_put_ask(buf, q->type, q->seq, q->id);
	if ((q->type == RECORD_ASK_LATEST || q->type == RECORD_ASK_BUILD) && f->set->netrc_file) {
		netrc = open(f->set->netrc_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (netrc < 0) {
			char shown[128];

			str_escape(shown, sizeof(shown), f->set->netrc_file,
				   strlen(f->set->netrc_file));
			return hail_fail(e, errno == ENOENT ? HAIL_E_NOT_FOUND : HAIL_E_INTERNAL,
					 "netrc-file %s: %s", shown, strerror(errno));
		}
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &netrc, sizeof(int));
	}
	do
		n = sendmsg(f->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (netrc >= 0)
		close(netrc);
	if (n != (ssize_t)iov.iov_len)
		return lost(f, n < 0 && errno == EAGAIN ? "left its questions unread" :
			    "could not be written to", e);
	return await(f, q, monotonic_ms() + question_deadline_ms(f->set), reply, e);
}

int fetch_latest(struct fetch *f, uint64_t known_id, struct record_build *b, bool *same,
		 struct hail_errbuf *e)
{
	struct record_ask q = { .type = RECORD_ASK_LATEST, .id = known_id };
	struct record_reply r;
	int ret = ask(f, &q, &r, e);

	*same = ret == 0 && r.type == RECORD_SAME;
	if (ret == 0 && !*same)
		*b = r.u.build;
	return ret;
}

int fetch_build(struct fetch *f, uint64_t id, struct record_build *b, struct hail_errbuf *e)
{
	struct record_ask q = { .type = RECORD_ASK_BUILD, .id = id };
	struct record_reply r;
	int ret = ask(f, &q, &r, e);

	if (ret == 0)
		*b = r.u.build;
	return ret;
}

void fetch_control(struct fetch *f, struct control_reading *tags, struct control_reading *fleet)
{
	struct record_ask q = { .type = RECORD_ASK_CONTROL };
	struct hail_errbuf e;
	struct record_reply r;

	if (ask(f, &q, &r, &e) == 0) {
		*tags = r.u.control[0];
		*fleet = r.u.control[1];
		return;
	}
	memset(tags, 0, sizeof(*tags));
	memset(fleet, 0, sizeof(*fleet));
	tags->kind = fleet->kind = READING_UNREADABLE;
}

int fetch_alarm(struct fetch *f, enum alarm_state *state, time_t *since,
		struct hail_errbuf *e)
{
	struct record_ask q = { .type = RECORD_ASK_ALARM };
	struct record_reply r;
	int ret = ask(f, &q, &r, e);

	if (ret == 0) {
		*state = r.u.alarm.state;
		*since = (time_t)r.u.alarm.since;
	}
	return ret;
}

int fetch_metrics(struct fetch *f, const struct fleet_metrics *m, struct hail_errbuf *e)
{
	struct record_ask q = { .type = RECORD_ASK_METRICS, .metrics = *m };
	struct record_reply r;

	return ask(f, &q, &r, e);
}
