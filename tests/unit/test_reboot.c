/* Reboots a build asks for: the daily window (lib/window.c) and the
 * decision what to do about a reboot (agent/reboot.c), as tables. */
#include <string.h>

#include "check.h"
#include "reboot.h"
#include "window.h"

#define P1 "/nix/store/882hqh7rym3ckw2q575klshwn05hz688-demo-1"
#define P2 "/nix/store/icgvpk79x8aifqm4s82lvaij1jbix8fk-demo-2"
#define DAY 86400
#define T0 (1800000000 - 1800000000 % DAY)      /* a midnight, UTC */
#define BOOT "6f1e0c4e-1d9c-4e8a-9f2b-3c4d5e6f7a8b"
#define OTHER_BOOT "00000000-1111-2222-3333-444444444444"

static void test_window_parse(void)
{
	static const struct { const char *in; int ok; unsigned start, len; } rows[] = {
		{ "02:00-04:00", 1, 120, 120 },
		{ "22:30-01:15", 1, 22 * 60 + 30, 2 * 60 + 45 },
		{ "00:00-23:59", 1, 0, 23 * 60 + 59 },
		{ "23:59-00:00", 1, 23 * 60 + 59, 1 },
		{ "04:00-04:00", 0, 0, 0 },
		{ "24:00-01:00", 0, 0, 0 },
		{ "02:60-03:00", 0, 0, 0 },
		{ "2:00-04:00", 0, 0, 0 },
		{ "02:00-04:00 ", 0, 0, 0 },
		{ "02:00 04:00", 0, 0, 0 },
		{ "", 0, 0, 0 },
		{ "02:00-04:0x", 0, 0, 0 },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct daily_window w = { 7, 7 };
		int ret = window_parse(rows[i].in, &w);

		if (rows[i].ok) {
			window_format(&w, buf, sizeof(buf));
			CHECK(ret == 0 && w.start_min == rows[i].start && w.length_min == rows[i].len &&
			      !strcmp(buf, rows[i].in), "window '%s' reads as %s", rows[i].in, buf);
		} else {
			CHECK(ret < 0 && w.start_min == 7 && w.length_min == 7,
			      "window '%s' refused, nothing changed", rows[i].in);
		}
	}
}

static void test_window_moment(void)
{
	struct daily_window day, night;
	static const struct { int night; long now; unsigned offset; long want; const char *name; } rows[] = {
		{ 0, 3600, 600, 7200 + 600, "before the window: today's, at the offset" },
		{ 0, 7200 + 300, 600, 7200 + 600, "open, offset to come: at the offset" },
		{ 0, 7200 + 900, 600, 7200 + 900, "open, offset passed: at once" },
		{ 0, 4 * 3600, 600, DAY + 7200 + 600, "at its end (not in it): tomorrow's" },
		{ 0, 5 * 3600, 99999, DAY + 4 * 3600 - 1, "an offset past the end: its last second" },
		{ 1, 23 * 3600, 0, 23 * 3600, "crossing midnight, open before it: at once" },
		{ 1, DAY + 3600, 3 * 3600 - 60, DAY + 3600, "after midnight, offset passed: at once" },
		{ 1, DAY + 1800, 10800, DAY + 3600, "after midnight, offset to come" },
		{ 1, 12 * 3600, 60, 22 * 3600 + 60, "midday: tonight's" },
	};

	window_parse("02:00-04:00", &day);
	window_parse("22:00-02:00", &night);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		time_t at = window_moment(rows[i].night ? &night : &day, rows[i].offset,
					  T0 + rows[i].now);

		CHECK(at == T0 + rows[i].want, "window moment: %s (got %+ld)", rows[i].name,
		      (long)(at - T0 - rows[i].want));
	}
}

struct rrow {
	const char *name;
	const char *required, *requested, *requested_boot;
	const char *cur, *good;
	bool step, holding, no_window, no_boot;
	long now;               /* seconds after T0; the window is 02:00-04:00 */
	enum reboot_action want;
};

static const struct rrow rrows[] = {
	{ "nothing asked for", .cur = P1, .good = P1, .now = 7300, .want = REBOOT_NONE },
	{ "asked, window open, moment passed: now", P1, .cur = P1, .good = P1, .now = 7300,
	  .want = REBOOT_NOW },
	{ "asked, before the window: wait for the moment", P1, .cur = P1, .good = P1, .now = 3600,
	  .want = REBOOT_WAIT },
	{ "asked, no window: report only", P1, .cur = P1, .good = P1, .now = 7300, .no_window = true,
	  .want = REBOOT_REPORT },
	{ "asked by another build than the profile's: nothing", P2, .cur = P1, .good = P1,
	  .now = 7300, .want = REBOOT_NONE },
	{ "a step under way: nothing yet", P1, .cur = P1, .good = P1, .now = 7300, .step = true,
	  .want = REBOOT_NONE },
	{ "paused or held: report, no reboot", P1, .cur = P1, .good = P1, .now = 7300,
	  .holding = true, .want = REBOOT_REPORT },
	{ "not the last known good: report", P1, .cur = P1, .good = P2, .now = 7300,
	  .want = REBOOT_REPORT },
	{ "requested in this boot: waiting for it, never twice", P1, P1, BOOT, .cur = P1,
	  .good = P1, .now = 7300, .want = REBOOT_REQUESTED },
	{ "still asked after its reboot: never again", P1, P1, OTHER_BOOT, .cur = P1, .good = P1,
	  .now = 7300, .want = REBOOT_LOOP },
	{ "requested for another build before: this one reboots", P2, P1, OTHER_BOOT, .cur = P2,
	  .good = P2, .now = 7300, .want = REBOOT_NOW },
	{ "boot id unreadable: report (a second request could not be ruled out)", P1, .cur = P1,
	  .good = P1, .now = 7300, .no_boot = true, .want = REBOOT_REPORT },
};

static void test_reboot_decide(void)
{
	struct daily_window w;

	window_parse("02:00-04:00", &w);
	for (size_t i = 0; i < sizeof(rrows) / sizeof(rrows[0]); i++) {
		const struct rrow *r = &rrows[i];
		struct reboot_record rec = { 0 };
		struct reboot_facts f = { 0 };
		struct reboot_plan p;

		rec.required.path = (char *)r->required;
		rec.required.id = r->required ? 7 : 0;
		rec.requested.path = (char *)r->requested;
		if (r->requested_boot)
			strcpy(rec.boot_id, r->requested_boot);
		f.now = T0 + r->now;
		f.cur_path = r->cur;
		f.good_path = r->good;
		f.step_under_way = r->step;
		f.holding = r->holding;
		f.boot_id = r->no_boot ? "" : BOOT;
		f.window = r->no_window ? NULL : &w;
		f.offset_s = 60;
		reboot_decide(&rec, &f, &p);
		CHECK(p.action == r->want && (p.action != REBOOT_WAIT || p.at == T0 + 7260) &&
		      (p.action == REBOOT_NONE) == !p.reason[0], "reboot: %s (got %d: %s)", r->name,
		      p.action, p.reason);
	}
}

int main(void)
{
	test_window_parse();
	test_window_moment();
	test_reboot_decide();
	return check_exit();
}
