/*
 * Signature verification, one function per algorithm family, with keys
 * already parsed (the reason ngsp does not call libjwt's jwt_decode on the
 * request path: it parses the PEM key again for every token).
 */

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "ngsp_jwt_key.h"


/*
 * The digests, and an HMAC context per digest, made once per process by
 * ngsp_jwt_crypto_init(): an implicit fetch (EVP_sha256(), HMAC()) costs
 * on every call in OpenSSL 3.  The contexts are reused by each HS*
 * verification, so a process verifies from one thread, as a worker does.
 * Without ngsp_jwt_crypto_init() verification still works, only slower.
 */
static EVP_MD       *ngsp_jwt_mds[3];
static EVP_MAC_CTX  *ngsp_jwt_hmacs[3];


int
ngsp_jwt_crypto_init(void)
{
    int                 i;
    EVP_MAC            *mac;
    OSSL_PARAM          params[2];
    static const char  *names[3] = { "SHA256", "SHA384", "SHA512" };

    if (ngsp_jwt_hmacs[0]) {
        return 0;
    }

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        return -1;
    }

    for (i = 0; i < 3; i++) {
        ngsp_jwt_mds[i] = EVP_MD_fetch(NULL, names[i], NULL);
        ngsp_jwt_hmacs[i] = EVP_MAC_CTX_new(mac);

        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     (char *) names[i], 0);
        params[1] = OSSL_PARAM_construct_end();

        if (ngsp_jwt_mds[i] == NULL || ngsp_jwt_hmacs[i] == NULL
            || EVP_MAC_CTX_set_params(ngsp_jwt_hmacs[i], params) != 1)
        {
            EVP_MAC_free(mac);
            ngsp_jwt_crypto_free();
            return -1;
        }
    }

    /* the contexts hold their own reference */
    EVP_MAC_free(mac);

    return 0;
}


void
ngsp_jwt_crypto_free(void)
{
    int  i;

    for (i = 0; i < 3; i++) {
        EVP_MD_free(ngsp_jwt_mds[i]);
        ngsp_jwt_mds[i] = NULL;
        EVP_MAC_CTX_free(ngsp_jwt_hmacs[i]);
        ngsp_jwt_hmacs[i] = NULL;
    }
}


static const EVP_MD *
ngsp_jwt_md(ngsp_jwt_alg_t alg)
{
    int  i;

    switch (alg) {
    case NGSP_ALG_HS256: case NGSP_ALG_RS256: case NGSP_ALG_PS256:
    case NGSP_ALG_ES256:
        i = 0;
        break;
    case NGSP_ALG_HS384: case NGSP_ALG_RS384: case NGSP_ALG_PS384:
    case NGSP_ALG_ES384:
        i = 1;
        break;
    case NGSP_ALG_HS512: case NGSP_ALG_RS512: case NGSP_ALG_PS512:
    case NGSP_ALG_ES512:
        i = 2;
        break;
    default:
        return NULL;
    }

    if (ngsp_jwt_mds[i]) {
        return ngsp_jwt_mds[i];
    }

    return (i == 0) ? EVP_sha256() : (i == 1) ? EVP_sha384() : EVP_sha512();
}


static int
ngsp_jwt_verify_hmac(const ngsp_jwt_key_t *key, ngsp_jwt_alg_t alg,
    const unsigned char *msg, size_t msg_len,
    const unsigned char *sig, size_t sig_len)
{
    int             i;
    size_t          n;
    unsigned int    len;
    EVP_MAC_CTX    *ctx;
    const EVP_MD   *md;
    unsigned char   mac[EVP_MAX_MD_SIZE];

    md = ngsp_jwt_md(alg);
    if (md == NULL || key->secret == NULL) {
        return 0;
    }

    i = (alg == NGSP_ALG_HS256) ? 0 : (alg == NGSP_ALG_HS384) ? 1 : 2;
    ctx = ngsp_jwt_hmacs[i];

    if (ctx) {
        if (EVP_MAC_init(ctx, key->secret, key->secret_len, NULL) != 1
            || EVP_MAC_update(ctx, msg, msg_len) != 1
            || EVP_MAC_final(ctx, mac, &n, sizeof(mac)) != 1)
        {
            return 0;
        }

        len = (unsigned int) n;

    } else if (HMAC(md, key->secret, (int) key->secret_len, msg, msg_len,
                    mac, &len)
               == NULL)
    {
        return 0;
    }

    if (sig_len != len) {
        return 0;
    }

    return CRYPTO_memcmp(mac, sig, len) == 0;
}


static int
ngsp_jwt_verify_pkey(const ngsp_jwt_key_t *key, ngsp_jwt_alg_t alg,
    const unsigned char *msg, size_t msg_len,
    const unsigned char *sig, size_t sig_len)
{
    int            ok;
    const EVP_MD  *md;
    EVP_MD_CTX    *ctx;
    EVP_PKEY_CTX  *pctx;

    md = (alg == NGSP_ALG_EDDSA) ? NULL : ngsp_jwt_md(alg);
    if (md == NULL && alg != NGSP_ALG_EDDSA) {
        return 0;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return 0;
    }

    ok = 0;
    pctx = NULL;

    if (EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key->pkey) != 1) {
        goto done;
    }

    if (alg == NGSP_ALG_PS256 || alg == NGSP_ALG_PS384
        || alg == NGSP_ALG_PS512)
    {
        /* RFC 7518 §3.5: MGF1 with the same hash, salt as long as it */
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST)
               != 1
            || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1)
        {
            goto done;
        }

    } else if (alg >= NGSP_ALG_RS256 && alg <= NGSP_ALG_RS512) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
            goto done;
        }
    }

    ok = (EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) == 1);

done:

    EVP_MD_CTX_free(ctx);
    return ok;
}


/* JWS carries ECDSA signatures as R || S of fixed width; OpenSSL wants DER */
static int
ngsp_jwt_verify_ecdsa(const ngsp_jwt_key_t *key, ngsp_jwt_alg_t alg,
    const unsigned char *msg, size_t msg_len,
    const unsigned char *sig, size_t sig_len)
{
    int             ok, der_len;
    size_t          n;
    BIGNUM         *r, *s;
    ECDSA_SIG      *es;
    unsigned char  *der;

    n = (alg == NGSP_ALG_ES256) ? 32 : (alg == NGSP_ALG_ES384) ? 48 : 66;

    if (sig_len != 2 * n) {
        return 0;
    }

    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, (int) n, NULL);
    s = BN_bin2bn(sig + n, (int) n, NULL);

    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
    {
        ECDSA_SIG_free(es);
        BN_free(r);
        BN_free(s);
        return 0;
    }

    der = NULL;
    der_len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);

    if (der_len <= 0) {
        return 0;
    }

    ok = ngsp_jwt_verify_pkey(key, alg, msg, msg_len, der, (size_t) der_len);

    OPENSSL_free(der);
    return ok;
}


int
ngsp_jwt_key_verify(const ngsp_jwt_key_t *key, ngsp_jwt_alg_t alg,
    const unsigned char *msg, size_t msg_len,
    const unsigned char *sig, size_t sig_len)
{
    if (!(key->algs & NGSP_ALG_BIT(alg))) {
        return 0;
    }

    switch (key->kty) {

    case NGSP_KTY_OCT:
        return ngsp_jwt_verify_hmac(key, alg, msg, msg_len, sig, sig_len);

    case NGSP_KTY_RSA:
        return ngsp_jwt_verify_pkey(key, alg, msg, msg_len, sig, sig_len);

    case NGSP_KTY_EC:
        return ngsp_jwt_verify_ecdsa(key, alg, msg, msg_len, sig, sig_len);

    case NGSP_KTY_OKP:
        if (sig_len != 64) {
            return 0;
        }
        return ngsp_jwt_verify_pkey(key, alg, msg, msg_len, sig, sig_len);
    }

    return 0;
}
