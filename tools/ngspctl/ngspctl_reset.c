/*
 * ngspctl reset AGENCY [POLICY]: deletes the agency's counters (every
 * policy's state under ngsp:{tag}:q:, or one policy's), so its next
 * request starts from full windows.  Overrides are kept.  A policy's
 * counters are its state, ngsp:{tag}:q:POLICY, and what an older version
 * kept per window, ngsp:{tag}:q:POLICY:*: after a rolling upgrade both may
 * be there, and both count.
 * It asks first on a terminal; without one it needs --yes, so that a
 * script never resets by accident.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ngspctl.h"


static int
ngspctl_confirm(ngspctl_t *c, const ngspctl_agency_t *a, const char *policy,
    size_t nkeys)
{
    char  *e, line[16];

    if (c->yes) {
        return 0;
    }

    e = ngspctl_escape(a->name, a->len);
    fprintf(stderr, "Reset %zu counter%s of agency \"%s\"%s%s%s? [y/N] ",
            nkeys, nkeys == 1 ? "" : "s", e ? e : "",
            policy ? " for policy \"" : "", policy ? policy : "",
            policy ? "\"" : "");
    free(e);

    if (fgets(line, sizeof(line), stdin) == NULL
        || (strcmp(line, "y\n") != 0 && strcmp(line, "yes\n") != 0
            && strcmp(line, "Y\n") != 0))
    {
        return ngspctl_error(NGSPCTL_FAIL, "nothing reset");
    }

    return 0;
}


/* the policy's state key, when it exists, after the older keys found */
static int
ngspctl_add_state(ngspctl_t *c, const ngspctl_agency_t *a,
    const char *policy, char ***keys, size_t *nkeys)
{
    char        **v, key[NGSP_QUOTA_KEY_MAX];
    redisReply   *r;
    long long     exists;

    if (ngsp_quota_state_key(a->tag, a->tag_len, policy, key) == 0) {
        return ngspctl_error(NGSPCTL_USAGE, "invalid policy name");
    }

    r = ngspctl_redis(c, "EXISTS %s", key);
    if (r == NULL) {
        return NGSPCTL_FAIL;
    }

    exists = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);

    if (exists != 1) {
        return 0;
    }

    v = realloc(*keys, (*nkeys + 1) * sizeof(char *));
    if (v == NULL) {
        return ngspctl_error(NGSPCTL_FAIL, "out of memory");
    }

    *keys = v;
    v[*nkeys] = strdup(key);
    if (v[*nkeys] == NULL) {
        return ngspctl_error(NGSPCTL_FAIL, "out of memory");
    }

    (*nkeys)++;

    return 0;
}


int
ngspctl_reset(ngspctl_t *c, int argc, char **argv)
{
    int                rc;
    size_t             i, nkeys, deleted;
    json_t            *j;
    char             **keys;
    redisReply        *r;
    const char        *policy;
    ngspctl_agency_t   a;
    char               pattern[NGSP_QUOTA_TAG_MAX + NGSP_QUOTA_NAME_MAX + 16];

    rc = ngspctl_agency(argv[0], &a);
    if (rc != 0) {
        return rc;
    }

    if (!c->yes && !isatty(STDIN_FILENO)) {
        return ngspctl_error(NGSPCTL_USAGE, "reset asks for confirmation on "
                             "a terminal: give --yes to reset without "
                             "asking");
    }

    policy = argc == 2 ? argv[1] : NULL;

    if (policy) {
        char               name[NGSP_QUOTA_NAME_MAX + 1];
        char               field[NGSP_QUOTA_NAME_MAX + 4];
        ngsp_quota_unit_t  unit;

        /* the name's rules, through the field parser */
        if (strlen(policy) > NGSP_QUOTA_NAME_MAX) {
            return ngspctl_error(NGSPCTL_USAGE, "invalid policy name: at "
                                 "most %d characters", NGSP_QUOTA_NAME_MAX);
        }

        snprintf(field, sizeof(field), "%s:s", policy);
        rc = ngspctl_parse_field(field, name, &unit);
        if (rc != 0) {
            return rc;
        }

        if (c->have_status && ngspctl_policy(c, policy) == NULL) {
            return ngspctl_error(NGSPCTL_USAGE, "no policy \"%s\" in nginx's "
                                 "status", policy);
        }
    }

    /* tags and policy names hold no glob character (* ? [ ] \) */
    snprintf(pattern, sizeof(pattern), "ngsp:{%s}:q:%s%s*", a.tag,
             policy ? policy : "", policy ? ":" : "");

    rc = ngspctl_redis_connect(c);
    if (rc != 0) {
        return rc;
    }

    rc = ngspctl_scan(c, pattern, &keys, &nkeys);
    if (rc != 0) {
        return rc;
    }

    if (policy) {
        rc = ngspctl_add_state(c, &a, policy, &keys, &nkeys);
        if (rc != 0) {
            ngspctl_free_keys(keys, nkeys);
            return rc;
        }
    }

    deleted = 0;

    if (nkeys) {
        rc = ngspctl_confirm(c, &a, policy, nkeys);
    }

    for (i = 0; rc == 0 && i < nkeys; i++) {
        r = ngspctl_redis(c, "DEL %s", keys[i]);
        if (r == NULL) {
            rc = NGSPCTL_FAIL;
            break;
        }

        if (r->type == REDIS_REPLY_INTEGER) {
            deleted += (size_t) r->integer;
        }

        freeReplyObject(r);
    }

    ngspctl_free_keys(keys, nkeys);

    if (rc != 0) {
        return rc;
    }

    if (c->json) {
        j = ngspctl_json_agency(&a);
        if (j) {
            json_object_set_new(j, "policy", policy ? json_string(policy)
                                                    : json_null());
            json_object_set_new(j, "deleted", json_integer(deleted));
        }
        return ngspctl_json_print(j);
    }

    fputs("agency \"", stdout);
    ngspctl_print_escaped(a.name, a.len);
    printf("\": %zu counter%s deleted%s%s%s\n", deleted,
           deleted == 1 ? "" : "s", policy ? " for policy \"" : "",
           policy ? policy : "", policy ? "\"" : "");

    return NGSPCTL_OK;
}
