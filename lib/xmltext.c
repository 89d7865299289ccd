#include "xmltext.h"

#include <expat.h>
#include <stdbool.h>
#include <string.h>

#include "error.h"

struct search {
	const char *name;
	char *buf;
	size_t size, len;
	int depth;              /* > 0 while inside the element */
	bool found, done, overflow;
};

/* Namespaces are on: names arrive as "URI|local"; compare the local part. */
static bool is_wanted(const struct search *s, const XML_Char *el)
{
	const char *bar = strrchr(el, '|');

	return !strcmp(bar ? bar + 1 : el, s->name);
}

static void XMLCALL on_start(void *data, const XML_Char *el, const XML_Char **attr)
{
	struct search *s = data;

	(void)attr;
	if (s->done)
		return;
	if (s->depth > 0)
		s->depth++;
	else if (is_wanted(s, el)) {
		s->depth = 1;
		s->found = true;
	}
}

static void XMLCALL on_end(void *data, const XML_Char *el)
{
	struct search *s = data;

	(void)el;
	if (s->depth > 0 && --s->depth == 0)
		s->done = true;
}

static void XMLCALL on_text(void *data, const XML_Char *text, int len)
{
	struct search *s = data;

	if (s->depth == 0 || s->done)
		return;
	if ((size_t)len >= s->size - s->len) {
		s->overflow = true;
		return;
	}
	memcpy(s->buf + s->len, text, (size_t)len);
	s->len += (size_t)len;
	s->buf[s->len] = '\0';
}

int xml_element_text(const char *xml, size_t len, const char *name, char *buf, size_t size)
{
	struct search s = { .name = name, .buf = buf, .size = size };
	XML_Parser p;
	int ret;

	if (size == 0 || len > (size_t)1 << 30)
		return HAIL_E_PROTOCOL;
	buf[0] = '\0';
	p = XML_ParserCreateNS(NULL, '|');
	if (!p)
		return HAIL_E_INTERNAL;
	XML_SetUserData(p, &s);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	/* expat 2.4+ refuses billion-laughs amplification by default */
	if (XML_Parse(p, xml, (int)len, XML_TRUE) == XML_STATUS_ERROR || s.overflow)
		ret = HAIL_E_PROTOCOL;
	else
		ret = s.found ? 0 : HAIL_E_NOT_FOUND;
	XML_ParserFree(p);
	if (ret < 0)
		buf[0] = '\0';
	return ret;
}
