/* libFuzzer: the --config file reader. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hail_errbuf e;
	struct settings s = { 0 };

	settings_read_config_json(&s, "fuzz.json", (const char *)data, size, &e);
	settings_free(&s);
	return 0;
}
