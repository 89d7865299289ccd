#include "http.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cafile.h"
#include "error.h"

/* A day, as libcurl's default: a changed system bundle is seen within it. */
#define CA_CACHE_S 86400L

struct http_client {
	CURL *curl;
	struct http_options opt;
	/* SigV4's provider, key id and secret, owned and wiped: set again after
	 * a curl_easy_reset() */
	char *sigv4[3];
	char errbuf[CURL_ERROR_SIZE];
	char error[CURL_ERROR_SIZE + 64];
	bool read_timed_out;    /* the last failure: connected, then no answer */
	bool needs_setup;       /* the handle was reset: set it up again first */
	struct http_stats stats;
};

/* The body being received: grows up to cap, then the transfer fails. */
struct body_sink {
	char *data;
	size_t len, alloc, cap;
	bool too_big;
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body_sink *b = userdata;
	size_t n = size * nmemb;

	if (n > b->cap - b->len) {
		b->too_big = true;
		return 0;
	}
	if (b->len + n + 1 > b->alloc) {
		size_t alloc = b->alloc ? b->alloc : 512;
		char *p;

		while (alloc < b->len + n + 1)
			alloc *= 2;
		if (alloc > b->cap + 1)
			alloc = b->cap + 1;
		p = realloc(b->data, alloc);
		if (!p)
			return 0;
		b->data = p;
		b->alloc = alloc;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	return n;
}

static int xferinfo_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct http_client *c = clientp;

	(void)dltotal; (void)dlnow; (void)ultotal; (void)ulnow;
	return c->opt.should_abort && c->opt.should_abort();
}

int http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : HAIL_E_INTERNAL;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

/* A curl_easy_setopt() result: 0, or HAIL_E_INTERNAL with the option named
 * in c->error (a libcurl built without a feature, a string over its limit,
 * out of memory) unless an earlier failure already gave the reason. */
static int setopt_result(struct http_client *c, CURLcode r, const char *name)
{
	if (r == CURLE_OK)
		return 0;
	if (!c->error[0])
		snprintf(c->error, sizeof(c->error), "curl_easy_setopt(%s): %s", name,
			 curl_easy_strerror(r));
	return HAIL_E_INTERNAL;
}

/* Sets one option unless an earlier one failed; ret is the int status. */
#define SETOPT(ret, c, opt, val) do { \
	if ((ret) == 0) \
		(ret) = setopt_result((c), curl_easy_setopt((c)->curl, opt, val), #opt); \
} while (0)

/* libcurl calls this for each new TLS context, after it set up the store
 * (the cached one): the extra anchors go in beside the system's. */
static CURLcode ssl_ctx_cb(CURL *curl, void *ssl_ctx, void *userdata)
{
	const struct http_client *c = userdata;

	(void)curl;
	if (ca_set_add_to_store(c->opt.extra_ca, SSL_CTX_get_cert_store(ssl_ctx)) < 0)
		return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

static int apply_sigv4(struct http_client *c)
{
	int ret = 0;

	SETOPT(ret, c, CURLOPT_AWS_SIGV4, c->sigv4[0]);
	SETOPT(ret, c, CURLOPT_USERNAME, c->sigv4[1]);
	SETOPT(ret, c, CURLOPT_PASSWORD, c->sigv4[2]);
	return ret;
}

/* Everything that stays the same across requests is set once here. */
static int setup_handle(struct http_client *c)
{
	int ret = 0;

	/* Debian's libcurl has /etc/ssl/certs as its default CA path besides
	 * the bundle file, and with a path set libcurl 7.88 does not cache the
	 * parsed store: every new connection parsed the whole bundle (~250 M
	 * instructions; protocols.md, "TLS"). The bundle alone is cached. */
	SETOPT(ret, c, CURLOPT_CAPATH, NULL);
	SETOPT(ret, c, CURLOPT_CA_CACHE_TIMEOUT, CA_CACHE_S);
	if (c->opt.extra_ca) {
		SETOPT(ret, c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
		SETOPT(ret, c, CURLOPT_SSL_CTX_DATA, c);
	}
	if (c->sigv4[0] && ret == 0)
		ret = apply_sigv4(c);

	SETOPT(ret, c, CURLOPT_ERRORBUFFER, c->errbuf);
	SETOPT(ret, c, CURLOPT_NOSIGNAL, 1L);
	SETOPT(ret, c, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(ret, c, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(ret, c, CURLOPT_CONNECTTIMEOUT, (long)c->opt.connect_timeout_s);
	SETOPT(ret, c, CURLOPT_TIMEOUT, (long)c->opt.total_timeout_s);
	SETOPT(ret, c, CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(ret, c, CURLOPT_NOPROGRESS, 0L);
	SETOPT(ret, c, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	SETOPT(ret, c, CURLOPT_XFERINFODATA, c);
	SETOPT(ret, c, CURLOPT_USERAGENT, c->opt.user_agent);
	if (c->opt.no_proxy) {
		/* "*" matches every host: http_proxy, all_proxy and the others
		 * are not even looked at (libcurl's CURLOPT_NOPROXY) */
		SETOPT(ret, c, CURLOPT_NOPROXY, "*");
	}
	if (c->opt.netrc_file) {
		/* Credentials for the URL's host only; re-read at every
		 * request, so fixing the file needs no restart. */
		SETOPT(ret, c, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
		SETOPT(ret, c, CURLOPT_NETRC_FILE, c->opt.netrc_file);
	}
	return ret;
}

struct http_client *http_client_new(const struct http_options *opt)
{
	struct http_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->opt = *opt;
	c->curl = curl_easy_init();
	if (!c->curl || setup_handle(c) < 0) {
		http_client_free(c);
		return NULL;
	}
	return c;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void drop_sigv4(struct http_client *c)
{
	for (int i = 0; i < 3; i++) {
		wipe_free(c->sigv4[i]);
		c->sigv4[i] = NULL;
	}
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	drop_sigv4(c);
	free(c);
}

int http_client_set_aws_sigv4(struct http_client *c, const char *provider,
			      const char *access_key_id, const char *secret)
{
	const char *v[3] = { provider, provider ? access_key_id : NULL, provider ? secret : NULL };

	c->error[0] = '\0';
	drop_sigv4(c);
	for (int i = 0; i < 3; i++)
		if (v[i] && !(c->sigv4[i] = strdup(v[i]))) {
			drop_sigv4(c);
			snprintf(c->error, sizeof(c->error), "out of memory");
			return HAIL_E_INTERNAL;
		}
	return apply_sigv4(c);
}

const char *http_client_error(const struct http_client *c)
{
	return c->error;
}

bool http_client_read_timed_out(const struct http_client *c)
{
	return c->read_timed_out;
}

void http_client_stats(const struct http_client *c, struct http_stats *out)
{
	*out = c->stats;
}

void http_response_clear(struct http_response *res)
{
	free(res->body);
	free(res->location);
	free(res->content_type);
	memset(res, 0, sizeof(*res));
}

static char *dup_info_string(CURL *h, CURLINFO info)
{
	char *s = NULL;

	if (curl_easy_getinfo(h, info, &s) != CURLE_OK || !s)
		return NULL;
	return strdup(s);
}

/* libcurl's error text never holds netrc credentials; our URLs hold none
 * either (job URIs with user:password are refused at the edge). */
static int transfer_error(struct http_client *c, CURLcode code, const struct body_sink *b)
{
	if (b->too_big || code == CURLE_FILESIZE_EXCEEDED) {
		snprintf(c->error, sizeof(c->error), "response body larger than %zu bytes", b->cap);
		return HAIL_E_PROTOCOL;
	}
	if (code == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(c->error, sizeof(c->error), "interrupted");
		return HAIL_E_INTERRUPTED;
	}
	snprintf(c->error, sizeof(c->error), "%s",
		 c->errbuf[0] ? c->errbuf : curl_easy_strerror(code));
	if (code == CURLE_OPERATION_TIMEDOUT) {
		curl_off_t connect_us = 0;

		curl_easy_getinfo(c->curl, CURLINFO_CONNECT_TIME_T, &connect_us);
		c->read_timed_out = connect_us > 0;
	}
	if (code == CURLE_OUT_OF_MEMORY)
		return HAIL_E_INTERNAL;
	return HAIL_E_NETWORK;
}

/* The options of one request. A body is sent as POST fields with its length
 * given; without one the method is reset to GET (CURLOPT_HTTPGET), so that
 * nothing of an earlier POST on this handle is sent again. */
static int set_request(struct http_client *c, const char *method, const char *url,
		       struct curl_slist *list, const char *body, struct body_sink *sink)
{
	int ret = 0;

	SETOPT(ret, c, CURLOPT_URL, url);
	SETOPT(ret, c, CURLOPT_HTTPHEADER, list);
	SETOPT(ret, c, CURLOPT_WRITEDATA, sink);
	SETOPT(ret, c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)sink->cap);
	if (body) {
		SETOPT(ret, c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
		SETOPT(ret, c, CURLOPT_POSTFIELDS, body);
	} else {
		SETOPT(ret, c, CURLOPT_HTTPGET, 1L);
	}
	/* after HTTPGET, which resets the method; NULL means the default */
	SETOPT(ret, c, CURLOPT_CUSTOMREQUEST, method);
	return ret;
}

/* Drops every pointer the handle holds into this request's memory (the
 * header list, the sink, the caller's body) and its POST state: the handle
 * is reused, and libcurl reads CURLOPT_POSTFIELDS only when it sends. When
 * even that fails, curl_easy_reset() forgets all options (it cannot fail)
 * and the next request sets the handle up again. */
static int clear_request(struct http_client *c)
{
	int ret = 0;

	SETOPT(ret, c, CURLOPT_HTTPHEADER, NULL);
	SETOPT(ret, c, CURLOPT_WRITEDATA, NULL);
	SETOPT(ret, c, CURLOPT_POSTFIELDS, NULL);
	SETOPT(ret, c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
	SETOPT(ret, c, CURLOPT_HTTPGET, 1L);
	SETOPT(ret, c, CURLOPT_CUSTOMREQUEST, NULL);
	if (ret < 0) {
		curl_easy_reset(c->curl);
		c->needs_setup = true;
	}
	return ret;
}

int http_request(struct http_client *c, const char *method, const char *url,
		 const char *const *headers, const char *body, size_t max_body,
		 struct http_response *res)
{
	struct body_sink sink = { .cap = max_body };
	struct curl_slist *list = NULL;
	CURL *h = c->curl;
	CURLcode code;
	int ret, r;

	memset(res, 0, sizeof(*res));
	c->errbuf[0] = '\0';
	c->error[0] = '\0';
	c->read_timed_out = false;
	if (c->needs_setup) {
		ret = setup_handle(c);
		if (ret < 0)
			goto out;
		c->needs_setup = false;
	}
	for (; headers && *headers; headers++) {
		struct curl_slist *l = curl_slist_append(list, *headers);

		if (!l) {
			ret = HAIL_E_INTERNAL;
			snprintf(c->error, sizeof(c->error), "out of memory");
			goto out;
		}
		list = l;
	}
	ret = set_request(c, method, url, list, body, &sink);
	if (ret < 0)
		goto out;

	c->stats.requests++;
	code = curl_easy_perform(h);
	if (code == CURLE_SEND_ERROR && strstr(c->errbuf, "Connection died")) {
		/* libcurl 7.88 takes a server's close_notify on an idle
		 * kept-alive connection for a live connection, retries on a
		 * fresh one, and never resets its retry count: after five such
		 * reuses a request fails (curl issue 18926, fixed in 8.17.0).
		 * curl_easy_reset() resets that count and keeps the connections
		 * and TLS sessions; then once more, on a fresh connection. */
		curl_easy_reset(h);
		c->errbuf[0] = '\0';
		free(sink.data);
		memset(&sink, 0, sizeof(sink));
		sink.cap = max_body;
		ret = setup_handle(c);
		if (ret == 0)
			ret = set_request(c, method, url, list, body, &sink);
		if (ret == 0)
			ret = setopt_result(c, curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L),
					    "CURLOPT_FRESH_CONNECT");
		if (ret < 0)
			goto out;
		c->stats.dead_connection_retries++;
		code = curl_easy_perform(h);
		r = setopt_result(c, curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 0L),
				  "CURLOPT_FRESH_CONNECT");
		if (code == CURLE_OK && r < 0) {
			ret = r;
			goto out;
		}
	}
	c->stats.body_bytes += sink.len;
	if (code != CURLE_OK) {
		ret = transfer_error(c, code, &sink);
		goto out;
	}

	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
	res->location = dup_info_string(h, CURLINFO_REDIRECT_URL);
	res->content_type = dup_info_string(h, CURLINFO_CONTENT_TYPE);
	if (!sink.data) {
		sink.data = malloc(1);
		if (!sink.data) {
			ret = HAIL_E_INTERNAL;
			snprintf(c->error, sizeof(c->error), "out of memory");
			goto out;
		}
	}
	sink.data[sink.len] = '\0';
	res->body = sink.data;
	res->body_len = sink.len;
	sink.data = NULL;
	ret = 0;
out:
	/* The handle must not keep pointers to what is freed here, nor to
	 * the caller's body. */
	r = clear_request(c);
	if (ret == 0)
		ret = r;
	curl_slist_free_all(list);
	free(sink.data);
	if (ret < 0)
		http_response_clear(res);
	return ret;
}
