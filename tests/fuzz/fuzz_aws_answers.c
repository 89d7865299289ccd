/* libFuzzer: what comes back from IMDS and AWS: the role's credentials
 * document, the Auto Scaling XML answers and CloudWatch's DescribeAlarms. */
#include <stdint.h>
#include <string.h>

#include "aws.h"
#include "cloudwatch.h"
#include "xmltext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aws_credentials c = { 0 };
	enum alarm_state state;
	time_t since;
	struct hail_errbuf e;
	char buf[64];

	if (aws_credentials_parse(&c, (const char *)data, size, "fuzz", &e) == 0) {
		/* what passes goes into a header line: no line breaks */
		if (strpbrk(c.token, "\r\n") || strpbrk(c.access_key_id, "\r\n"))
			__builtin_trap();
		aws_credentials_drop(&c);
	}
	if (xml_element_text((const char *)data, size, "Code", buf, sizeof(buf)) == 0 &&
	    strlen(buf) >= sizeof(buf))
		__builtin_trap();
	if (cloudwatch_parse_alarm((const char *)data, size, "hail-halt", &state, &since, &e) == 0 &&
	    ((unsigned)state >= ALARM_STATE_COUNT || since < 0))
		__builtin_trap();
	return 0;
}
