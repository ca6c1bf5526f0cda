/*
 * ngspctl slot AGENCY: the hash tag of the agency's keys and the Redis
 * Cluster slot that holds them all, computed by the quota engine as
 * nginx computes it; CLUSTER SLOTS (or CLUSTER SHARDS) then names the
 * node.  Needs neither Redis nor nginx.
 */

#include <stdio.h>

#include "ngspctl.h"


int
ngspctl_slot(ngspctl_t *c, int argc, char **argv)
{
    int               rc;
    char              key[NGSP_QUOTA_KEY_MAX];
    size_t            len;
    unsigned          slot;
    json_t           *j;
    ngspctl_agency_t  a;

    (void) argc;

    rc = ngspctl_agency(argv[0], &a);
    if (rc != 0) {
        return rc;
    }

    /* the slot of a key, not of the bare tag: what Redis itself hashes */
    len = ngsp_quota_limits_key(a.tag, a.tag_len, key);
    slot = ngsp_quota_slot(key, len);

    if (c->json) {
        j = ngspctl_json_agency(&a);
        if (j != NULL && json_object_set_new(j, "slot", json_integer(slot))
                         != 0)
        {
            json_decref(j);
            j = NULL;
        }

        return ngspctl_json_print(j);
    }

    fputs("agency \"", stdout);
    ngspctl_print_escaped(a.name, a.len);
    printf("\": tag %s, slot %u\n", a.tag, slot);

    return NGSPCTL_OK;
}
