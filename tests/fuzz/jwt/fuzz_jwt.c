/*
 * libFuzzer target for the JWT engine.  The first byte picks what the
 * rest is: a token checked against a fixed key set, or a key file.
 * Besides "no crash", a token must never verify unless it was really
 * signed by the fixed HMAC key, which a fuzzer cannot do by chance, and
 * no claim text or agency may hold a control character.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngsp_jwt.h"


static ngsp_jwt_keyset_t  *ks;


/* no claim text and no accepted agency ever holds a control character */
static void
check_claim_texts(json_t *obj)
{
    char        *t;
    size_t       i, len;
    json_t      *v;
    const char  *name, *a;

    json_object_foreach(obj, name, v) {
        t = ngsp_jwt_claim_text(v, &len);
        if (t) {
            if (len != strlen(t)) {
                abort();
            }
            for (i = 0; i < len; i++) {
                if ((unsigned char) t[i] < 0x20 || t[i] == 0x7f) {
                    abort();
                }
            }
            free(t);
        }

        if (ngsp_jwt_agency(v, &a, &len) == NGSP_JWT_OK) {
            if (len == 0 || len > NGSP_JWT_MAX_AGENCY) {
                abort();
            }
            for (i = 0; i < len; i++) {
                if ((unsigned char) a[i] < 0x20 || a[i] == 0x7f) {
                    abort();
                }
            }
        }
    }
}

static const char  secret[] = "fuzzing-secret-of-32-bytes-at-least!";


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                err[256];
    unsigned            algs;
    ngsp_jwt_t          jwt;
    ngsp_jwt_status_t   st;
    ngsp_jwt_checks_t   checks = { NULL, NULL, 30 };
    ngsp_jwt_keyset_t  *tmp;

    if (ks == NULL) {
        /* as a worker does at start */
        if (ngsp_jwt_crypto_init() != 0) {
            abort();
        }

        ks = ngsp_jwt_keyset_new();
        if (ngsp_jwt_keyset_add(ks, (const unsigned char *) secret,
                                sizeof(secret) - 1,
                                NGSP_ALG_BIT(NGSP_ALG_HS256), NULL,
                                err, sizeof(err)) != 1)
        {
            abort();
        }
    }

    if (size < 1) {
        return 0;
    }

    if (data[0] & 1) {
        algs = (data[0] & 2) ? NGSP_ALG_BIT(NGSP_ALG_HS256) : 0;
        tmp = ngsp_jwt_keyset_new();
        (void) ngsp_jwt_keyset_add(tmp, data + 1, size - 1, algs,
                                   (data[0] & 4) ? "k" : NULL,
                                   err, sizeof(err));
        ngsp_jwt_keyset_free(tmp);
        return 0;
    }

    st = ngsp_jwt_parse(&jwt, (const char *) data + 1, size - 1);

    if (st == NGSP_JWT_OK) {
        check_claim_texts(jwt.claims);
        check_claim_texts(jwt.header);

        st = ngsp_jwt_verify(ks, &jwt, (const char *) data + 1);

        /* forging an HMAC by mutation is not possible; a pass is a bug */
        if (st == NGSP_JWT_OK) {
            abort();
        }

        (void) ngsp_jwt_check_claims(&jwt, &checks, 1700000000);
        (void) ngsp_jwt_expires(&jwt);
    }

    ngsp_jwt_free(&jwt);
    return 0;
}
