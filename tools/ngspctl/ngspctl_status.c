/*
 * nginx's status JSON (a location with ngsp_status, ?format=json): the
 * quota policies, their windows and the time zone, as the running nginx
 * has them.  libcurl fetches it (http and https, proxies from the usual
 * environment variables, chunked or not); jansson reads it.  Each policy
 * goes through the engine's own parser, so a window nginx could not have
 * is refused here too.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ngspctl.h"
#include "ngsp_version.h"


#define NGSPCTL_STATUS_MAX      (16 * 1024 * 1024)
#define NGSPCTL_STATUS_TIMEOUT  10L


typedef struct {
    char    *data;
    size_t   len;
    int      too_big;
} ngspctl_buf_t;


static size_t
ngspctl_status_write(char *p, size_t size, size_t n, void *data)
{
    char           *nd;
    ngspctl_buf_t  *b = data;

    n *= size;

    if (b->len + n > NGSPCTL_STATUS_MAX) {
        b->too_big = 1;
        return 0;
    }

    nd = realloc(b->data, b->len + n + 1);
    if (nd == NULL) {
        return 0;
    }

    b->data = nd;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';

    return n;
}


/* the URL as shown in messages: without a user:password@ it may carry */
static void
ngspctl_status_shown(const char *url, char *out, size_t size)
{
    const char  *s, *at, *slash;

    s = strstr(url, "://");
    s = s ? s + 3 : url;
    at = strchr(s, '@');
    slash = strchr(s, '/');

    if (at && (slash == NULL || at < slash)) {
        snprintf(out, size, "%.*s%s", (int) (s - url), url, at + 1);

    } else {
        snprintf(out, size, "%s", url);
    }
}


static int
ngspctl_status_fetch(ngspctl_t *c, const char *shown, ngspctl_buf_t *b)
{
    int        rc;
    char      *url, err[CURL_ERROR_SIZE];
    long       code;
    CURL      *h;
    CURLcode   e;

    /* the JSON form, whatever the location serves by default */
    if (strstr(c->status_url, "format=") == NULL) {
        url = malloc(strlen(c->status_url) + sizeof("?format=json"));
        if (url == NULL) {
            return ngspctl_error(NGSPCTL_FAIL, "out of memory");
        }
        sprintf(url, "%s%cformat=json", c->status_url,
                strchr(c->status_url, '?') ? '&' : '?');

    } else {
        url = strdup(c->status_url);
        if (url == NULL) {
            return ngspctl_error(NGSPCTL_FAIL, "out of memory");
        }
    }

    h = curl_easy_init();
    if (h == NULL) {
        free(url);
        return ngspctl_error(NGSPCTL_FAIL, "cannot start libcurl");
    }

    err[0] = '\0';

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, NGSPCTL_STATUS_TIMEOUT);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ngspctl/" NGSP_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ngspctl_status_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);

    e = curl_easy_perform(h);
    rc = 0;

    if (b->too_big) {
        rc = ngspctl_error(NGSPCTL_FAIL, "status %s: larger than %d bytes",
                           shown, NGSPCTL_STATUS_MAX);

    } else if (e != CURLE_OK) {
        rc = ngspctl_error(NGSPCTL_FAIL, "status %s: %s", shown,
                           err[0] ? err : curl_easy_strerror(e));

    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);

        if (code != 200) {
            rc = ngspctl_error(NGSPCTL_FAIL, "status %s: answered %ld, not "
                               "200 (is it a location with ngsp_status?)",
                               shown, code);
        }
    }

    curl_easy_cleanup(h);
    free(url);

    return rc;
}


static int
ngspctl_status_policy(const char *shown, const char *name, json_t *p,
    ngsp_quota_policy_t *policy)
{
    size_t        i;
    json_t       *ws, *w, *unit, *limit;
    char          text[64], err[256];

    if (ngsp_quota_policy_init(policy, name, strlen(name), err, sizeof(err))
        != 0)
    {
        return ngspctl_error(NGSPCTL_FAIL, "status %s: policy \"%.80s\": %s",
                             shown, name, err);
    }

    ws = json_object_get(p, "windows");

    if (!json_is_array(ws) || json_array_size(ws) == 0
        || json_array_size(ws) > NGSP_QUOTA_MAX_WINDOWS)
    {
        return ngspctl_error(NGSPCTL_FAIL, "status %s: policy \"%s\" has no "
                             "list of 1 to %d windows", shown, name,
                             NGSP_QUOTA_MAX_WINDOWS);
    }

    json_array_foreach(ws, i, w) {
        unit = json_object_get(w, "unit");
        limit = json_object_get(w, "limit");

        if (!json_is_string(unit) || !json_is_integer(limit)
            || json_integer_value(limit) < 0
            || snprintf(text, sizeof(text), "%lldr/%s",
                        (long long) json_integer_value(limit),
                        json_string_value(unit)) >= (int) sizeof(text)
            || ngsp_quota_policy_add(policy, text, strlen(text), err,
                                     sizeof(err)) != 0)
        {
            return ngspctl_error(NGSPCTL_FAIL, "status %s: policy \"%s\": "
                                 "window %zu is not a unit and limit nginx "
                                 "takes", shown, name, i + 1);
        }
    }

    return 0;
}


int
ngspctl_status_load(ngspctl_t *c)
{
    int              rc;
    long             tz;
    size_t           n;
    json_t          *root, *pols, *p, *off;
    const char      *name;
    ngspctl_buf_t    b;
    json_error_t     jerr;
    char             shown[512], have[16], given[16];

    ngspctl_status_shown(c->status_url, shown, sizeof(shown));

    memset(&b, 0, sizeof(b));

    rc = ngspctl_status_fetch(c, shown, &b);
    if (rc != 0) {
        free(b.data);
        return rc;
    }

    root = json_loadb(b.data ? b.data : "", b.len, 0, &jerr);
    free(b.data);

    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return ngspctl_error(NGSPCTL_FAIL, "status %s: not JSON (%s): is it "
                             "a location with ngsp_status?", shown,
                             root ? "not an object" : jerr.text);
    }

    rc = 0;
    pols = json_object_get(root, "policies");

    if (!json_is_object(pols)) {
        rc = ngspctl_error(NGSPCTL_FAIL, "status %s: no \"policies\" object: "
                           "is it a location with ngsp_status?", shown);
        goto done;
    }

    n = json_object_size(pols);
    c->policies = calloc(n ? n : 1, sizeof(ngsp_quota_policy_t));
    if (c->policies == NULL) {
        rc = ngspctl_error(NGSPCTL_FAIL, "out of memory");
        goto done;
    }

    json_object_foreach(pols, name, p) {
        rc = ngspctl_status_policy(shown, name, p,
                                   &c->policies[c->npolicies]);
        if (rc != 0) {
            goto done;
        }
        c->npolicies++;
    }

    off = json_object_get(root, "timezone_offset");

    if (json_is_integer(off)) {
        tz = (long) json_integer_value(off);

        if (tz < -NGSP_QUOTA_TZ_MAX || tz > NGSP_QUOTA_TZ_MAX) {
            rc = ngspctl_error(NGSPCTL_FAIL, "status %s: timezone_offset %ld "
                               "out of range", shown, tz);
            goto done;
        }

        /* nginx's own offset decides; a different --timezone is ignored */
        if (c->have_tz && c->tz != tz) {
            ngspctl_tz_text(tz, have, sizeof(have));
            ngspctl_tz_text(c->tz, given, sizeof(given));
            ngspctl_error(0, "--timezone %s ignored: nginx's status says %s",
                          given, have);
        }

        c->tz = tz;
        c->have_tz = 1;
    }

    c->have_status = 1;

done:

    json_decref(root);

    return rc;
}


void
ngspctl_status_free(ngspctl_t *c)
{
    free(c->policies);
    c->policies = NULL;
    c->npolicies = 0;
}
