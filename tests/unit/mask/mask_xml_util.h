/*
 * libxml2, an independent parser, as the judge of the XML rewriter's
 * input and output in the XML unit tests and fuzzer (mask_xml_util.c);
 * the runs of the rewriter are in mask_util.h.
 */

#ifndef MASK_XML_UTIL_H
#define MASK_XML_UTIL_H

#include <libxml/parser.h>

#include "mask_util.h"


/*
 * libxml2's tree of p[0..len) if well formed, else NULL; *ns_ok tells
 * whether its namespaces are well formed too.  No network, no entities.
 */
xmlDocPtr xml_parse(const char *p, size_t len, int *ns_ok);

/* libxml2's verdict, namespaces included */
int xml_well_formed(const char *p, size_t len);

#endif /* MASK_XML_UTIL_H */
