/*
 * Internal to the JWT engine: one verification key, parsed once when the
 * configuration is read.
 */

#ifndef NGSP_JWT_KEY_H
#define NGSP_JWT_KEY_H

#include <openssl/evp.h>

#include "ngsp_jwt.h"


typedef enum {
    NGSP_KTY_RSA = 1,
    NGSP_KTY_EC,
    NGSP_KTY_OKP,
    NGSP_KTY_OCT
} ngsp_jwt_kty_t;


typedef struct {
    ngsp_jwt_kty_t   kty;
    unsigned         algs;          /* NGSP_ALG_BIT()s this key verifies */
    EVP_PKEY        *pkey;          /* RSA, EC, OKP */
    unsigned char   *secret;        /* oct */
    size_t           secret_len;
    char            *kid;           /* NULL: the key has no kid */
    char            *source;        /* the file it came from, or NULL */
    int64_t          not_after;     /* a certificate's expiry, or 0 */
    int              bits;
} ngsp_jwt_key_t;


struct ngsp_jwt_keyset_s {
    ngsp_jwt_key_t  *keys;
    size_t           nkeys;
    size_t           cap;
    unsigned char    digest[32];
};


#define NGSP_ALGS_HS  (NGSP_ALG_BIT(NGSP_ALG_HS256)                          \
                       | NGSP_ALG_BIT(NGSP_ALG_HS384)                        \
                       | NGSP_ALG_BIT(NGSP_ALG_HS512))
#define NGSP_ALGS_RSA (NGSP_ALG_BIT(NGSP_ALG_RS256)                          \
                       | NGSP_ALG_BIT(NGSP_ALG_RS384)                        \
                       | NGSP_ALG_BIT(NGSP_ALG_RS512)                        \
                       | NGSP_ALG_BIT(NGSP_ALG_PS256)                        \
                       | NGSP_ALG_BIT(NGSP_ALG_PS384)                        \
                       | NGSP_ALG_BIT(NGSP_ALG_PS512))

/* 1 when sig is a valid signature of msg under key with alg */
int ngsp_jwt_key_verify(const ngsp_jwt_key_t *key, ngsp_jwt_alg_t alg,
    const unsigned char *msg, size_t msg_len,
    const unsigned char *sig, size_t sig_len);

#endif /* NGSP_JWT_KEY_H */
