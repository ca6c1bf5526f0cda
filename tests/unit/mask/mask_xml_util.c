/*
 * libxml2 as the judge of XML for the unit tests and fuzzer: see
 * mask_xml_util.h.
 */

#include "mask_xml_util.h"


xmlDocPtr
xml_parse(const char *p, size_t len, int *ns_ok)
{
    xmlDocPtr         doc;
    xmlParserCtxtPtr  ctxt;

    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        abort();
    }

    doc = xmlCtxtReadMemory(ctxt, p, (int) len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR
                            | XML_PARSE_NOWARNING);

    if (doc && !ctxt->wellFormed) {
        xmlFreeDoc(doc);
        doc = NULL;
    }

    *ns_ok = ctxt->nsWellFormed;
    xmlFreeParserCtxt(ctxt);

    return doc;
}


int
xml_well_formed(const char *p, size_t len)
{
    int        ok, ns_ok;
    xmlDocPtr  doc;

    doc = xml_parse(p, len, &ns_ok);
    ok = doc != NULL && ns_ok;
    xmlFreeDoc(doc);

    return ok;
}
