#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"
#include "state.h"

#define P1 "/nix/store/882hqh7rym3ckw2q575klshwn05hz688-demo-1"
#define P2 "/nix/store/icgvpk79x8aifqm4s82lvaij1jbix8fk-demo-2"

int main(void)
{
	struct agent_state s = { 0 }, t;
	struct hail_errbuf e;
	char buf[8192], *json;
	int n;

	s.deployed_path = strdup(P1);
	s.deployed_id = 41;
	s.deployed_generation = 3;
	s.pending_path = strdup(P2);
	s.pending_id = 42;
	s.latest_id = 42;
	s.latest_path = strdup(P2);
	s.last_poll = 1764000000;
	s.last_poll_result = HAIL_E_HTTP;
	strcpy(s.last_poll_error, "GET \"x\\y\": HTTP 500\x01 \xc3\xa9");
	strcpy(s.activation_result, "failure");
	strcpy(s.mode, "held: failed build");
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
	CHECK(!strcmp(t.deployed_path, P1) && t.deployed_id == 41 && t.deployed_generation == 3 &&
	      !strcmp(t.pending_path, P2) && t.pending_id == 42 && t.latest_id == 42 &&
	      t.last_poll == 1764000000 && t.last_poll_result == HAIL_E_HTTP &&
	      !strcmp(t.last_poll_error, s.last_poll_error) && !strcmp(t.mode, s.mode) &&
	      t.counters.poll_errors[-HAIL_E_HTTP] == 7 && t.counters.rollbacks == 2 &&
	      t.n_failed == 1 && !strcmp(t.failed[0].path, P2), "state round trip");
	CHECK(state_failed(&t, P2) && !state_failed(&t, P1), "failed paths");
	state_free(&t);
	free(json);

	CHECK(state_from_json("{\"store-path\": \"/etc/passwd\"}", 30, &t, &e) == 0 &&
	      t.deployed_path == NULL, "a bad store path in the state is dropped");
	state_free(&t);
	CHECK(state_from_json("[", 1, &t, &e) < 0, "corrupt state refused");

	n = metrics_format(buf, sizeof(buf), "we\"b", &s);
	CHECK(n > 0 && strstr(buf, "hail_rollbacks_total{profile=\"we\\\"b\"} 2\n") &&
	      strstr(buf, "hail_poll_errors_total{profile=\"we\\\"b\",kind=\"http\"} 7\n") &&
	      strstr(buf, "hail_held{profile=\"we\\\"b\"} 1\n"), "metrics text");
	CHECK(metrics_format(buf, 100, "web", &s) < 0, "metrics buffer too small");
	state_free(&s);
	return check_exit();
}
