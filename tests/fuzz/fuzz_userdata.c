/* libFuzzer: user-data decoding (gzip, MIME, JSON) and the settings schema,
 * the way the bootstrap chains them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "userdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct boot_settings s = { 0 };
	struct hail_errbuf e;
	char *json = NULL;
	size_t len;

	if (userdata_extract((const char *)data, size, &json, &len, &e) == 0 && json) {
		if (strlen(json) != len && memchr(json, 0, len) == NULL)
			__builtin_trap();
		if (boot_settings_from_json(&s, json, len, &e) == 0)
			boot_settings_finish(&s, &e);
		boot_settings_free(&s);
	}
	free(json);
	return 0;
}
