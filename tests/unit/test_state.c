#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "hold.h"
#include "metrics.h"
#include "state.h"

#define P1 "/nix/store/882hqh7rym3ckw2q575klshwn05hz688-demo-1"
#define P2 "/nix/store/icgvpk79x8aifqm4s82lvaij1jbix8fk-demo-2"

static void test_round_trip(void)
{
	struct agent_state s = { 0 }, t;
	struct build_ref g1 = { 41, 3, P1 }, g2 = { 42, 4, P2 };
	struct hail_errbuf e;
	char buf[8192], *json;
	int n;

	ref_set(&s.on, 41, 3, P1);
	ref_set(&s.baseline, 41, 3, P1);
	ref_set(&s.good, 41, 3, P1);
	state_add_generation(&s, &g1);
	state_add_generation(&s, &g2);
	journal_set(&s, PHASE_ROLLING_BACK, &g1, &g2);
	s.latest_id = 42;
	s.latest_path = strdup(P2);
	s.last_poll = 1764000000;
	s.last_poll_result = HAIL_E_HTTP;
	strcpy(s.last_poll_error, "GET \"x\\y\": HTTP 500\x01 \xc3\xa9");
	strcpy(s.activation_result, "failure");
	strcpy(s.health_result, "timeout");
	s.health_exit = -1;
	s.health_ms = 1234567;
	s.mode = MODE_HELD_FAILED;
	s.tags.pin = 7;
	s.fleet.pause = true;
	s.fleet.pause_until = 1800000000;
	s.counters.poll_errors[-HAIL_E_HTTP] = 7;
	s.counters.rollbacks = 2;
	state_add_failed(&s, 42, P2);

	json = state_to_json(&s);
	CHECK(json != NULL, "state to JSON");
	{
		cJSON *parsed = json ? cJSON_Parse(json) : NULL;

		CHECK(parsed != NULL, "state JSON is valid JSON");
		cJSON_Delete(parsed);
	}
	CHECK(json && state_from_json(json, strlen(json), &t, &e) == 0, "state from JSON");
	CHECK(ref_is(&t.on, P1) && t.on.id == 41 && t.on.generation == 3 &&
	      ref_is(&t.good, P1) && ref_is(&t.baseline, P1) && t.latest_id == 42 &&
	      t.last_poll == 1764000000 && t.last_poll_result == HAIL_E_HTTP &&
	      !strcmp(t.last_poll_error, s.last_poll_error) && t.mode == MODE_HELD_FAILED &&
	      t.counters.poll_errors[-HAIL_E_HTTP] == 7 && t.counters.rollbacks == 2 &&
	      t.n_failed == 1 && !strcmp(t.failed[0].path, P2), "state round trip");
	CHECK(t.journal.phase == PHASE_ROLLING_BACK && ref_is(&t.journal.to, P1) &&
	      t.journal.to.generation == 3 && ref_is(&t.journal.from, P2), "journal round trip");
	CHECK(t.n_gens == 2 && state_generation_id(&t, 4, P2) == 42 &&
	      state_generation_id(&t, 4, P1) == 0 && state_generation_id(&t, 3, P1) == 41,
	      "generation records round trip; an id only for its own path");
	CHECK(t.tags.pin == 7 && t.fleet.pause && t.fleet.pause_until == 1800000000,
	      "each control source's last word round trip");
	CHECK(state_failed(&t, P2) && !state_failed(&t, P1), "failed paths");
	CHECK(!strcmp(t.health_result, "timeout") && t.health_exit == -1 && t.health_ms == 1234567,
	      "negative and large numbers written by hand read back");
	state_free(&t);
	free(json);

	n = metrics_format(buf, sizeof(buf), "we\"b", &s);
	CHECK(n > 0 && strstr(buf, "hail_rollbacks_total{profile=\"we\\\"b\"} 2\n") &&
	      strstr(buf, "hail_poll_errors_total{profile=\"we\\\"b\",kind=\"http\"} 7\n") &&
	      strstr(buf, "hail_held{profile=\"we\\\"b\"} 1\n") &&
	      strstr(buf, "hail_step_in_progress{profile=\"we\\\"b\"} 1\n"), "metrics text");
	CHECK(metrics_format(buf, 100, "web", &s) < 0, "metrics buffer too small");
	state_free(&s);
}

static void test_generations(void)
{
	struct agent_state s = { 0 };
	bool order = true;

	for (long g = 1; g <= STATE_GENERATIONS_MAX + 5; g++) {
		struct build_ref r = { (uint64_t)g + 100, g, P1 };

		state_add_generation(&s, &r);
	}
	for (unsigned i = 0; i < s.n_gens; i++)
		order = order && s.gens[i].generation == (long)i + 6;
	CHECK(s.n_gens == STATE_GENERATIONS_MAX && order, "generation records keep the newest");
	{
		struct build_ref again = { 999, 10, P2 };

		state_add_generation(&s, &again);
		CHECK(s.n_gens == STATE_GENERATIONS_MAX && state_generation_id(&s, 10, P2) == 999 &&
		      state_generation_id(&s, 10, P1) == 0, "a generation number Nix gave again");
	}
	state_free(&s);
}

/* What hail 0.3 wrote: "store-path" was its own deployment, "switching-to"
 * a switch under way. */
static void test_old_state(void)
{
	static const char old[] = "{\"mode\": \"held: manual switch\", \"store-path\": \"" P1 "\", "
		"\"build-id\": 5, \"generation\": 2, \"switching-to\": {\"store-path\": \"" P2 "\", "
		"\"build-id\": 6}, \"last-activation\": {\"result\": \"success\", \"build-id\": 5}}";
	struct agent_state t;
	struct hail_errbuf e;

	CHECK(state_from_json(old, strlen(old), &t, &e) == 0 && t.mode == MODE_HELD_MANUAL &&
	      ref_is(&t.baseline, P1) && t.baseline.id == 5 && ref_is(&t.good, P1) &&
	      t.journal.phase == PHASE_SWITCHING && ref_is(&t.journal.to, P2) &&
	      t.journal.to.id == 6, "hail 0.3's state: baseline, last good and the switch under way");
	state_free(&t);
}

/* The hold file may be an operator's: a number out of range holds until
 * removed, and is never cast (a cast of 1e300 is undefined). */
static void test_hold_file(void)
{
	static const struct { const char *text; uint64_t until; } rows[] = {
		{ "{\"release-after-build\": 7}", 7 },
		{ "{\"release-after-build\": 1e300}", 0 },
		{ "{\"release-after-build\": -1}", 0 },
		{ "{\"release-after-build\": 2.5}", 0 },
		{ "{\"release-after-build\": 9007199254740993e3}", 0 },
		{ "", 0 },
		{ "not json", 0 },
	};
	char path[] = "/tmp/hail-test-hold-XXXXXX";
	int fd = mkstemp(path);

	for (size_t i = 0; fd >= 0 && i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct hail_errbuf e;
		uint64_t until = 99;
		bool held = false;
		FILE *f = fopen(path, "w");

		if (f) {
			fputs(rows[i].text, f);
			fclose(f);
		}
		CHECK(hold_read(path, &held, &until, &e) == 0 && held && until == rows[i].until,
		      "hold file '%s'", rows[i].text);
	}
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
}

int main(void)
{
	struct agent_state t;
	struct hail_errbuf e;

	test_round_trip();
	test_generations();
	test_old_state();
	test_hold_file();
	CHECK(state_from_json("{\"store-path\": \"/etc/passwd\"}", 30, &t, &e) == 0 &&
	      t.on.path == NULL, "a bad store path in the state is dropped");
	state_free(&t);
	CHECK(state_from_json("{\"build-id\": 1e300, \"generation\": -5, \"store-path\": \"" P1 "\"}",
			      strlen("{\"build-id\": 1e300, \"generation\": -5, \"store-path\": \"" P1
				     "\"}"), &t, &e) == 0 && t.on.id == 0 && t.on.generation == 0,
	      "numbers out of range in the state are 0");
	state_free(&t);
	CHECK(state_from_json("[", 1, &t, &e) < 0, "corrupt state refused");
	return check_exit();
}
