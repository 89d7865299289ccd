#include "hold.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"

#define HOLD_FILE_MAX 4096
#define HOLD_ID_MAX 9007199254740992.0   /* 2^53: ids stay exact in JSON */

int hold_read(const char *path, bool *held, uint64_t *until_id, struct hail_errbuf *e)
{
	const cJSON *id;
	char *text = NULL;
	cJSON *o;
	size_t len;
	int ret;

	*held = false;
	*until_id = 0;
	ret = file_read(path, HOLD_FILE_MAX, &text, &len, e);
	if (ret == HAIL_E_NOT_FOUND)
		return 0;
	if (ret == HAIL_E_PROTOCOL)
		ret = 0;        /* too big to be ours: an operator's, hold */
	if (ret < 0)
		return ret;
	*held = true;
	o = text ? cJSON_ParseWithLength(text, len) : NULL;
	id = cJSON_GetObjectItemCaseSensitive(o, "release-after-build");
	/* range first: a cast of an out-of-range double is undefined; a hold
	 * that names no usable id holds until removed */
	if (cJSON_IsNumber(id) && id->valuedouble >= 1 && id->valuedouble <= HOLD_ID_MAX &&
	    id->valuedouble == (double)(uint64_t)id->valuedouble)
		*until_id = (uint64_t)id->valuedouble;
	cJSON_Delete(o);
	free(text);
	return 0;
}

int hold_write(const char *path, uint64_t id, const char *from, const char *to,
	       struct hail_errbuf *e)
{
	char buf[HOLD_FILE_MAX];
	int n;

	n = snprintf(buf, sizeof(buf),
		     "{\n\t\"reason\": \"the profile was switched by hand\",\n"
		     "\t\"from\": \"%s\",\n\t\"to\": \"%s\",\n"
		     "\t\"release-after-build\": %llu,\n"
		     "\t\"help\": \"hail holds until Hydra offers a build newer than "
		     "release-after-build, or until this file is removed\"\n}\n",
		     from, to, (unsigned long long)id);
	if (n < 0 || n >= (int)sizeof(buf))
		return hail_fail(e, HAIL_E_INTERNAL, "hold file too long");
	return file_write_atomic(path, buf, (size_t)n, 0644, NULL, true, e);
}

int hold_remove(const char *path, struct hail_errbuf *e)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return hail_fail(e, HAIL_E_INTERNAL, "remove %s: %s", path, strerror(errno));
	return 0;
}
