#include "ssm.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#define SSM_ANSWER_MAX (SSM_VALUE_MAX * 2 + 4096)   /* JSON escapes double at most */

bool ssm_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SSM_NAME_MAX || strstr(name, "//"))
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("_.-/", *p)))
			return false;
	return true;
}

int ssm_get_parameter(struct aws *a, const char *name, char **value, size_t *len,
		      struct hail_errbuf *e)
{
	char code[AWS_CODE_MAX], *request = NULL, *answer = NULL;
	cJSON *req = cJSON_CreateObject(), *doc = NULL;
	const cJSON *v;
	int ret;

	*value = NULL;
	*len = 0;
	if (!req || !cJSON_AddStringToObject(req, "Name", name) ||
	    !cJSON_AddBoolToObject(req, "WithDecryption", 1) ||
	    !(request = cJSON_PrintUnformatted(req))) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	ret = aws_call(a, &aws_ssm, "GetParameter", request, SSM_ANSWER_MAX, &answer, code, e);
	if (ret == HAIL_E_HTTP && !strcmp(code, "ParameterNotFound")) {
		ret = hail_fail(e, HAIL_E_NOT_FOUND, "SSM parameter %s: not found", name);
		goto out;
	}
	if (ret == HAIL_E_NOT_FOUND)
		ret = HAIL_E_HTTP;      /* no role (IMDS's 404): no answer about the parameter */
	if (ret < 0)
		goto out;
	doc = cJSON_Parse(answer);
	v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "Parameter"),
					     "Value");
	if (!cJSON_IsString(v) || strlen(v->valuestring) > SSM_VALUE_MAX) {
		ret = hail_fail(e, HAIL_E_PROTOCOL, "SSM parameter %s: the answer has no "
				"Parameter.Value string", name);
		goto out;
	}
	*len = strlen(v->valuestring);
	*value = strdup(v->valuestring);
	if (!*value)
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	explicit_bzero(v->valuestring, *len);
out:
	if (answer) {
		explicit_bzero(answer, strlen(answer));
		free(answer);
	}
	cJSON_Delete(doc);
	cJSON_Delete(req);
	free(request);
	return ret;
}
