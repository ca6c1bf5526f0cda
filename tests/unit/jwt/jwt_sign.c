/*
 * Test-only token minting with OpenSSL: see jwt_sign.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "jwt_sign.h"
#include "ngsp_b64url.h"


static const EVP_MD *md_for(const char *alg);


char *
b64(const void *data, size_t len)
{
    char  *out = malloc((len + 2) / 3 * 4 + 1);
    size_t n = ngsp_b64url_encode(out, data, len);
    out[n] = '\0';
    return out;
}


static const EVP_MD *
md_for(const char *alg)
{
    if (strstr(alg, "384")) return EVP_sha384();
    if (strstr(alg, "512")) return EVP_sha512();
    if (strcmp(alg, "EdDSA") == 0) return NULL;
    return EVP_sha256();
}


char *
mint(const char *alg, EVP_PKEY *pkey, const unsigned char *secret,
    size_t secret_len, const char *header, const char *payload)
{
    char           *h, *p, *s, *signing, *tok;
    size_t          siglen, n;
    unsigned int    maclen;
    unsigned char   sig[1024];
    EVP_MD_CTX     *ctx;
    EVP_PKEY_CTX   *pctx;

    h = b64(header, strlen(header));
    p = b64(payload, strlen(payload));
    signing = malloc(strlen(h) + strlen(p) + 2);
    sprintf(signing, "%s.%s", h, p);

    if (strncmp(alg, "HS", 2) == 0) {
        HMAC(md_for(alg), secret, (int) secret_len,
             (unsigned char *) signing, strlen(signing), sig, &maclen);
        siglen = maclen;

    } else {
        ctx = EVP_MD_CTX_new();
        EVP_DigestSignInit(ctx, &pctx, md_for(alg), NULL, pkey);
        if (strncmp(alg, "PS", 2) == 0) {
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
        }
        siglen = sizeof(sig);
        EVP_DigestSign(ctx, sig, &siglen, (unsigned char *) signing,
                       strlen(signing));
        EVP_MD_CTX_free(ctx);

        if (strncmp(alg, "ES", 2) == 0) {
            /* DER -> R || S */
            const unsigned char  *d = sig;
            ECDSA_SIG            *es = d2i_ECDSA_SIG(NULL, &d, (long) siglen);
            unsigned char         raw[132];

            n = strcmp(alg, "ES256") == 0 ? 32
                : strcmp(alg, "ES384") == 0 ? 48 : 66;
            BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int) n);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + n, (int) n);
            ECDSA_SIG_free(es);
            memcpy(sig, raw, 2 * n);
            siglen = 2 * n;
        }
    }

    s = b64(sig, siglen);
    tok = malloc(strlen(signing) + strlen(s) + 2);
    sprintf(tok, "%s.%s", signing, s);

    free(h);
    free(p);
    free(s);
    free(signing);
    return tok;
}


char *
pubkey_pem(EVP_PKEY *pkey, size_t *len)
{
    BIO   *bio = BIO_new(BIO_s_mem());
    char  *data, *out;
    long   n;

    PEM_write_bio_PUBKEY(bio, pkey);
    n = BIO_get_mem_data(bio, &data);
    out = malloc((size_t) n + 1);
    memcpy(out, data, (size_t) n);
    out[n] = '\0';
    *len = (size_t) n;
    BIO_free(bio);
    return out;
}
