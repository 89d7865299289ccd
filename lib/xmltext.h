/* The text of one element of a small XML document (AWS query API answers),
 * read with expat: entities and CDATA are decoded, and a malformed document
 * is an error rather than a guess. */
#ifndef HAIL_XMLTEXT_H
#define HAIL_XMLTEXT_H

#include <stddef.h>

/* Copies the text of the first element named name (local name, any
 * namespace) into buf. 0, HAIL_E_NOT_FOUND when there is none,
 * HAIL_E_PROTOCOL when the document is not well-formed XML or the text does
 * not fit in size - 1 bytes. */
int xml_element_text(const char *xml, size_t len, const char *name, char *buf, size_t size);

#endif
