/* Extra trust anchors for a Hydra behind a private CA (--ca-file), beside
 * the system's trust store rather than instead of it.
 *
 * The file is PEM, at most CA_FILE_MAX bytes, holding one or more
 * certificates and nothing else that PEM could name a certificate. It is
 * read once; each new TLS context gets its certificates added to the store
 * libcurl set up (and caches), so the system bundle's parsing is not
 * repeated per connection. */
#ifndef HAIL_CAFILE_H
#define HAIL_CAFILE_H

#include <stddef.h>

#include "error.h"

#define CA_FILE_MAX (1024 * 1024)
#define CA_FILE_CERTS_MAX 64

struct ca_set;

/* Parses text (len bytes) into *out (owned; ca_set_free). HAIL_E_USAGE with
 * the reason when it holds no certificate, something that is not one, or
 * more than CA_FILE_CERTS_MAX. name is for messages. */
int ca_set_parse(const char *name, const char *text, size_t len, struct ca_set **out,
		 struct hail_errbuf *e);

/* Reads and parses path. HAIL_E_USAGE when it cannot be read or parsed. */
int ca_set_load(const char *path, struct ca_set **out, struct hail_errbuf *e);

void ca_set_free(struct ca_set *set);

/* Adds the certificates to store (an OpenSSL X509_STORE *). 0, or
 * HAIL_E_INTERNAL. A certificate the store has already is not an error. */
int ca_set_add_to_store(const struct ca_set *set, void *store);

unsigned ca_set_count(const struct ca_set *set);

#endif
