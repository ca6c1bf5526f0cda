/*
 * Key sets: JWKS / JWK (RFC 7517), PEM public keys and certificates, raw
 * HMAC secrets.  Every key ends up with the set of algorithms it may
 * verify, so that a token's alg can never pick a key of another type
 * (the HS256-with-the-RSA-public-key confusion).
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE         /* memmem(), timegm() */
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "ngsp_jwt_key.h"


#define NGSP_JWT_MAX_KEY_FILE  (1024 * 1024)
#define NGSP_RSA_MIN_BITS      2048


static void
ngsp_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (errlen == 0) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}


ngsp_jwt_keyset_t *
ngsp_jwt_keyset_new(void)
{
    return calloc(1, sizeof(ngsp_jwt_keyset_t));
}


static void
ngsp_jwt_key_clear(ngsp_jwt_key_t *k)
{
    EVP_PKEY_free(k->pkey);

    if (k->secret) {
        OPENSSL_cleanse(k->secret, k->secret_len);
        free(k->secret);
    }

    free(k->kid);
    free(k->source);
    memset(k, 0, sizeof(*k));
}


void
ngsp_jwt_keyset_free(ngsp_jwt_keyset_t *ks)
{
    size_t  i;

    if (ks == NULL) {
        return;
    }

    for (i = 0; i < ks->nkeys; i++) {
        ngsp_jwt_key_clear(&ks->keys[i]);
    }

    free(ks->keys);
    free(ks);
}


size_t
ngsp_jwt_keyset_count(const ngsp_jwt_keyset_t *ks)
{
    return ks->nkeys;
}


static const char *ngsp_jwt_kty_name(ngsp_jwt_kty_t kty);


int
ngsp_jwt_keyset_info(const ngsp_jwt_keyset_t *ks, size_t i,
    ngsp_jwt_key_info_t *info)
{
    const ngsp_jwt_key_t  *k;

    if (i >= ks->nkeys) {
        return -1;
    }

    k = &ks->keys[i];

    info->kid = k->kid;
    info->kty = ngsp_jwt_kty_name(k->kty);
    info->algs = k->algs;
    info->source = k->source;
    info->not_after = k->not_after;
    info->bits = k->bits;

    return 0;
}


const unsigned char *
ngsp_jwt_keyset_digest(const ngsp_jwt_keyset_t *ks)
{
    return ks->digest;
}


/* the algorithms a key of this type and size can verify */
static unsigned
ngsp_jwt_key_type_algs(ngsp_jwt_key_t *k)
{
    unsigned  algs;
    char      group[64];
    size_t    glen;

    switch (k->kty) {

    case NGSP_KTY_OCT:
        /* RFC 7518 §3.2: a key at least as long as the hash */
        algs = 0;
        if (k->secret_len >= 32) {
            algs |= NGSP_ALG_BIT(NGSP_ALG_HS256);
        }
        if (k->secret_len >= 48) {
            algs |= NGSP_ALG_BIT(NGSP_ALG_HS384);
        }
        if (k->secret_len >= 64) {
            algs |= NGSP_ALG_BIT(NGSP_ALG_HS512);
        }
        return algs;

    case NGSP_KTY_RSA:
        return NGSP_ALGS_RSA;

    case NGSP_KTY_EC:
        if (EVP_PKEY_get_utf8_string_param(k->pkey,
                OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) != 1)
        {
            return 0;
        }
        if (strcmp(group, "prime256v1") == 0) {
            return NGSP_ALG_BIT(NGSP_ALG_ES256);
        }
        if (strcmp(group, "secp384r1") == 0) {
            return NGSP_ALG_BIT(NGSP_ALG_ES384);
        }
        if (strcmp(group, "secp521r1") == 0) {
            return NGSP_ALG_BIT(NGSP_ALG_ES512);
        }
        return 0;

    case NGSP_KTY_OKP:
        return NGSP_ALG_BIT(NGSP_ALG_EDDSA);
    }

    return 0;
}


static const char *
ngsp_jwt_kty_name(ngsp_jwt_kty_t kty)
{
    switch (kty) {
    case NGSP_KTY_RSA: return "RSA";
    case NGSP_KTY_EC:  return "EC";
    case NGSP_KTY_OKP: return "OKP";
    case NGSP_KTY_OCT: return "oct";
    }
    return "?";
}


static void
ngsp_jwt_algs_text(unsigned algs, char *buf, size_t len)
{
    int     a;
    size_t  n;

    n = 0;
    buf[0] = '\0';

    for (a = 1; a < NGSP_ALG_MAX; a++) {
        if ((algs & NGSP_ALG_BIT(a)) && n + 8 < len) {
            n += snprintf(buf + n, len - n, "%s%s", n ? "," : "",
                          ngsp_jwt_alg_name((ngsp_jwt_alg_t) a));
        }
    }
}


/*
 * Fixes the key's algorithms (its type's, narrowed by pins), checks it,
 * and appends it to the set.  Takes ownership of *k.
 */
static int
ngsp_jwt_keyset_push(ngsp_jwt_keyset_t *ks, ngsp_jwt_key_t *k, unsigned pin,
    const char *what, char *err, size_t errlen)
{
    int             bits;
    unsigned        type_algs;
    size_t          dlen;
    EVP_MD_CTX     *sha;
    unsigned char  *der, *p;
    ngsp_jwt_key_t *keys;
    char            t1[128], t2[128];

    if (k->kty == NGSP_KTY_RSA) {
        bits = EVP_PKEY_get_bits(k->pkey);
        if (bits < NGSP_RSA_MIN_BITS) {
            ngsp_err(err, errlen, "%s: RSA key of %d bits is too short "
                     "(%d at least)", what, bits, NGSP_RSA_MIN_BITS);
            goto failed;
        }
    }

    type_algs = ngsp_jwt_key_type_algs(k);

    if (type_algs == 0) {
        if (k->kty == NGSP_KTY_OCT) {
            ngsp_err(err, errlen, "%s: HMAC secret of %zu bytes is too short "
                     "(32 at least for HS256)", what, k->secret_len);
        } else {
            ngsp_err(err, errlen, "%s: unsupported %s key (curve)", what,
                     ngsp_jwt_kty_name(k->kty));
        }
        goto failed;
    }

    if (pin) {
        if ((pin & type_algs) != pin) {
            ngsp_jwt_algs_text(pin, t1, sizeof(t1));
            ngsp_jwt_algs_text(type_algs, t2, sizeof(t2));
            ngsp_err(err, errlen, "%s: alg %s does not fit this %s key "
                     "(it allows %s)", what, t1, ngsp_jwt_kty_name(k->kty),
                     t2);
            goto failed;
        }
        k->algs = pin;

    } else {
        k->algs = type_algs;
    }

    switch (k->kty) {
    case NGSP_KTY_OCT:
        k->bits = (int) (k->secret_len * 8);
        break;
    case NGSP_KTY_OKP:
        /* Ed25519's 32-byte key (OpenSSL counts the group's 253 bits) */
        k->bits = 256;
        break;
    default:
        k->bits = EVP_PKEY_get_bits(k->pkey);
    }

    if (ks->nkeys == ks->cap) {
        ks->cap = ks->cap ? ks->cap * 2 : 4;
        keys = realloc(ks->keys, ks->cap * sizeof(ngsp_jwt_key_t));
        if (keys == NULL) {
            ngsp_err(err, errlen, "%s: out of memory", what);
            goto failed;
        }
        ks->keys = keys;
    }

    /* the digest chains every key's material, pins and kid */
    sha = EVP_MD_CTX_new();
    if (sha == NULL || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(sha);
        ngsp_err(err, errlen, "%s: out of memory", what);
        goto failed;
    }

    EVP_DigestUpdate(sha, ks->digest, sizeof(ks->digest));
    EVP_DigestUpdate(sha, &k->kty, sizeof(k->kty));
    EVP_DigestUpdate(sha, &k->algs, sizeof(k->algs));

    if (k->kid) {
        EVP_DigestUpdate(sha, k->kid, strlen(k->kid) + 1);
    }

    if (k->secret) {
        EVP_DigestUpdate(sha, k->secret, k->secret_len);

    } else {
        dlen = (size_t) i2d_PUBKEY(k->pkey, NULL);
        der = malloc(dlen);
        if (der == NULL) {
            EVP_MD_CTX_free(sha);
            ngsp_err(err, errlen, "%s: out of memory", what);
            goto failed;
        }
        p = der;
        i2d_PUBKEY(k->pkey, &p);
        EVP_DigestUpdate(sha, der, dlen);
        free(der);
    }

    EVP_DigestFinal_ex(sha, ks->digest, NULL);
    EVP_MD_CTX_free(sha);

    ks->keys[ks->nkeys++] = *k;
    memset(k, 0, sizeof(*k));
    return 0;

failed:

    ngsp_jwt_key_clear(k);
    return -1;
}


/* --- JWK ------------------------------------------------------------- */


/* a base64url member of a JWK; trailing '=' some producers add is dropped */
static unsigned char *
ngsp_jwk_bytes(json_t *jwk, const char *name, size_t *len)
{
    long            n;
    size_t          slen;
    json_t         *v;
    const char     *s;
    unsigned char  *buf;

    v = json_object_get(jwk, name);
    if (!json_is_string(v)) {
        return NULL;
    }

    s = json_string_value(v);
    slen = json_string_length(v);

    while (slen && s[slen - 1] == '=') {
        slen--;
    }

    if (slen == 0) {
        return NULL;
    }

    buf = malloc(ngsp_b64url_decoded_max(slen));
    if (buf == NULL) {
        return NULL;
    }

    n = ngsp_b64url_decode(buf, s, slen);
    if (n <= 0) {
        free(buf);
        return NULL;
    }

    *len = (size_t) n;
    return buf;
}


static EVP_PKEY *
ngsp_jwk_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY      *pkey;
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *ctx;

    pkey = NULL;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    if (params == NULL || ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}


static EVP_PKEY *
ngsp_jwk_rsa(json_t *jwk)
{
    size_t           nlen, elen;
    BIGNUM          *n, *e;
    EVP_PKEY        *pkey;
    unsigned char   *nb, *eb;
    OSSL_PARAM_BLD  *bld;

    pkey = NULL;
    n = e = NULL;
    bld = NULL;

    nb = ngsp_jwk_bytes(jwk, "n", &nlen);
    eb = ngsp_jwk_bytes(jwk, "e", &elen);
    if (nb == NULL || eb == NULL) {
        goto done;
    }

    n = BN_bin2bn(nb, (int) nlen, NULL);
    e = BN_bin2bn(eb, (int) elen, NULL);
    bld = OSSL_PARAM_BLD_new();

    if (n == NULL || e == NULL || bld == NULL
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
    {
        goto done;
    }

    pkey = ngsp_jwk_fromdata("RSA", bld);

done:

    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(nb);
    free(eb);
    return pkey;
}


static EVP_PKEY *
ngsp_jwk_ec(json_t *jwk, char *err, size_t errlen, const char *what)
{
    size_t           flen, xlen, ylen;
    EVP_PKEY        *pkey;
    const char      *crv, *group;
    unsigned char   *xb, *yb, *pt;
    EVP_PKEY_CTX    *ctx;
    OSSL_PARAM_BLD  *bld;

    crv = json_string_value(json_object_get(jwk, "crv"));
    if (crv == NULL) {
        ngsp_err(err, errlen, "%s: EC key without \"crv\"", what);
        return NULL;
    }

    if (strcmp(crv, "P-256") == 0) {
        group = "prime256v1"; flen = 32;
    } else if (strcmp(crv, "P-384") == 0) {
        group = "secp384r1"; flen = 48;
    } else if (strcmp(crv, "P-521") == 0) {
        group = "secp521r1"; flen = 66;
    } else {
        ngsp_err(err, errlen, "%s: unsupported EC curve \"%s\"", what, crv);
        return NULL;
    }

    pkey = NULL;
    pt = NULL;
    bld = NULL;

    xb = ngsp_jwk_bytes(jwk, "x", &xlen);
    yb = ngsp_jwk_bytes(jwk, "y", &ylen);
    if (xb == NULL || yb == NULL || xlen != flen || ylen != flen) {
        ngsp_err(err, errlen, "%s: EC key with bad \"x\" or \"y\"", what);
        goto done;
    }

    pt = malloc(1 + 2 * flen);
    if (pt == NULL) {
        goto done;
    }

    pt[0] = 0x04;
    memcpy(pt + 1, xb, flen);
    memcpy(pt + 1 + flen, yb, flen);

    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL
        || OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, 0) != 1
        || OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                            pt, 1 + 2 * flen) != 1)
    {
        goto done;
    }

    pkey = ngsp_jwk_fromdata("EC", bld);

    if (pkey) {
        /* a point off the curve must not load */
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (ctx == NULL || EVP_PKEY_public_check(ctx) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(ctx);
    }

    if (pkey == NULL) {
        ngsp_err(err, errlen, "%s: EC key is not a valid %s point", what,
                 crv);
    }

done:

    OSSL_PARAM_BLD_free(bld);
    free(pt);
    free(xb);
    free(yb);
    return pkey;
}


/*
 * The first private key member of a JWK (RFC 7518 §6.2.2, §6.3.2), or NULL.
 * An oct key's "k" is the shared secret that HS* verification needs, so it
 * is not one.
 */
static const char *
ngsp_jwk_private_member(json_t *jwk)
{
    size_t              i;
    static const char  *members[] = { "d", "p", "q", "dp", "dq", "qi",
                                      "oth" };

    for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        if (json_object_get(jwk, members[i])) {
            return members[i];
        }
    }

    return NULL;
}


static int
ngsp_jwk_add(ngsp_jwt_keyset_t *ks, json_t *jwk, unsigned pin,
    const char *kid, const char *what, char *err, size_t errlen)
{
    size_t           xlen;
    json_t          *v;
    const char      *kty, *s;
    unsigned char   *x;
    ngsp_jwt_key_t   k;
    ngsp_jwt_alg_t   alg;

    memset(&k, 0, sizeof(k));

    if (!json_is_object(jwk)) {
        ngsp_err(err, errlen, "%s: a JWK is not a JSON object", what);
        return -1;
    }

    /* signing material has no business on the gateway, whatever its use */
    s = ngsp_jwk_private_member(jwk);
    if (s) {
        v = json_object_get(jwk, "kid");
        if (json_is_string(v)) {
            kid = json_string_value(v);
        }

        if (kid) {
            ngsp_err(err, errlen, "%s, kid \"%.64s\": holds a private key "
                     "(member \"%s\"): give the public key only", what, kid,
                     s);
        } else {
            ngsp_err(err, errlen, "%s, no kid: holds a private key (member "
                     "\"%s\"): give the public key only", what, s);
        }

        return -1;
    }

    /* a key meant for encryption is not ours to verify with */
    s = json_string_value(json_object_get(jwk, "use"));
    if (s && strcmp(s, "sig") != 0) {
        return 0;
    }

    v = json_object_get(jwk, "alg");
    if (v) {
        if (!json_is_string(v)) {
            ngsp_err(err, errlen, "%s: JWK \"alg\" is not a string", what);
            return -1;
        }

        alg = ngsp_jwt_alg_parse(json_string_value(v), json_string_length(v));
        if (alg == NGSP_ALG_NONE) {
            /* an algorithm we do not verify with (RSA-OAEP, ...) */
            return 0;
        }

        if (pin && !(pin & NGSP_ALG_BIT(alg))) {
            ngsp_err(err, errlen, "%s: JWK alg %s is not among the alg= "
                     "given", what, json_string_value(v));
            return -1;
        }

        pin = NGSP_ALG_BIT(alg);
    }

    v = json_object_get(jwk, "kid");
    if (v) {
        if (!json_is_string(v) || json_string_length(v) == 0) {
            ngsp_err(err, errlen, "%s: JWK \"kid\" is not a string", what);
            return -1;
        }
        kid = json_string_value(v);
    }

    if (kid) {
        k.kid = strdup(kid);
        if (k.kid == NULL) {
            return -1;
        }
    }

    kty = json_string_value(json_object_get(jwk, "kty"));
    if (kty == NULL) {
        ngsp_err(err, errlen, "%s: JWK without \"kty\"", what);
        goto failed;
    }

    if (strcmp(kty, "RSA") == 0) {
        k.kty = NGSP_KTY_RSA;
        k.pkey = ngsp_jwk_rsa(jwk);
        if (k.pkey == NULL) {
            ngsp_err(err, errlen, "%s: RSA JWK with bad \"n\" or \"e\"", what);
            goto failed;
        }

    } else if (strcmp(kty, "EC") == 0) {
        k.kty = NGSP_KTY_EC;
        k.pkey = ngsp_jwk_ec(jwk, err, errlen, what);
        if (k.pkey == NULL) {
            goto failed;
        }

    } else if (strcmp(kty, "OKP") == 0) {
        k.kty = NGSP_KTY_OKP;
        s = json_string_value(json_object_get(jwk, "crv"));
        if (s == NULL || strcmp(s, "Ed25519") != 0) {
            ngsp_err(err, errlen, "%s: unsupported OKP curve \"%s\"", what,
                     s ? s : "");
            goto failed;
        }

        x = ngsp_jwk_bytes(jwk, "x", &xlen);
        if (x == NULL || xlen != 32) {
            free(x);
            ngsp_err(err, errlen, "%s: Ed25519 JWK with bad \"x\"", what);
            goto failed;
        }

        k.pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
        free(x);
        if (k.pkey == NULL) {
            ngsp_err(err, errlen, "%s: bad Ed25519 key", what);
            goto failed;
        }

    } else if (strcmp(kty, "oct") == 0) {
        k.kty = NGSP_KTY_OCT;
        k.secret = ngsp_jwk_bytes(jwk, "k", &k.secret_len);
        if (k.secret == NULL) {
            ngsp_err(err, errlen, "%s: oct JWK with bad \"k\"", what);
            goto failed;
        }

    } else {
        ngsp_err(err, errlen, "%s: unsupported JWK kty \"%s\"", what, kty);
        goto failed;
    }

    if (ngsp_jwt_keyset_push(ks, &k, pin, what, err, errlen) != 0) {
        return -1;
    }

    return 1;

failed:

    ngsp_jwt_key_clear(&k);
    return -1;
}


static int
ngsp_jwt_keyset_add_json(ngsp_jwt_keyset_t *ks, const unsigned char *data,
    size_t len, unsigned pin, const char *kid, char *err, size_t errlen)
{
    int            rc, n;
    size_t         i, nkeys;
    json_t        *root, *keys;
    json_error_t   jerr;
    unsigned char  digest[32];

    root = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (root == NULL) {
        ngsp_err(err, errlen, "not valid JSON: %s (line %d)", jerr.text,
                 jerr.line);
        return -1;
    }

    keys = json_object_get(root, "keys");
    n = 0;

    /* a file loads whole or not at all */
    nkeys = ks->nkeys;
    memcpy(digest, ks->digest, sizeof(digest));

    if (json_is_array(keys)) {
        if (kid) {
            ngsp_err(err, errlen, "kid= applies to a PEM key or a secret, "
                     "not to a JWKS");
            json_decref(root);
            return -1;
        }

        for (i = 0; i < json_array_size(keys); i++) {
            char  what[32];

            snprintf(what, sizeof(what), "key #%zu", i + 1);
            rc = ngsp_jwk_add(ks, json_array_get(keys, i), pin, NULL, what,
                              err, errlen);
            if (rc < 0) {
                while (ks->nkeys > nkeys) {
                    ngsp_jwt_key_clear(&ks->keys[--ks->nkeys]);
                }

                memcpy(ks->digest, digest, sizeof(digest));
                json_decref(root);
                return -1;
            }
            n += rc;
        }

    } else if (json_object_get(root, "kty")) {
        rc = ngsp_jwk_add(ks, root, pin, kid, "JWK", err, errlen);
        if (rc < 0) {
            json_decref(root);
            return -1;
        }
        n = rc;

    } else {
        ngsp_err(err, errlen, "JSON is neither a JWKS (\"keys\") nor a JWK "
                 "(\"kty\")");
        json_decref(root);
        return -1;
    }

    json_decref(root);

    if (n == 0) {
        ngsp_err(err, errlen, "no signature verification key in it");
        return -1;
    }

    return n;
}


/* --- PEM and secrets ------------------------------------------------- */


/* notAfter in unix seconds, or 0 when OpenSSL cannot read it */
static int64_t
ngsp_jwt_x509_not_after(const X509 *x509)
{
    struct tm         tm;
    const ASN1_TIME  *t;

    t = X509_get0_notAfter(x509);

    memset(&tm, 0, sizeof(tm));

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }

    return (int64_t) timegm(&tm);
}


static int
ngsp_jwt_keyset_add_pem(ngsp_jwt_keyset_t *ks, const unsigned char *data,
    size_t len, unsigned pin, const char *kid, char *err, size_t errlen)
{
    int              id;
    BIO             *bio;
    X509            *x509;
    ngsp_jwt_key_t   k;

    memset(&k, 0, sizeof(k));

    if (memmem(data, len, "PRIVATE KEY-----", 16)) {
        ngsp_err(err, errlen, "holds a private key: give the public key "
                 "or certificate only");
        return -1;
    }

    bio = BIO_new_mem_buf(data, (int) len);
    if (bio == NULL) {
        return -1;
    }

    k.pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

    if (k.pkey == NULL) {
        (void) BIO_reset(bio);
        x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (x509) {
            k.pkey = X509_get_pubkey(x509);
            k.not_after = ngsp_jwt_x509_not_after(x509);
            X509_free(x509);
        }
    }

    BIO_free(bio);

    if (k.pkey == NULL) {
        ngsp_err(err, errlen, "no PEM public key or certificate in it");
        return -1;
    }

    id = EVP_PKEY_get_base_id(k.pkey);

    switch (id) {
    case EVP_PKEY_RSA:
        k.kty = NGSP_KTY_RSA;
        break;
    case EVP_PKEY_EC:
        k.kty = NGSP_KTY_EC;
        break;
    case EVP_PKEY_ED25519:
        k.kty = NGSP_KTY_OKP;
        break;
    default:
        EVP_PKEY_free(k.pkey);
        ngsp_err(err, errlen, "unsupported public key type (RSA, EC P-256/"
                 "P-384/P-521 and Ed25519 are)");
        return -1;
    }

    if (kid) {
        k.kid = strdup(kid);
    }

    if (ngsp_jwt_keyset_push(ks, &k, pin, "PEM key", err, errlen) != 0) {
        return -1;
    }

    return 1;
}


static int
ngsp_jwt_keyset_add_secret(ngsp_jwt_keyset_t *ks, const unsigned char *data,
    size_t len, unsigned pin, const char *kid, char *err, size_t errlen)
{
    ngsp_jwt_key_t  k;

    /* an editor's final newline is not part of the secret */
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r')) {
        len--;
    }

    if (len == 0) {
        ngsp_err(err, errlen, "the secret is empty");
        return -1;
    }

    memset(&k, 0, sizeof(k));
    k.kty = NGSP_KTY_OCT;
    k.secret = malloc(len);
    if (k.secret == NULL) {
        return -1;
    }

    memcpy(k.secret, data, len);
    k.secret_len = len;

    if (kid) {
        k.kid = strdup(kid);
    }

    if (ngsp_jwt_keyset_push(ks, &k, pin, "secret", err, errlen) != 0) {
        return -1;
    }

    return 1;
}


int
ngsp_jwt_keyset_add(ngsp_jwt_keyset_t *ks, const unsigned char *data,
    size_t len, unsigned algs, const char *kid, char *err, size_t errlen)
{
    int      hs_only;
    size_t   i;
    json_t  *probe;

    if (err && errlen) {
        err[0] = '\0';
    }

    hs_only = (algs != 0 && (algs & ~NGSP_ALGS_HS) == 0);

    for (i = 0; i < len && (data[i] == ' ' || data[i] == '\t'
                            || data[i] == '\r' || data[i] == '\n'); i++)
    {
        /* void */
    }

    if (i < len && data[i] == '{') {
        if (!hs_only) {
            return ngsp_jwt_keyset_add_json(ks, data, len, algs, kid, err,
                                            errlen);
        }

        /* with alg=HS*, a file that is not JSON is taken as a secret */
        probe = json_loadb((const char *) data, len, 0, NULL);
        if (probe != NULL) {
            json_decref(probe);
            return ngsp_jwt_keyset_add_json(ks, data, len, algs, kid, err,
                                            errlen);
        }
    }

    if (memmem(data, len, "-----BEGIN ", 11)) {
        if (hs_only) {
            ngsp_err(err, errlen, "a PEM key cannot be an HMAC secret");
            return -1;
        }
        return ngsp_jwt_keyset_add_pem(ks, data, len, algs, kid, err, errlen);
    }

    if (hs_only) {
        return ngsp_jwt_keyset_add_secret(ks, data, len, algs, kid, err,
                                          errlen);
    }

    ngsp_err(err, errlen, "neither a JWKS, a JWK, a PEM public key nor "
             "certificate (a raw HMAC secret needs alg=HS256, HS384 or "
             "HS512)");
    return -1;
}


/* adds data's keys, each naming source; whole or not at all */
static int
ngsp_jwt_keyset_add_sourced(ngsp_jwt_keyset_t *ks, const unsigned char *data,
    size_t len, unsigned algs, const char *kid, const char *source,
    char *err, size_t errlen)
{
    int            rc;
    size_t         i, first;
    unsigned char  digest[32];

    first = ks->nkeys;
    memcpy(digest, ks->digest, sizeof(digest));

    rc = ngsp_jwt_keyset_add(ks, data, len, algs, kid, err, errlen);

    for (i = first; rc > 0 && i < ks->nkeys; i++) {
        ks->keys[i].source = strdup(source);

        if (ks->keys[i].source == NULL) {
            while (ks->nkeys > first) {
                ngsp_jwt_key_clear(&ks->keys[--ks->nkeys]);
            }

            memcpy(ks->digest, digest, sizeof(digest));
            ngsp_err(err, errlen, "out of memory");
            rc = -1;
        }
    }

    return rc;
}


int
ngsp_jwt_keyset_add_file(ngsp_jwt_keyset_t *ks, const char *path,
    unsigned algs, const char *kid, char *err, size_t errlen)
{
    int             rc;
    long            n;
    FILE           *f;
    unsigned char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        ngsp_err(err, errlen, "%s", strerror(errno));
        return -1;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
        ngsp_err(err, errlen, "cannot read: %s", strerror(errno));
        fclose(f);
        return -1;
    }

    if (n == 0 || n > NGSP_JWT_MAX_KEY_FILE) {
        ngsp_err(err, errlen, n ? "larger than 1 MB" : "empty file");
        fclose(f);
        return -1;
    }

    rewind(f);

    buf = malloc((size_t) n);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        ngsp_err(err, errlen, "cannot read: %s", strerror(errno));
        free(buf);
        fclose(f);
        return -1;
    }

    fclose(f);

    rc = ngsp_jwt_keyset_add_sourced(ks, buf, (size_t) n, algs, kid, path,
                                     err, errlen);

    OPENSSL_cleanse(buf, (size_t) n);
    free(buf);

    return rc;
}


int
ngsp_jwt_keyset_add_jwks(ngsp_jwt_keyset_t *ks, const unsigned char *data,
    size_t len, const char *source, char *err, size_t errlen)
{
    size_t  i;

    if (err && errlen) {
        err[0] = '\0';
    }

    for (i = 0; i < len && (data[i] == ' ' || data[i] == '\t'
                            || data[i] == '\r' || data[i] == '\n'); i++)
    {
        /* void */
    }

    /* only JSON: a fetched PEM or secret would be taken on no one's word */
    if (i == len || data[i] != '{') {
        ngsp_err(err, errlen, "not a JWKS (no JSON object)");
        return -1;
    }

    return ngsp_jwt_keyset_add_sourced(ks, data, len, 0, NULL, source, err,
                                       errlen);
}


int
ngsp_jwt_keyset_copy(ngsp_jwt_keyset_t *dst, const ngsp_jwt_keyset_t *src,
    char *err, size_t errlen)
{
    size_t                 i;
    ngsp_jwt_key_t         k;
    const ngsp_jwt_key_t  *s;

    for (i = 0; i < src->nkeys; i++) {
        s = &src->keys[i];

        memset(&k, 0, sizeof(k));
        k.kty = s->kty;
        k.not_after = s->not_after;

        if (s->pkey) {
            if (EVP_PKEY_up_ref(s->pkey) != 1) {
                goto failed;
            }
            k.pkey = s->pkey;
        }

        if (s->secret) {
            k.secret = malloc(s->secret_len);
            if (k.secret == NULL) {
                goto failed;
            }
            memcpy(k.secret, s->secret, s->secret_len);
            k.secret_len = s->secret_len;
        }

        if ((s->kid && (k.kid = strdup(s->kid)) == NULL)
            || (s->source && (k.source = strdup(s->source)) == NULL))
        {
            goto failed;
        }

        /* the key passed every check once; its algorithms stay pinned */
        if (ngsp_jwt_keyset_push(dst, &k, s->algs, "copy", err, errlen)
            != 0)
        {
            return -1;
        }
    }

    return 0;

failed:

    ngsp_jwt_key_clear(&k);
    ngsp_err(err, errlen, "out of memory");
    return -1;
}
