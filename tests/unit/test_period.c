#include <string.h>

#include "check.h"
#include "period.h"

static const struct { const char *in; int ok; unsigned secs; } rows[] = {
	{ "5", 1, 300 }, { "1", 1, 60 }, { "30s", 1, 30 }, { "5m", 1, 300 },
	{ "1h", 1, 3600 }, { "1h30m", 1, 5400 }, { "2d", 1, 172800 }, { "90s", 1, 90 },
	{ "0", 0, 0 }, { "0s", 0, 0 }, { "", 0, 0 }, { "-5", 0, 0 }, { "5x", 0, 0 },
	{ "m", 0, 0 }, { "5 m", 0, 0 }, { " 5", 0, 0 }, { "1.5", 0, 0 }, { "5mm", 0, 0 },
	{ "99999999999999999999", 0, 0 }, { "367d", 0, 0 }, { "366d", 1, 366u * 86400 },
	{ "1h1", 0, 0 },
};

int main(void)
{
	char buf[32];
	unsigned s;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		s = 12345;
		int r = period_parse(rows[i].in, &s);

		CHECK((r == 0) == rows[i].ok && (!rows[i].ok ? s == 12345 : s == rows[i].secs),
		      "period '%s'", rows[i].in);
	}
	period_format(300, buf, sizeof(buf));
	CHECK(!strcmp(buf, "5m"), "period_format 300");
	period_format(3600, buf, sizeof(buf));
	CHECK(!strcmp(buf, "1h"), "period_format 3600");
	period_format(61, buf, sizeof(buf));
	CHECK(!strcmp(buf, "61s"), "period_format 61");
	return check_exit();
}
