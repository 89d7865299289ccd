#include <string.h>

#include "check.h"
#include "error.h"
#include "strutil.h"

int main(void)
{
	char buf[16];
	unsigned long long v;

	str_escape(buf, sizeof(buf), "abc", 3);
	CHECK(!strcmp(buf, "abc"), "escape plain");
	str_escape(buf, sizeof(buf), "a\nb\\", 4);
	CHECK(!strcmp(buf, "a\\x0ab\\x5c"), "escape control and backslash");
	str_escape(buf, sizeof(buf), "0123456789abcdefghij", 20);
	CHECK(!strcmp(buf, "0123456789ab...") && strlen(buf) < sizeof(buf), "escape truncates");
	str_escape(buf, sizeof(buf), "\x01\x02\x03\x04\x05", 5);
	CHECK(strlen(buf) < sizeof(buf) && strstr(buf, "..."), "escape truncates hex");

	CHECK(str_to_u64("42", 1, 100, &v) == 0 && v == 42, "u64 42");
	CHECK(str_to_u64("0", 1, 100, &v) < 0, "u64 below min");
	CHECK(str_to_u64("101", 1, 100, &v) < 0, "u64 above max");
	CHECK(str_to_u64("9", 1, 5, &v) < 0, "u64 digit above small max");
	CHECK(str_to_u64("18446744073709551615", 0, ~0ULL, &v) == 0 && v == ~0ULL, "u64 max");
	CHECK(str_to_u64("18446744073709551616", 0, ~0ULL, &v) < 0, "u64 overflow");
	CHECK(str_to_u64("", 0, 10, &v) < 0 && str_to_u64("1a", 0, 10, &v) < 0 &&
	      str_to_u64("-1", 0, 10, &v) < 0 && str_to_u64("+1", 0, 10, &v) < 0, "u64 junk");
	return check_exit();
}
