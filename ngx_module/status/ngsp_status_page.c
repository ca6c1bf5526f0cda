/*
 * ngsp status, the HTML page ngsp_status serves: a placeholder that
 * links to the JSON and Prometheus forms.  The dashboard replaces it.
 */

#include <stddef.h>


const char  ngsp_status_page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>ngsp status</title></head>\n"
    "<body><h1>ngsp status</h1>\n"
    "<p><a href=\"?format=json\">JSON</a> | "
    "<a href=\"?format=prometheus\">Prometheus</a></p>\n"
    "</body></html>\n";

const size_t  ngsp_status_page_len = sizeof(ngsp_status_page) - 1;
