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

/* Everything that stays the same across requests is set once here. */
static int setup_handle(struct http_client *c)
{
	CURL *h = c->curl;
	CURLcode r = CURLE_OK;

#define SET(opt, val) do { if (r == CURLE_OK) r = curl_easy_setopt(h, opt, val); } while (0)
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_CONNECTTIMEOUT, (long)c->opt.connect_timeout_s);
	SET(CURLOPT_TIMEOUT, (long)c->opt.total_timeout_s);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	SET(CURLOPT_XFERINFODATA, c);
	SET(CURLOPT_USERAGENT, c->opt.user_agent);
	if (c->opt.netrc_file) {
		/* Credentials for the URL's host only; re-read at every
		 * request, so fixing the file needs no restart. */
		SET(CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
		SET(CURLOPT_NETRC_FILE, c->opt.netrc_file);
	}
#undef SET
	return r == CURLE_OK ? 0 : HAIL_E_INTERNAL;
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
	CURLcode r = curl_easy_setopt(c->curl, CURLOPT_AWS_SIGV4, provider);

	if (r == CURLE_OK)
		r = curl_easy_setopt(c->curl, CURLOPT_USERNAME, provider ? access_key_id : NULL);
	if (r == CURLE_OK)
		r = curl_easy_setopt(c->curl, CURLOPT_PASSWORD, provider ? secret : NULL);
	return r == CURLE_OK ? 0 : HAIL_E_INTERNAL;
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

int http_request(struct http_client *c, const char *method, const char *url,
		 const char *const *headers, const char *body, size_t max_body,
		 struct http_response *res)
{
	struct body_sink sink = { .cap = max_body };
	struct curl_slist *list = NULL;
	CURL *h = c->curl;
	CURLcode code;
	int ret;

	memset(res, 0, sizeof(*res));
	c->errbuf[0] = '\0';
	c->error[0] = '\0';
	c->read_timed_out = false;
	for (; headers && *headers; headers++) {
		struct curl_slist *l = curl_slist_append(list, *headers);

		if (!l) {
			ret = HAIL_E_INTERNAL;
			snprintf(c->error, sizeof(c->error), "out of memory");
			goto out;
		}
		list = l;
	}

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	else
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	/* after HTTPGET, which resets the method; NULL means the default */
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);

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
			goto out;
		}
	}
	sink.data[sink.len] = '\0';
	res->body = sink.data;
	res->body_len = sink.len;
	sink.data = NULL;
	ret = 0;
out:
	/* The handle must not keep pointers to what is freed here. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
	curl_slist_free_all(list);
	free(sink.data);
	if (ret < 0)
		http_response_clear(res);
	return ret;
}
