/* A tiny test reporter: each check prints "PASS name" or "FAIL name: why",
 * which tests/run counts. main() returns check_exit(). */
#ifndef HAIL_CHECK_H
#define HAIL_CHECK_H

#include <stdio.h>

static int check_failed;

#define CHECK(cond, ...) do { \
	char check_name_[1024]; \
	snprintf(check_name_, sizeof(check_name_), __VA_ARGS__); \
	if (cond) { \
		printf("PASS %s\n", check_name_); \
	} else { \
		printf("FAIL %s: %s (%s:%d)\n", check_name_, #cond, __FILE__, __LINE__); \
		check_failed++; \
	} \
} while (0)

static inline int check_exit(void)
{
	return check_failed ? 1 : 0;
}

#endif
