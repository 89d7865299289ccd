/* The floor: the least a libcurl program can do to follow a Hydra job.
 *
 * Usage: floor URL NETRC PERIOD_SECONDS
 *
 * Every PERIOD_SECONDS it GETs URL (a job's .../latest) with
 * "Accept: application/json" and credentials from NETRC, does not follow the
 * redirect, and reads the Location, which names the latest build. That is one
 * request per idle poll, the least any pull agent can make. It reuses one easy
 * handle (and so one connection) for its whole life.
 *
 * bench/run measures hail against it: memory, instructions per idle poll,
 * requests and bytes per idle poll. SIGTERM or SIGINT ends it cleanly between
 * polls, so that valgrind --tool=callgrind writes its totals.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The body of a 302 is not needed: count it and drop it. */
static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	size_t *bytes = userdata;

	(void)ptr;
	*bytes += size * nmemb;
	return size * nmemb;
}

/* Blocks the stop signals so they are taken only in wait_or_stop(): a
 * signal during a transfer then cannot cut it short or be lost. */
static void block_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigprocmask(SIG_BLOCK, set, NULL);
}

/* Sleeps for seconds; returns 1 when a stop signal came instead. */
static int wait_or_stop(const sigset_t *set, long seconds)
{
	struct timespec ts = { .tv_sec = seconds, .tv_nsec = 0 };

	for (;;) {
		int sig = sigtimedwait(set, NULL, &ts);

		if (sig == SIGTERM || sig == SIGINT)
			return 1;
		if (sig < 0 && errno == EAGAIN)
			return 0;
		/* EINTR (e.g. SIGCONT after SIGSTOP): wait again. Waiting the
		 * whole period again is fine for a benchmark. */
	}
}

static CURL *make_handle(const char *url, const char *netrc, struct curl_slist *headers,
			 size_t *bytes)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
	curl_easy_setopt(h, CURLOPT_NETRC_FILE, netrc);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* Bounded like any real agent, so one stuck poll cannot stop it. */
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, bytes);
	return h;
}

/* One poll: GET, then keep the Location when it changed. Returns 0 or -1. */
static int poll_once(CURL *h, char **latest)
{
	CURLcode rc = curl_easy_perform(h);
	char *location = NULL;
	long status = 0;

	if (rc != CURLE_OK) {
		fprintf(stderr, "floor: %s\n", curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &location);
	if (status != 302 || !location) {
		fprintf(stderr, "floor: HTTP %ld without a Location\n", status);
		return -1;
	}
	/* An idle poll ends with this comparison; only a change allocates. */
	if (!*latest || strcmp(*latest, location) != 0) {
		free(*latest);
		*latest = strdup(location);
		fprintf(stderr, "floor: latest is %s\n", location);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct curl_slist *headers = NULL;
	char *latest = NULL;
	size_t bytes = 0;
	sigset_t stop;
	long period;
	CURL *h;

	if (argc != 4 || (period = strtol(argv[3], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: floor URL NETRC PERIOD_SECONDS\n");
		return 2;
	}
	block_stop_signals(&stop);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	headers = curl_slist_append(NULL, "Accept: application/json");
	h = headers ? make_handle(argv[1], argv[2], headers, &bytes) : NULL;
	if (!h)
		return 1;
	do
		poll_once(h, &latest);
	while (!wait_or_stop(&stop, period));
	fprintf(stderr, "floor: stopping after %zu body bytes\n", bytes);
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	free(latest);
	curl_global_cleanup();
	return 0;
}
