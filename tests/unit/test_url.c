/* url_is_secure_endpoint(): https anywhere, http only to this machine. A
 * row is a URL and whether it may receive signed AWS requests. */
#include <curl/curl.h>

#include "check.h"
#include "url.h"

static const struct { const char *url; int ok; } endpoints[] = {
	{ "https://ssm.eu-west-1.amazonaws.com", 1 },
	{ "https://ssm.eu-west-1.amazonaws.com/", 1 },
	{ "https://127.example.net/", 1 },          /* https: the name is checked by TLS */
	{ "http://127.0.0.1/", 1 },
	{ "http://127.0.0.1:8080/", 1 },
	{ "http://127.1.2.3:1/", 1 },
	{ "http://127.255.255.255/", 1 },
	{ "http://localhost:1", 1 },
	{ "http://LocalHost:1/", 1 },
	{ "http://[::1]:2", 1 },
	{ "http://[::1]/", 1 },
	{ "http://127.example.net/", 0 },            /* DNS can point it anywhere */
	{ "http://127.0.0.1.nip.io/", 0 },
	{ "http://127.0.0.1.example.com:8080/", 0 },
	{ "http://127./", 0 },
	/* libcurl reads short and numeric IPv4 forms as inet_aton() does and
	 * connects to what they denote: the check sees that address */
	{ "http://127.0.0/x", 1 },                   /* 127.0.0.0 */
	{ "http://127.1/", 1 },                      /* 127.0.0.1 */
	{ "http://2130706433/", 1 },                 /* 127.0.0.1 */
	{ "http://0x7f.0.0.1/", 1 },
	{ "http://0177.0.0.1/", 1 },
	{ "http://2130706432.1/", 0 },               /* not an address: a name */
	{ "http://3232235777/", 0 },                 /* 192.168.1.1 */
	{ "http://1270.0.0.1/", 0 },
	{ "http://127.0.0.256/", 0 },
	{ "http://127.0.0.1000/", 0 },
	{ "http://128.0.0.1/", 0 },
	{ "http://12.7.0.1/", 0 },
	{ "http://localhost.example.com/", 0 },
	{ "http://localhostx/", 0 },
	{ "http://[::ffff:127.0.0.1]/", 0 },         /* v4-mapped: not taken as loopback */
	{ "http://[::2]/", 0 },
	{ "http://[fe80::1%25lo]/", 0 },
	{ "http://[::1%25lo]/", 0 },                  /* no zone ids */
	{ "http://127.0.0.1@evil.example/", 0 },      /* user@ in the authority */
	{ "http://u@127.0.0.1/", 0 },
	{ "http://u:p@127.0.0.1/", 0 },
	{ "http://:p@127.0.0.1/", 0 },
	{ "https://u:p@ssm.example.com", 0 },
	{ "https://ssm.example.com/?x=1", 0 },
	{ "http://127.0.0.1/#f", 0 },
	{ "http://evil.example#@127.0.0.1/", 0 },
	{ "http://vpce.example.com", 0 },
	{ "ftp://127.0.0.1/", 0 },
	{ "ftp://ssm.example.com", 0 },
	{ "127.0.0.1", 0 },
	{ "x", 0 },
	{ "", 0 },
};

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
		CHECK(url_is_secure_endpoint(endpoints[i].url) == endpoints[i].ok,
		      "endpoint '%s' %s", endpoints[i].url, endpoints[i].ok ? "accepted" : "refused");
	CHECK(url_is_http("http://h/") && url_is_http("https://h/") && !url_is_http("ftp://h/") &&
	      !url_is_http("h"), "url_is_http");
	curl_global_cleanup();
	return check_exit();
}
