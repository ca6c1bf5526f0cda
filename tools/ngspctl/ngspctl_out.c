/*
 * Output shared by the commands: text with hostile bytes escaped (an
 * agency comes from a token and may hold terminal escapes), local times
 * in nginx's offset, and JSON.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ngspctl.h"


/* printable ASCII as it is; quotes, backslashes and other bytes as \xHH */
char *
ngspctl_escape(const char *s, size_t len)
{
    size_t          i;
    char           *out, *p;
    unsigned char   ch;

    out = malloc(4 * len + 1);
    if (out == NULL) {
        return NULL;
    }

    p = out;

    for (i = 0; i < len; i++) {
        ch = (unsigned char) s[i];

        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
            p += sprintf(p, "\\x%02x", ch);

        } else {
            *p++ = (char) ch;
        }
    }

    *p = '\0';

    return out;
}


void
ngspctl_print_escaped(const char *s, size_t len)
{
    char  *e;

    e = ngspctl_escape(s, len);

    if (e) {
        fputs(e, stdout);
        free(e);
    }
}


void
ngspctl_tz_text(long tz, char *buf, size_t size)
{
    long  a;

    a = tz < 0 ? -tz : tz;
    snprintf(buf, size, "%c%02ld:%02ld", tz < 0 ? '-' : '+', a / 3600,
             a % 3600 / 60);
}


/* "2025-12-02 17:30:25 +07:00" */
void
ngspctl_local_time(int64_t t, long tz, char *buf, size_t size)
{
    char       off[16];
    time_t     lt;
    struct tm  tm;

    lt = (time_t) (t + tz);
    gmtime_r(&lt, &tm);
    ngspctl_tz_text(tz, off, sizeof(off));

    snprintf(buf, size, "%04d-%02d-%02d %02d:%02d:%02d %s",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, off);
}


int
ngspctl_json_print(json_t *j)
{
    int  rc;

    if (j == NULL) {
        return ngspctl_error(NGSPCTL_FAIL, "out of memory");
    }

    rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    fputc('\n', stdout);

    return rc == 0 ? NGSPCTL_OK : ngspctl_error(NGSPCTL_FAIL,
                                                "cannot write JSON");
}


/*
 * The agency as given (JSON escapes it; bytes that are not UTF-8 make it
 * null, its tag still names it) and the tag of its keys.
 */
json_t *
ngspctl_json_agency(const ngspctl_agency_t *a)
{
    return json_pack("{s:o?, s:s#}",
                     "agency", json_stringn(a->name, a->len),
                     "tag", a->tag, (int) a->tag_len);
}
