#include "imds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signals.h"
#include "strutil.h"
#include "url.h"

#define IMDS_CONNECT_TIMEOUT_S 2
#define IMDS_TOTAL_TIMEOUT_S 5
#define IMDS_TOKEN_MAX 1024
#define BACKOFF_FIRST_MS 100
#define BACKOFF_CAP_MS 5000

static int check_endpoint(const char *url, struct hail_errbuf *e)
{
	char shown[128];

	if (url_is_http(url))
		return 0;
	str_escape(shown, sizeof(shown), url, strlen(url));
	return hail_fail(e, HAIL_E_USAGE, "IMDS endpoint '%s': not an http(s) URL", shown);
}

int imds_open(struct imds *m, const char *endpoint_flag, unsigned wait_s, const char *user_agent,
	      struct hail_errbuf *e)
{
	struct http_options ho = {
		.user_agent = user_agent,
		.connect_timeout_s = IMDS_CONNECT_TIMEOUT_S,
		.total_timeout_s = IMDS_TOTAL_TIMEOUT_S,
		.should_abort = signals_stop_requested,
		/* IMDS answers only the instance itself: through a proxy (as
		 * http_proxy on many images would have it) the token PUT, the
		 * user-data and the role's credentials would fail or, worse,
		 * reach a machine that is not this instance's IMDS. libcurl
		 * exempts no link-local address by itself (protocols.md). */
		.no_proxy = true,
	};
	const char *disabled = getenv("AWS_EC2_METADATA_DISABLED");
	const char *mode = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	const char *endpoint = endpoint_flag;
	size_t n;
	int ret;

	memset(m, 0, sizeof(*m));
	if (disabled && !strcasecmp(disabled, "true"))
		return hail_fail(e, HAIL_E_USAGE, "AWS_EC2_METADATA_DISABLED=true: not asking IMDS");
	if (!endpoint)
		endpoint = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	if (!endpoint || !*endpoint)
		endpoint = (mode && !strcasecmp(mode, "IPv6")) ? IMDS_DEFAULT_ENDPOINT_IPV6 :
			IMDS_DEFAULT_ENDPOINT;
	ret = check_endpoint(endpoint, e);
	if (ret < 0)
		return ret;
	m->endpoint = strdup(endpoint);
	if (!m->endpoint)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	n = strlen(m->endpoint);
	while (n > 0 && m->endpoint[n - 1] == '/')
		m->endpoint[--n] = '\0';
	m->http = http_client_new(&ho);
	if (!m->http)
		return hail_fail(e, HAIL_E_INTERNAL, "cannot set up libcurl");
	m->deadline_ms = monotonic_ms() + (long long)wait_s * 1000;
	return 0;
}

void imds_set_wait(struct imds *m, long long wait_ms)
{
	m->deadline_ms = monotonic_ms() + wait_ms;
}

void imds_close(struct imds *m)
{
	http_client_free(m->http);
	free(m->endpoint);
	free(m->token);
	memset(m, 0, sizeof(*m));
}

enum attempt { ATTEMPT_DONE, ATTEMPT_RETRY, ATTEMPT_AGAIN_NOW };

/* One token PUT. Fills m->token, or sets m->v1, or says to retry. */
static enum attempt fetch_token(struct imds *m, int *ret, struct hail_errbuf *e)
{
	static const char *const headers[] = {
		"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL
	};
	struct http_response res;
	char url[512];
	int r;

	snprintf(url, sizeof(url), "%s/latest/api/token", m->endpoint);
	m->requests++;
	r = http_request(m->http, "PUT", url, headers, NULL, IMDS_TOKEN_MAX, &res);
	if (r < 0) {
		if (r == HAIL_E_INTERRUPTED) {
			*ret = hail_fail(e, r, "interrupted");
			return ATTEMPT_DONE;
		}
		if (r == HAIL_E_NETWORK && http_client_read_timed_out(m->http)) {
			/* an extra network hop eats the PUT (hop limit) */
			m->v1 = true;
			return ATTEMPT_AGAIN_NOW;
		}
		hail_fail(e, HAIL_E_NETWORK, "PUT %s: %s", url, http_client_error(m->http));
		return ATTEMPT_RETRY;
	}
	switch (res.status) {
	case 200:
		if (res.body_len == 0 || strcspn(res.body, " \t\r\n") != res.body_len) {
			*ret = hail_fail(e, HAIL_E_PROTOCOL, "PUT %s: malformed token", url);
			break;
		}
		m->token = res.body;
		res.body = NULL;
		http_response_clear(&res);
		return ATTEMPT_AGAIN_NOW;
	case 403: case 404: case 405:
		m->v1 = true;
		http_response_clear(&res);
		return ATTEMPT_AGAIN_NOW;
	case 400:
		*ret = hail_fail(e, HAIL_E_HTTP, "PUT %s: HTTP 400 (the token request was refused)", url);
		break;
	default:
		if (res.status >= 500) {
			hail_fail(e, HAIL_E_HTTP, "PUT %s: HTTP %ld", url, res.status);
			http_response_clear(&res);
			return ATTEMPT_RETRY;
		}
		*ret = hail_fail(e, HAIL_E_HTTP, "PUT %s: HTTP %ld", url, res.status);
	}
	http_response_clear(&res);
	return ATTEMPT_DONE;
}

static enum attempt get_once(struct imds *m, const char *url, size_t max, char **body,
			     size_t *len, int *ret, struct hail_errbuf *e)
{
	char header[IMDS_TOKEN_MAX + 64];
	const char *headers[] = { header, NULL };
	struct http_response res;
	int r;

	if (!m->token && !m->v1)
		return fetch_token(m, ret, e);
	if (m->token)
		snprintf(header, sizeof(header), "X-aws-ec2-metadata-token: %s", m->token);
	m->requests++;
	r = http_request(m->http, NULL, url, m->token ? headers : NULL, NULL, max, &res);
	if (r < 0) {
		if (r == HAIL_E_INTERRUPTED || r == HAIL_E_PROTOCOL || r == HAIL_E_INTERNAL) {
			*ret = hail_fail(e, r, "GET %s: %s", url, http_client_error(m->http));
			return ATTEMPT_DONE;
		}
		hail_fail(e, HAIL_E_NETWORK, "GET %s: %s", url, http_client_error(m->http));
		return ATTEMPT_RETRY;
	}
	switch (res.status) {
	case 200:
		*body = res.body;
		*len = res.body_len;
		res.body = NULL;
		*ret = 0;
		break;
	case 401:
		/* expired or revoked: a new token, then the same GET */
		free(m->token);
		m->token = NULL;
		m->v1 = false;
		hail_fail(e, HAIL_E_HTTP, "GET %s: HTTP 401", url);
		http_response_clear(&res);
		return ATTEMPT_RETRY;
	case 404:
		*ret = hail_fail(e, HAIL_E_NOT_FOUND, "GET %s: HTTP 404", url);
		break;
	default:
		if (res.status >= 500 || res.status == 429) {
			hail_fail(e, HAIL_E_HTTP, "GET %s: HTTP %ld", url, res.status);
			http_response_clear(&res);
			return ATTEMPT_RETRY;
		}
		*ret = hail_fail(e, HAIL_E_HTTP, "GET %s: HTTP %ld", url, res.status);
	}
	http_response_clear(&res);
	return ATTEMPT_DONE;
}

int imds_get(struct imds *m, const char *path, size_t max, char **body, size_t *len,
	     struct hail_errbuf *e)
{
	long long backoff = BACKOFF_FIRST_MS;
	char url[512], last[sizeof(e->msg)];
	bool renewed = false;
	int ret = HAIL_E_NETWORK;

	*body = NULL;
	*len = 0;
	if (snprintf(url, sizeof(url), "%s/latest/%s", m->endpoint, path) >= (int)sizeof(url))
		return hail_fail(e, HAIL_E_USAGE, "IMDS path too long");
	/* bounded by the deadline, and by a count in case the clock stalls */
	for (int attempt = 0; attempt < 10000; attempt++) {
		enum attempt a = get_once(m, url, max, body, len, &ret, e);
		long long left;

		if (a == ATTEMPT_DONE)
			return ret;
		if (a == ATTEMPT_AGAIN_NOW)
			continue;
		if (!m->token && !m->v1 && !renewed) {
			renewed = true;         /* a 401: one new token at once */
			continue;
		}
		left = m->deadline_ms - monotonic_ms();
		if (left <= 0 || signals_stop_requested())
			break;
		/* full jitter: a fleet booting at once does not retry in step */
		signals_wait((long)(arc4random_uniform((unsigned)(backoff < left ? backoff : left)) + 1));
		backoff = backoff * 2 > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : backoff * 2;
	}
	if (signals_stop_requested())
		return hail_fail(e, HAIL_E_INTERRUPTED, "interrupted");
	/* e holds the last failure */
	snprintf(last, sizeof(last), "%s", e->msg);
	return hail_fail(e, HAIL_E_NETWORK, "IMDS did not answer in time; last: %.600s", last);
}

bool imds_listing_has(const char *listing, const char *entry)
{
	size_t k = strlen(entry);

	for (const char *l = listing; l && *l; ) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);

		if (n == k && !memcmp(l, entry, n))
			return true;
		l = nl ? nl + 1 : l + n;
	}
	return false;
}
