#include "cafile.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "strutil.h"

struct ca_set {
	X509 *certs[CA_FILE_CERTS_MAX];
	unsigned n;
};

void ca_set_free(struct ca_set *set)
{
	if (!set)
		return;
	for (unsigned i = 0; i < set->n; i++)
		X509_free(set->certs[i]);
	free(set);
}

unsigned ca_set_count(const struct ca_set *set)
{
	return set ? set->n : 0;
}

int ca_set_parse(const char *name, const char *text, size_t len, struct ca_set **out,
		 struct hail_errbuf *e)
{
	char shown[128];
	struct ca_set *set = NULL;
	BIO *bio = NULL;
	int ret = 0;

	*out = NULL;
	str_escape(shown, sizeof(shown), name, strlen(name));
	if (len > CA_FILE_MAX)
		return hail_fail(e, HAIL_E_USAGE, "ca-file %s: larger than %d bytes", shown,
				 CA_FILE_MAX);
	set = calloc(1, sizeof(*set));
	bio = set ? BIO_new_mem_buf(text, (int)len) : NULL;
	if (!bio) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	for (;;) {
		X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

		if (!x)
			break;
		if (set->n == CA_FILE_CERTS_MAX) {
			X509_free(x);
			ret = hail_fail(e, HAIL_E_USAGE, "ca-file %s: more than %d certificates",
					shown, CA_FILE_CERTS_MAX);
			goto out;
		}
		set->certs[set->n++] = x;
	}
	/* the loop ends at the end of the text (PEM_R_NO_START_LINE) or at
	 * something broken: only the first is fine */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE || !set->n) {
		ret = hail_fail(e, HAIL_E_USAGE, "ca-file %s: %s", shown, set->n ?
				"a certificate in it cannot be read" :
				"holds no PEM certificate");
		goto out;
	}
out:
	ERR_clear_error();
	BIO_free(bio);
	if (ret < 0)
		ca_set_free(set);
	else
		*out = set;
	return ret;
}

int ca_set_load(const char *path, struct ca_set **out, struct hail_errbuf *e)
{
	struct hail_errbuf why = { "" };
	char shown[128], *text = NULL;
	size_t len;
	int ret;

	*out = NULL;
	ret = file_read(path, CA_FILE_MAX, &text, &len, &why);
	if (ret < 0) {
		str_escape(shown, sizeof(shown), path, strlen(path));
		free(text);
		return hail_fail(e, HAIL_E_USAGE, "ca-file %s: %s", shown,
				 ret == HAIL_E_NOT_FOUND ? "no such file" :
				 ret == HAIL_E_PROTOCOL ? "larger than 1 MiB" : why.msg);
	}
	ret = ca_set_parse(path, text, len, out, e);
	free(text);
	return ret;
}

int ca_set_add_to_store(const struct ca_set *set, void *store)
{
	for (unsigned i = 0; i < set->n; i++)
		if (X509_STORE_add_cert(store, set->certs[i]) != 1) {
			ERR_clear_error();
			return HAIL_E_INTERNAL;
		}
	return 0;
}
