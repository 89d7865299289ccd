#include "aws.h"

#include <cJSON.h>
#include <stdbool.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "rfc3339.h"
#include "signals.h"
#include "strutil.h"
#include "url.h"
#include "xmltext.h"

#define AWS_CONNECT_TIMEOUT_S 5
#define AWS_TOTAL_TIMEOUT_S 20
#define AWS_MAX_ATTEMPTS 5
#define AWS_BACKOFF_FIRST_MS 100
#define AWS_BACKOFF_CAP_MS 3000
#define AWS_ERROR_BODY_MAX (64 * 1024)
#define CREDENTIALS_MAX (16 * 1024)
#define CREDENTIALS_REFRESH_S (15 * 60)   /* botocore's advisory refresh */
#define REGION_MAX 32
#define ROLE_MAX 64
#define SECRET_MAX 4096

const struct aws_service aws_ssm = {
	.name = "ssm", .env_endpoint = "AWS_ENDPOINT_URL_SSM",
	.protocol = AWS_PROTOCOL_JSON, .target_prefix = "AmazonSSM.",
};

const struct aws_service aws_autoscaling = {
	.name = "autoscaling", .env_endpoint = "AWS_ENDPOINT_URL_AUTO_SCALING",
	.protocol = AWS_PROTOCOL_QUERY, .api_version = "2011-01-01",
};

const struct aws_service aws_cloudwatch = {
	.name = "monitoring", .env_endpoint = "AWS_ENDPOINT_URL_CLOUDWATCH",
	.protocol = AWS_PROTOCOL_QUERY, .api_version = "2010-08-01",
};

int aws_form(char *form, size_t size, const char *const *params)
{
	size_t used = 0;

	form[0] = '\0';
	for (; params[0]; params += 2) {
		char *v = curl_easy_escape(NULL, params[1], 0);
		int n;

		if (!v)
			return HAIL_E_INTERNAL;
		n = snprintf(form + used, size - used, "%s%s=%s", used ? "&" : "", params[0], v);
		curl_free(v);
		if (n < 0 || (size_t)n >= size - used)
			return HAIL_E_USAGE;
		used += (size_t)n;
	}
	return 0;
}

static bool all_chars(const char *s, size_t min, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(extra, *s)))
			return false;
	return true;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void aws_credentials_drop(struct aws_credentials *c)
{
	free(c->access_key_id);
	wipe_free(c->secret);
	wipe_free(c->token);
	memset(c, 0, sizeof(*c));
}

int aws_open(struct aws *a, struct imds *m, const char *endpoint_url, const char *user_agent,
	     struct hail_errbuf *e)
{
	struct http_options ho = {
		.user_agent = user_agent,
		.connect_timeout_s = AWS_CONNECT_TIMEOUT_S,
		.total_timeout_s = AWS_TOTAL_TIMEOUT_S,
		.should_abort = signals_stop_requested,
	};
	size_t len;
	int ret;

	memset(a, 0, sizeof(*a));
	a->imds = m;
	if (endpoint_url && !url_is_secure_endpoint(endpoint_url))
		return hail_fail(e, HAIL_E_USAGE, "aws-endpoint-url: not an https URL (http only "
				 "to this machine), or it holds a user, query or fragment");
	if (endpoint_url && !(a->endpoint_url = strdup(endpoint_url)))
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	ret = imds_get(m, "meta-data/placement/region", REGION_MAX, &a->region, &len, e);
	if (ret == HAIL_E_PROTOCOL || (ret == 0 && !all_chars(a->region, 1, REGION_MAX, "-")))
		ret = hail_fail(e, HAIL_E_PROTOCOL, "meta-data/placement/region: not a region name");
	if (ret < 0)
		goto out;
	a->http = http_client_new(&ho);
	if (!a->http)
		ret = hail_fail(e, HAIL_E_INTERNAL, "cannot set up libcurl");
out:
	if (ret < 0)
		aws_close(a);
	return ret;
}

void aws_close(struct aws *a)
{
	http_client_free(a->http);
	free(a->region);
	free(a->endpoint_url);
	aws_credentials_drop(&a->creds);
	memset(a, 0, sizeof(*a));
}

/* The string member name of o, checked; NULL when missing or unfit. */
static const char *credential_field(const cJSON *o, const char *name, size_t max,
				    const char *extra)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) && all_chars(v->valuestring, 1, max, extra) ?
		v->valuestring : NULL;
}

int aws_credentials_parse(struct aws_credentials *c, const char *json, size_t len,
			  const char *where, struct hail_errbuf *e)
{
	cJSON *doc = cJSON_ParseWithLength(json, len);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(doc, "Code");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(doc, "Expiration");
	const char *akid, *secret, *token;
	int ret = 0;

	if (!cJSON_IsObject(doc)) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "%s: not a JSON object", where);
		goto out;
	}
	if (code && !(cJSON_IsString(code) && !strcmp(code->valuestring, "Success"))) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "%s: Code is not \"Success\"", where);
		goto out;
	}
	akid = credential_field(doc, "AccessKeyId", 128, "");
	secret = credential_field(doc, "SecretAccessKey", SECRET_MAX, "+/=_-");
	token = credential_field(doc, "Token", SECRET_MAX, "+/=_-");
	if (!akid || !secret || !token) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "%s: %s missing or malformed", where,
				!akid ? "AccessKeyId" : !secret ? "SecretAccessKey" : "Token");
		goto out;
	}
	if (!cJSON_IsString(exp) || rfc3339_parse(exp->valuestring, &c->expiration) < 0) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "%s: Expiration is not an RFC 3339 time", where);
		goto out;
	}
	c->access_key_id = strdup(akid);
	c->secret = strdup(secret);
	c->token = strdup(token);
	if (!c->access_key_id || !c->secret || !c->token)
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
out:
	if (doc && cJSON_IsObject(doc)) {
		/* cJSON keeps its own copies of the secrets */
		cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "SecretAccessKey");
		cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "Token");

		if (cJSON_IsString(s))
			explicit_bzero(s->valuestring, strlen(s->valuestring));
		if (cJSON_IsString(t))
			explicit_bzero(t->valuestring, strlen(t->valuestring));
	}
	cJSON_Delete(doc);
	if (ret < 0)
		aws_credentials_drop(c);
	return ret;
}

/* The role's current credentials into *c (left empty on failure). */
static int fetch_credentials(struct aws *a, struct aws_credentials *c, struct hail_errbuf *e)
{
	char path[128], *list = NULL, *doc = NULL;
	size_t len = 0;
	int ret;

	ret = imds_get(a->imds, "meta-data/iam/security-credentials/", 1024, &list, &len, e);
	if (ret == HAIL_E_NOT_FOUND)
		ret = hail_fail(e, HAIL_E_NOT_FOUND, "this instance has no IAM role "
				"(meta-data/iam/security-credentials/ is not there)");
	if (ret < 0)
		goto out;
	list[strcspn(list, "\r\n")] = '\0';
	if (!all_chars(list, 1, ROLE_MAX, "+=,.@_-")) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "meta-data/iam/security-credentials/: "
				"not a role name");
		goto out;
	}
	snprintf(path, sizeof(path), "meta-data/iam/security-credentials/%s", list);
	ret = imds_get(a->imds, path, CREDENTIALS_MAX, &doc, &len, e);
	if (ret == 0)
		ret = aws_credentials_parse(c, doc, len, path, e);
	if (ret == 0)
		a->credential_fetches++;
out:
	if (doc)
		explicit_bzero(doc, len);
	free(doc);
	free(list);
	return ret;
}

/* Fresh credentials when fewer than 15 minutes are left; when IMDS does not
 * give new ones, the old ones serve as long as they last (as botocore). */
static int ensure_credentials(struct aws *a, struct hail_errbuf *e)
{
	struct aws_credentials fresh = { 0 };
	time_t left = a->creds.expiration - time(NULL);
	int ret;

	if (a->creds.access_key_id && left > CREDENTIALS_REFRESH_S)
		return 0;
	ret = fetch_credentials(a, &fresh, e);
	if (ret == 0) {
		aws_credentials_drop(&a->creds);
		a->creds = fresh;
		return 0;
	}
	if (a->creds.access_key_id && left > 0 && ret != HAIL_E_INTERRUPTED) {
		log_warning("%s; using the role's credentials for their last %llds", e->msg,
			    (long long)left);
		return 0;
	}
	return ret;
}

static char *endpoint_for(const struct aws *a, const struct aws_service *svc)
{
	const char *url = a->endpoint_url;
	char buf[256];

	if (!url || !*url)
		url = getenv(svc->env_endpoint);
	if (!url || !*url)
		url = getenv("AWS_ENDPOINT_URL");
	if (!url || !*url) {
		snprintf(buf, sizeof(buf), "https://%s.%s.amazonaws.com/", svc->name, a->region);
		url = buf;
	}
	return url_is_secure_endpoint(url) ? strdup(url) : NULL;
}

/* The service's own error code: JSON {"__type": "...#Code"} or XML <Code>;
 * "HTTPnnn" when there is none. */
static void error_code(const struct aws_service *svc, const struct http_response *res,
		       char code[AWS_CODE_MAX], char *message, size_t msize)
{
	code[0] = message[0] = '\0';
	if (svc->protocol == AWS_PROTOCOL_JSON) {
		cJSON *doc = cJSON_ParseWithLength(res->body, res->body_len);
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "__type");
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, "message");

		if (!m)
			m = cJSON_GetObjectItemCaseSensitive(doc, "Message");
		if (cJSON_IsString(t)) {
			const char *hash = strrchr(t->valuestring, '#');

			str_escape(code, AWS_CODE_MAX, hash ? hash + 1 : t->valuestring,
				   strlen(hash ? hash + 1 : t->valuestring));
		}
		if (cJSON_IsString(m))
			str_escape(message, msize, m->valuestring, strlen(m->valuestring));
		cJSON_Delete(doc);
	} else {
		char raw[512];

		if (xml_element_text(res->body, res->body_len, "Code", raw, AWS_CODE_MAX) == 0)
			str_escape(code, AWS_CODE_MAX, raw, strlen(raw));
		if (xml_element_text(res->body, res->body_len, "Message", raw, sizeof(raw)) == 0)
			str_escape(message, msize, raw, strlen(raw));
	}
	if (!code[0])
		snprintf(code, AWS_CODE_MAX, "HTTP%ld", res->status);
}

static bool is_expired_code(const char *code)
{
	return !strcmp(code, "ExpiredToken") || !strcmp(code, "ExpiredTokenException");
}

static bool is_retryable_code(const char *code, long status)
{
	static const char *const throttles[] = {
		"Throttling", "ThrottlingException", "ThrottledException",
		"RequestThrottledException", "TooManyRequestsException",
		"RequestLimitExceeded", "RequestThrottled", "SlowDown",
		"ProvisionedThroughputExceededException", "InternalFailure",
		"ServiceUnavailable", NULL
	};

	if (status >= 500 || status == 429)
		return true;
	for (const char *const *t = throttles; *t; t++)
		if (!strcmp(code, *t))
			return true;
	return false;
}

/* Some services quote the string to sign, which holds the session token, in
 * their refusal of a signature: such messages, and any without a code of
 * the service's own or holding a credential, are never shown. */
static bool message_is_safe(const struct aws *a, const char *code, const char *message)
{
	return strncmp(code, "HTTP", 4) && !strstr(code, "Signature") && !strstr(code, "Token") &&
		!strstr(code, "Client") && !strstr(code, "Auth") &&
		!(a->creds.token && strstr(message, a->creds.token)) &&
		!(a->creds.access_key_id && strstr(message, a->creds.access_key_id));
}

/* One signed POST. Returns 0 (res filled, any status) or a transfer error. */
static int post_once(struct aws *a, const struct aws_service *svc, const char *url,
		     const char *operation, const char *body, size_t max,
		     struct http_response *res, struct hail_errbuf *e)
{
	char provider[128], target[128], *token_header = NULL;
	const char *headers[4];
	int n = 0, ret;

	snprintf(provider, sizeof(provider), "aws:amz:%s:%s", a->region, svc->name);
	if (http_client_set_aws_sigv4(a->http, provider, a->creds.access_key_id,
				      a->creds.secret) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "cannot set up SigV4 signing");
	token_header = str_concat("X-Amz-Security-Token: ", a->creds.token, NULL);
	if (!token_header)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	if (svc->protocol == AWS_PROTOCOL_JSON) {
		snprintf(target, sizeof(target), "X-Amz-Target: %s%s", svc->target_prefix, operation);
		headers[n++] = "Content-Type: application/x-amz-json-1.1";
		headers[n++] = target;
	} else {
		headers[n++] = "Content-Type: application/x-www-form-urlencoded; charset=utf-8";
	}
	headers[n++] = token_header;
	headers[n] = NULL;
	a->requests++;
	ret = http_request(a->http, "POST", url, headers, body, max, res);
	if (ret < 0)
		hail_fail(e, ret, "%s %s: %s", svc->name, operation, http_client_error(a->http));
	wipe_free(token_header);
	return ret;
}

int aws_call(struct aws *a, const struct aws_service *svc, const char *operation,
	     const char *body, size_t max, char **answer, char code[AWS_CODE_MAX],
	     struct hail_errbuf *e)
{
	char *url = endpoint_for(a, svc), *form = NULL, message[256];
	struct http_response res = { 0 };
	long long backoff = AWS_BACKOFF_FIRST_MS;
	bool refreshed = false;
	int ret = HAIL_E_NETWORK;

	*answer = NULL;
	code[0] = '\0';
	if (!url)
		return hail_fail(e, HAIL_E_USAGE, "%s: the endpoint URL (%s or AWS_ENDPOINT_URL) "
				 "is not an https URL (http only to this machine)", svc->name,
				 svc->env_endpoint);
	if (svc->protocol == AWS_PROTOCOL_QUERY) {
		size_t n = strlen(operation) + strlen(svc->api_version) + strlen(body) + 32;

		form = malloc(n);
		if (!form) {
			ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
			goto out;
		}
		snprintf(form, n, "Action=%s&Version=%s%s%s", operation, svc->api_version,
			 *body ? "&" : "", body);
		body = form;
	}
	for (int attempt = 1; attempt <= AWS_MAX_ATTEMPTS; attempt++) {
		ret = ensure_credentials(a, e);
		if (ret < 0)
			goto out;
		http_response_clear(&res);
		ret = post_once(a, svc, url, operation, body,
				max > AWS_ERROR_BODY_MAX ? max : AWS_ERROR_BODY_MAX, &res, e);
		if (ret == HAIL_E_INTERRUPTED || ret == HAIL_E_INTERNAL)
			goto out;
		if (ret == 0 && res.status >= 200 && res.status < 300) {
			if (res.body_len > max) {
				ret = hail_fail(e, HAIL_E_PROTOCOL, "%s %s: answer larger than %zu bytes",
						svc->name, operation, max);
				goto out;
			}
			*answer = res.body;
			res.body = NULL;
			goto out;
		}
		if (ret == 0) {
			error_code(svc, &res, code, message, sizeof(message));
			if (!message_is_safe(a, code, message))
				message[0] = '\0';
			ret = hail_fail(e, HAIL_E_HTTP, "%s %s: %s (HTTP %ld)%s%s", svc->name,
					operation, code, res.status, message[0] ? ": " : "", message);
			if (is_expired_code(code) && !refreshed) {
				/* the role's credentials rotated under us: once more
				 * with new ones, not counted as an attempt */
				log_info("%s %s: %s; fetching new credentials from IMDS", svc->name,
					 operation, code);
				aws_credentials_drop(&a->creds);
				refreshed = true;
				attempt--;
				continue;
			}
			if (!is_retryable_code(code, res.status))
				goto out;
		}
		if (attempt == AWS_MAX_ATTEMPTS || signals_stop_requested())
			break;
		log_debug("%s; retrying", e->msg);
		signals_wait((long)arc4random_uniform((unsigned)backoff) + 1);
		backoff = backoff * 2 > AWS_BACKOFF_CAP_MS ? AWS_BACKOFF_CAP_MS : backoff * 2;
	}
	if (signals_stop_requested())
		ret = hail_fail(e, HAIL_E_INTERRUPTED, "interrupted");
out:
	http_response_clear(&res);
	free(form);
	free(url);
	return ret;
}
