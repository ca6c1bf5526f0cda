/*
 * Test-only token minting with OpenSSL's signing calls, so the unit tests
 * do not verify the engine against itself (jwt_sign.c).
 */

#ifndef JWT_SIGN_H
#define JWT_SIGN_H

#include <stddef.h>

#include <openssl/evp.h>


/* base64url of data, no padding; malloc'ed, NUL-terminated */
char *b64(const void *data, size_t len);

/* header and payload are JSON texts; secret for HS*, pkey otherwise */
char *mint(const char *alg, EVP_PKEY *pkey, const unsigned char *secret,
    size_t secret_len, const char *header, const char *payload);

/* the public key as PEM; malloc'ed, NUL-terminated */
char *pubkey_pem(EVP_PKEY *pkey, size_t *len);

#endif /* JWT_SIGN_H */
