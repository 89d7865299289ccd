#include "http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct http_client {
	CURL *curl;
	struct http_options opt;
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

/* Everything that stays the same across requests is set once here. */
static int setup_handle(struct http_client *c)
{
	int ret = 0;

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

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c);
}

int http_client_set_aws_sigv4(struct http_client *c, const char *provider,
			      const char *access_key_id, const char *secret)
{
	int ret = 0;

	c->error[0] = '\0';
	SETOPT(ret, c, CURLOPT_AWS_SIGV4, provider);
	SETOPT(ret, c, CURLOPT_USERNAME, provider ? access_key_id : NULL);
	SETOPT(ret, c, CURLOPT_PASSWORD, provider ? secret : NULL);
	return ret;
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
