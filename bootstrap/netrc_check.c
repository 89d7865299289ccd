#include "netrc_check.h"

#include <stdio.h>
#include <string.h>

/* A token: a run of characters other than space, tab and newline. */
struct tokenizer {
	const char *p, *end;
	unsigned line;
};

static bool next_token(struct tokenizer *t, const char **tok, size_t *len)
{
	while (t->p < t->end && (*t->p == ' ' || *t->p == '\t' || *t->p == '\n' || *t->p == '\r')) {
		if (*t->p == '\n')
			t->line++;
		t->p++;
	}
	if (t->p >= t->end)
		return false;
	*tok = t->p;
	while (t->p < t->end && *t->p != ' ' && *t->p != '\t' && *t->p != '\n' && *t->p != '\r')
		t->p++;
	*len = (size_t)(t->p - *tok);
	return true;
}

static bool is(const char *tok, size_t len, const char *word)
{
	return len == strlen(word) && !memcmp(tok, word, len);
}

/* macdef NAME: the macro runs to the next empty line. */
static void skip_macro(struct tokenizer *t)
{
	while (t->p < t->end) {
		if (*t->p == '\n') {
			t->line++;
			if (t->p + 1 < t->end && t->p[1] == '\n') {
				t->p += 2;
				t->line++;
				return;
			}
		}
		t->p++;
	}
}

int netrc_check(const char *text, size_t len, const char *host, bool *has_host,
		struct hail_errbuf *e)
{
	struct tokenizer t = { text, text + len, 1 };
	bool in_entry = false, entry_has_password = true;
	unsigned entry_line = 0, entries = 0;
	const char *tok;
	size_t n;

	*has_host = false;
	if (len > NETRC_MAX)
		return hail_fail(e, HAIL_E_USAGE, "longer than %d bytes", NETRC_MAX);
	for (size_t i = 0, line = 1; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\n')
			line++;
		else if (c == 0 || (c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
			return hail_fail(e, HAIL_E_USAGE, "control character on line %zu", line);
	}
	while (next_token(&t, &tok, &n)) {
		unsigned line = t.line;

		if (is(tok, n, "machine") || is(tok, n, "default")) {
			if (in_entry && !entry_has_password)
				return hail_fail(e, HAIL_E_USAGE, "entry on line %u has no password",
						 entry_line);
			in_entry = true;
			entry_has_password = false;
			entry_line = line;
			entries++;
			if (is(tok, n, "default")) {
				*has_host = true;
				continue;
			}
			if (!next_token(&t, &tok, &n))
				return hail_fail(e, HAIL_E_USAGE, "'machine' without a name on line %u", line);
			if (host && is(tok, n, host))
				*has_host = true;
		} else if (is(tok, n, "login") || is(tok, n, "password") || is(tok, n, "account")) {
			bool password = is(tok, n, "password");
			char word[16];

			memcpy(word, tok, n);
			word[n] = '\0';
			if (!in_entry)
				return hail_fail(e, HAIL_E_USAGE, "'%s' before any 'machine' on line %u",
						 word, line);
			if (!next_token(&t, &tok, &n))
				return hail_fail(e, HAIL_E_USAGE, "'%s' without a value on line %u", word, line);
			if (password)
				entry_has_password = true;
		} else if (is(tok, n, "macdef")) {
			if (!next_token(&t, &tok, &n))
				return hail_fail(e, HAIL_E_USAGE, "'macdef' without a name on line %u", line);
			skip_macro(&t);
		} else {
			/* not echoed: it may be a password that lost its keyword */
			return hail_fail(e, HAIL_E_USAGE, "unexpected word on line %u (expected machine, "
					 "default, login, password, account or macdef)", line);
		}
	}
	if (entries == 0)
		return hail_fail(e, HAIL_E_USAGE, "no 'machine' entry");
	if (!entry_has_password)
		return hail_fail(e, HAIL_E_USAGE, "entry on line %u has no password", entry_line);
	return 0;
}

void netrc_print_masked(const char *text, size_t len, const char *indent, FILE *out)
{
	struct tokenizer t = { text, text + len, 1 };
	bool secret = false, first = true;
	const char *tok;
	size_t n;

	while (next_token(&t, &tok, &n)) {
		if (is(tok, n, "machine") || is(tok, n, "default")) {
			fprintf(out, "%s%s", first ? "" : "\n", indent);
			first = false;
		} else {
			fputc(' ', out);
		}
		if (secret) {
			fputs("********", out);
			secret = false;
			continue;
		}
		fprintf(out, "%.*s", (int)n, tok);
		secret = is(tok, n, "password") || is(tok, n, "account");
		if (is(tok, n, "macdef") && next_token(&t, &tok, &n)) {
			fprintf(out, " %.*s (its lines not shown)", (int)n, tok);
			skip_macro(&t);
		}
	}
	if (!first)
		fputc('\n', out);
}
