/*
 * Redis for ngspctl: hiredis's blocking API (a command-line tool waits
 * for its answer), AUTH and SELECT as nginx sends them, Redis's clock,
 * and SCAN for listing keys (never KEYS, which stalls a busy Redis).
 */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "ngspctl.h"


#define NGSPCTL_REDIS_TIMEOUT  5    /* seconds: connect, and each reply */
#define NGSPCTL_SCAN_COUNT     "1000"


static int
ngspctl_redis_fail(ngspctl_t *c, const char *what)
{
    return ngspctl_error(NGSPCTL_FAIL, "redis %s: %s", c->redis,
                         c->rc && c->rc->errstr[0] ? c->rc->errstr : what);
}


/* a reply that is an error: its text, and what to do about the usual ones */
static int
ngspctl_redis_refused(ngspctl_t *c, const char *what, redisReply *r)
{
    const char  *hint;

    hint = "";

    if (strncmp(r->str, "NOAUTH", 6) == 0) {
        hint = " (give the password in NGSP_REDIS_PASSWORD or with "
               "--password-file)";

    } else if (strncmp(r->str, "WRONGPASS", 9) == 0
               || strstr(r->str, "invalid password"))
    {
        hint = " (check NGSP_REDIS_PASSWORD or --password-file)";
    }

    return ngspctl_error(NGSPCTL_FAIL, "redis %s: %s refused: %.*s%s",
                         c->redis, what, (int) (r->len > 200 ? 200 : r->len),
                         r->str, hint);
}


int
ngspctl_redis_connect(ngspctl_t *c)
{
    int             rc;
    long            port;
    char           *end, host[256];
    const char     *colon, *h;
    size_t          hlen;
    redisReply     *r;
    struct timeval  tv = { NGSPCTL_REDIS_TIMEOUT, 0 };

    if (strncmp(c->redis, "unix:", 5) == 0) {
        if (c->redis[5] == '\0') {
            return ngspctl_error(NGSPCTL_USAGE, "invalid --redis \"%s\": "
                                 "unix:/path", c->redis);
        }

        c->rc = redisConnectUnixWithTimeout(c->redis + 5, tv);

    } else {
        h = c->redis;
        port = 6379;

        if (h[0] == '[') {
            end = strchr(h, ']');
            if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
                goto invalid;
            }
            hlen = end - h - 1;
            h++;
            colon = end[1] == ':' ? end + 1 : NULL;

        } else {
            colon = strrchr(h, ':');
            if (colon && strchr(h, ':') != colon) {
                goto invalid;       /* an IPv6 address needs [] */
            }
            hlen = colon ? (size_t) (colon - h) : strlen(h);
        }

        if (colon) {
            port = strtol(colon + 1, &end, 10);
            if (colon[1] < '0' || colon[1] > '9' || *end || port < 1
                || port > 65535)
            {
                goto invalid;
            }
        }

        if (hlen == 0 || hlen >= sizeof(host)) {
            goto invalid;
        }

        memcpy(host, h, hlen);
        host[hlen] = '\0';

        c->rc = redisConnectWithTimeout(host, (int) port, tv);
    }

    if (c->rc == NULL) {
        return ngspctl_error(NGSPCTL_FAIL, "redis %s: out of memory",
                             c->redis);
    }

    if (c->rc->err) {
        return ngspctl_redis_fail(c, "cannot connect");
    }

    redisSetTimeout(c->rc, tv);

    if (c->password) {
        r = redisCommand(c->rc, "AUTH %s", c->password);
        if (r == NULL) {
            return ngspctl_redis_fail(c, "AUTH failed");
        }

        rc = r->type == REDIS_REPLY_ERROR
             ? ngspctl_redis_refused(c, "AUTH", r) : 0;
        freeReplyObject(r);

        if (rc) {
            return rc;
        }
    }

    if (c->db) {
        r = redisCommand(c->rc, "SELECT %ld", c->db);
        if (r == NULL) {
            return ngspctl_redis_fail(c, "SELECT failed");
        }

        rc = r->type == REDIS_REPLY_ERROR
             ? ngspctl_redis_refused(c, "SELECT", r) : 0;
        freeReplyObject(r);

        if (rc) {
            return rc;
        }
    }

    return 0;

invalid:

    return ngspctl_error(NGSPCTL_USAGE, "invalid --redis \"%s\": host:port, "
                         "[ipv6]:port or unix:/path", c->redis);
}


/* a reply, or NULL after saying why (an error reply is a failure too) */
static redisReply *
ngspctl_redis_check(ngspctl_t *c, redisReply *r, const char *what)
{
    if (r == NULL) {
        ngspctl_redis_fail(c, "no reply");
        return NULL;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        ngspctl_redis_refused(c, what, r);
        freeReplyObject(r);
        return NULL;
    }

    return r;
}


redisReply *
ngspctl_redis_argv(ngspctl_t *c, int argc, const char **argv,
    const size_t *lens)
{
    return ngspctl_redis_check(c, redisCommandArgv(c->rc, argc, argv, lens),
                               argv[0]);
}


redisReply *
ngspctl_redis(ngspctl_t *c, const char *fmt, ...)
{
    va_list      args;
    redisReply  *r;
    char         what[16];

    va_start(args, fmt);
    r = redisvCommand(c->rc, fmt, args);
    va_end(args);

    snprintf(what, sizeof(what), "%.*s", (int) strcspn(fmt, " "), fmt);

    return ngspctl_redis_check(c, r, what);
}


/* Redis's clock, as the quota script reads it */
int
ngspctl_redis_time(ngspctl_t *c, int64_t *now_us)
{
    redisReply  *r;

    r = ngspctl_redis(c, "TIME");
    if (r == NULL) {
        return NGSPCTL_FAIL;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_STRING)
    {
        freeReplyObject(r);
        return ngspctl_error(NGSPCTL_FAIL, "redis %s: unexpected reply to "
                             "TIME", c->redis);
    }

    *now_us = strtoll(r->element[0]->str, NULL, 10) * 1000000
              + strtoll(r->element[1]->str, NULL, 10);

    freeReplyObject(r);

    return 0;
}


static int
ngspctl_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


/*
 * Every key matching pattern, sorted, each once: SCAN may return a key
 * twice, and takes many calls on a large Redis without blocking it.
 */
int
ngspctl_scan(ngspctl_t *c, const char *pattern, char ***keys, size_t *nkeys)
{
    size_t       i, n, cap, k;
    char       **v, **nv, cursor[32];
    redisReply  *r, *list;

    v = NULL;
    n = 0;
    cap = 0;
    strcpy(cursor, "0");

    do {
        r = ngspctl_redis(c, "SCAN %s MATCH %s COUNT " NGSPCTL_SCAN_COUNT,
                          cursor, pattern);
        if (r == NULL) {
            goto failed;
        }

        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
            || r->element[0]->type != REDIS_REPLY_STRING
            || r->element[0]->len >= sizeof(cursor)
            || r->element[1]->type != REDIS_REPLY_ARRAY)
        {
            freeReplyObject(r);
            ngspctl_error(NGSPCTL_FAIL, "redis %s: unexpected reply to SCAN",
                          c->redis);
            goto failed;
        }

        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = '\0';

        list = r->element[1];

        for (i = 0; i < list->elements; i++) {
            if (list->element[i]->type != REDIS_REPLY_STRING) {
                continue;
            }

            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                nv = realloc(v, cap * sizeof(char *));
                if (nv == NULL) {
                    freeReplyObject(r);
                    ngspctl_error(NGSPCTL_FAIL, "out of memory");
                    goto failed;
                }
                v = nv;
            }

            v[n] = strndup(list->element[i]->str, list->element[i]->len);
            if (v[n] == NULL) {
                freeReplyObject(r);
                ngspctl_error(NGSPCTL_FAIL, "out of memory");
                goto failed;
            }
            n++;
        }

        freeReplyObject(r);

    } while (strcmp(cursor, "0") != 0);

    if (n) {
        qsort(v, n, sizeof(char *), ngspctl_cmp);
    }

    for (i = 0, k = 0; i < n; i++) {
        if (k && strcmp(v[k - 1], v[i]) == 0) {
            free(v[i]);
            continue;
        }
        v[k++] = v[i];
    }

    *keys = v;
    *nkeys = k;

    return 0;

failed:

    ngspctl_free_keys(v, n);

    return NGSPCTL_FAIL;
}


void
ngspctl_free_keys(char **keys, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(keys[i]);
    }

    free(keys);
}


void
ngspctl_redis_close(ngspctl_t *c)
{
    if (c->rc) {
        redisFree(c->rc);
        c->rc = NULL;
    }
}
