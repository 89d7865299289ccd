/* libFuzzer: what the fleet's operators and AWS write and hail reads every
 * poll: the pause and pin values (tags, SSM JSON), RFC 3339 times. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "rfc3339.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_value v = { 0 };
	struct hail_errbuf e;
	char *text = malloc(size + 1);
	time_t t;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	control_parse_fleet_json(text, size, &v, &e);
	control_parse_pause(text, &v, &e);
	if (control_parse_pin(text, &v, &e) == 0 && v.pin > (1ull << 53))
		__builtin_trap();
	rfc3339_parse(text, &t);
	free(text);
	return 0;
}
