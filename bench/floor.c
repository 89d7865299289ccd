/* The floor: the least a libcurl program can do to follow a Hydra job.
 *
 * Usage: floor URL NETRC PERIOD_SECONDS [MODE]
 *
 * Every PERIOD_SECONDS it GETs URL (a job's .../latest) with
 * "Accept: application/json" and credentials from NETRC, does not follow the
 * redirect, and reads the Location, which names the latest build. That is one
 * request per idle poll, the least any pull agent can make. It reuses one easy
 * handle (and so one connection, while the server keeps it) for its whole life.
 *
 * MODE says where an https URL's CA certificates come from (a plain http URL
 * ignores it):
 *   default      libcurl's built-in defaults: on Debian the bundle file
 *                /etc/ssl/certs/ca-certificates.crt AND the CA path
 *                /etc/ssl/certs, which keeps libcurl 7.88's OpenSSL backend
 *                from caching the parsed store: every new connection parses
 *                the whole bundle again
 *   capath-null  CURLOPT_CAPATH NULL, the bundle file kept: libcurl keeps the
 *                parsed store (CURLOPT_CA_CACHE_TIMEOUT, 24 h by default)
 *   blob         the bundle file read once at start and given as
 *                CURLOPT_CAINFO_BLOB (CURLOPT_CAINFO and CURLOPT_CAPATH NULL)
 * The bundle is libcurl's built-in CA file (curl_version_info's cainfo).
 *
 * A transfer that fails with its connection (libcurl 7.88 reusing a connection
 * the server closed with a TLS close_notify) is retried once on a fresh one.
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

enum ca_mode { CA_DEFAULT, CA_CAPATH_NULL, CA_BLOB };

/* The whole of path in memory (the blob mode's bundle); NULL on failure. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0;

	*len = 0;
	if (!f)
		return NULL;
	for (;;) {
		size_t n;

		if (*len == cap) {
			char *bigger = cap < (64u << 20) ? realloc(buf, cap ? cap * 2 : 65536) : NULL;

			if (!bigger) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = bigger;
			cap = cap ? cap * 2 : 65536;
		}
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Sets the CA options of mode; blob is the bundle's bytes (CA_BLOB only). */
static int set_ca(CURL *h, enum ca_mode mode, const struct curl_blob *blob)
{
	CURLcode rc = CURLE_OK;

	if (mode == CA_CAPATH_NULL || mode == CA_BLOB)
		rc = curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	if (rc == CURLE_OK && mode == CA_BLOB) {
		rc = curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, blob);
	}
	if (rc != CURLE_OK) {
		fprintf(stderr, "floor: CA options: %s\n", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

static CURL *make_handle(const char *url, const char *netrc, struct curl_slist *headers,
			 size_t *bytes, enum ca_mode mode, const struct curl_blob *blob)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	if (set_ca(h, mode, blob) != 0) {
		curl_easy_cleanup(h);
		return NULL;
	}
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

/* libcurl 7.88 takes a server's TLS close_notify on an idle connection for a
 * live connection and sends the request on it (curl issue 18926, fixed in
 * 8.17.0); the transfer then fails with one of these. */
static int connection_was_dead(CURLcode rc)
{
	return rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING;
}

/* One poll: GET, then keep the Location when it changed. Returns 0 or -1.
 * A transfer that died with its connection is tried once more on a fresh
 * connection, as any correct poller must under libcurl 7.88 (see above). */
static int poll_once(CURL *h, char **latest)
{
	CURLcode rc = curl_easy_perform(h);
	char *location = NULL;
	long status = 0;

	if (connection_was_dead(rc)) {
		fprintf(stderr, "floor: %s: retried on a fresh connection\n",
			curl_easy_strerror(rc));
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
		rc = curl_easy_perform(h);
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 0L);
	}
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
	struct curl_blob blob = { NULL, 0, CURL_BLOB_NOCOPY };
	enum ca_mode mode = CA_DEFAULT;
	const curl_version_info_data *v;
	char *latest = NULL;
	size_t bytes = 0;
	sigset_t stop;
	long period;
	CURL *h;

	if ((argc != 4 && argc != 5) || (period = strtol(argv[3], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: floor URL NETRC PERIOD_SECONDS [default|capath-null|blob]\n");
		return 2;
	}
	if (argc == 5 && strcmp(argv[4], "capath-null") == 0)
		mode = CA_CAPATH_NULL;
	else if (argc == 5 && strcmp(argv[4], "blob") == 0)
		mode = CA_BLOB;
	else if (argc == 5 && strcmp(argv[4], "default") != 0) {
		fprintf(stderr, "floor: MODE must be default, capath-null or blob\n");
		return 2;
	}
	block_stop_signals(&stop);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	v = curl_version_info(CURLVERSION_NOW);
	fprintf(stderr, "floor: CA mode %s (libcurl's defaults: file %s, path %s)\n",
		mode == CA_DEFAULT ? "default" : mode == CA_BLOB ? "blob" : "capath-null",
		v->cainfo ? v->cainfo : "none", v->capath ? v->capath : "none");
	if (mode == CA_BLOB) {
		/* Read once; libcurl parses it for each new TLS context. */
		if (!v->cainfo || !(blob.data = read_file(v->cainfo, &blob.len))) {
			fprintf(stderr, "floor: cannot read the CA bundle %s\n",
				v->cainfo ? v->cainfo : "(none built in)");
			return 1;
		}
		fprintf(stderr, "floor: CA bundle %s: %zu bytes\n", v->cainfo, blob.len);
	}
	headers = curl_slist_append(NULL, "Accept: application/json");
	h = headers ? make_handle(argv[1], argv[2], headers, &bytes, mode, &blob) : NULL;
	if (!h)
		return 1;
	do
		poll_once(h, &latest);
	while (!wait_or_stop(&stop, period));
	fprintf(stderr, "floor: stopping after %zu body bytes\n", bytes);
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	free(latest);
	free(blob.data);
	curl_global_cleanup();
	return 0;
}
