/* The --ca-file parser: PEM certificates only, bounded, nothing half read. */
#include <stdlib.h>
#include <string.h>

#include "cafile.h"
#include "check.h"

/* two throw-away self-signed certificates (public parts only) */
static const char CA1[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBjzCCATWgAwIBAgIUGsp3dD+eiwUjbCaxcZVFzsQ3qecwCgYIKoZIzj0EAwIw\n"
	"HDEaMBgGA1UEAwwRaGFpbC11bml0LXRlc3QtY2EwIBcNMjYxMjAxMjEyNDQ3WhgP\n"
	"MjEyNjExMDcyMTI0NDdaMBwxGjAYBgNVBAMMEWhhaWwtdW5pdC10ZXN0LWNhMFkw\n"
	"EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0zRaTlYUjdWqIvtTNrGICrRY3jk6c8g1\n"
	"rEwXc4BT81naz+NKpEeplVgXiTBUAbDZZcV4KKAdcnoa3WVO0xrRE6NTMFEwHQYD\n"
	"VR0OBBYEFAMqPJmYyUCrg3oir+y+8EaI7i2bMB8GA1UdIwQYMBaAFAMqPJmYyUCr\n"
	"g3oir+y+8EaI7i2bMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIh\n"
	"AMEZ4eA+XQbN8WsmSpon7ju7JaDHMzYku3xALM/0BDKtAiBzXS/zh7cQyYCLER6d\n"
	"4dtidmWH8Vy66IIZUN/yPBxXwA==\n"
	"-----END CERTIFICATE-----\n";
static const char CA2[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBkzCCATmgAwIBAgIUCTw24N9PPJHd0GVqqEaIuswquKwwCgYIKoZIzj0EAwIw\n"
	"HjEcMBoGA1UEAwwTaGFpbC11bml0LXRlc3QtY2EtMjAgFw0yNjEyMDEyMTI0NDda\n"
	"GA8yMTI2MTEwNzIxMjQ0N1owHjEcMBoGA1UEAwwTaGFpbC11bml0LXRlc3QtY2Et\n"
	"MjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABETinSyyALhb+zaEWqDn3VlyqA7m\n"
	"A5UU5eye+pzm8Ep642FSwYnkdopDWrQaeF5pcWTrsobS1SnZOsqhGfb/A06jUzBR\n"
	"MB0GA1UdDgQWBBRs4oqd97wnrdGd5yCFJchXTF0OATAfBgNVHSMEGDAWgBRs4oqd\n"
	"97wnrdGd5yCFJchXTF0OATAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA\n"
	"MEUCIFEkbXqj79O1+LbLA6XBd2EEEqZ1g24sD7HPWZnpkPeQAiEAz35r7Wd2nwX/\n"
	"ywt0Xf0FabfXAxV5cM+vXy9L3FttIpk=\n"
	"-----END CERTIFICATE-----\n";

static void row(const char *name, const char *text, int want_ret, unsigned want_n)
{
	struct ca_set *set = NULL;
	struct hail_errbuf e = { "" };
	int ret = ca_set_parse("test.pem", text, strlen(text), &set, &e);

	CHECK(ret == want_ret && ca_set_count(set) == want_n && (ret == 0) == (set != NULL) &&
	      (ret == 0 || strstr(e.msg, "ca-file test.pem: ")), "ca-file: %s (%s)", name, e.msg);
	ca_set_free(set);
}

int main(void)
{
	char *two = malloc(sizeof(CA1) + sizeof(CA2)), *cut = strdup(CA1);

	strcpy(two, CA1);
	strcat(two, CA2);
	cut[strlen(cut) / 2] = '\0';
	row("one certificate", CA1, 0, 1);
	row("two certificates", two, 0, 2);
	row("empty", "", HAIL_E_USAGE, 0);
	row("not PEM", "hello\n", HAIL_E_USAGE, 0);
	row("cut in the middle", cut, HAIL_E_USAGE, 0);
	row("a private key is not a certificate",
	    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", HAIL_E_USAGE, 0);
	{
		char *bad = malloc(strlen(two) + strlen(cut) + 1);

		strcpy(bad, two);
		strcat(bad, cut);
		row("good ones, then a broken one", bad, HAIL_E_USAGE, 0);
		free(bad);
	}
	{
		struct ca_set *set = NULL;
		struct hail_errbuf e;

		CHECK(ca_set_load("/nonexistent/ca.pem", &set, &e) == HAIL_E_USAGE && !set &&
		      strstr(e.msg, "ca-file /nonexistent/ca.pem: no such file"),
		      "ca-file: a missing file (%s)", e.msg);
	}
	free(two);
	free(cut);
	return check_exit();
}
