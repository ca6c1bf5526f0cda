/* cmocka tests of the JWT engine: parsing, keys, verification, claims. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>

#include "ngsp_jwt.h"
#include "jwt_sign.h"


static EVP_PKEY  *rsa, *rsa_other, *ec256, *ec384, *ed;
static const unsigned char  secret[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#define CLAIMS  "{\"client_id\":\"so-tu-phap\",\"exp\":4102444000}"


static int
setup(void **state)
{
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    rsa_other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    ec256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    return (rsa && rsa_other && ec256 && ec384 && ed) ? 0 : -1;
}


static int
teardown(void **state)
{
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa_other);
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(ed);
    return 0;
}


static ngsp_jwt_keyset_t *
keyset_pem(EVP_PKEY *pkey, unsigned algs, const char *kid)
{
    char               *pem, err[256];
    size_t              len;
    ngsp_jwt_keyset_t  *ks;

    ks = ngsp_jwt_keyset_new();
    pem = pubkey_pem(pkey, &len);
    assert_int_equal(ngsp_jwt_keyset_add(ks, (unsigned char *) pem, len, algs,
                                         kid, err, sizeof(err)), 1);
    free(pem);
    return ks;
}


static ngsp_jwt_status_t
check(ngsp_jwt_keyset_t *ks, const char *token)
{
    ngsp_jwt_t         jwt;
    ngsp_jwt_status_t  st;

    st = ngsp_jwt_parse(&jwt, token, strlen(token));
    if (st == NGSP_JWT_OK) {
        st = ngsp_jwt_verify(ks, &jwt, token);
    }

    ngsp_jwt_free(&jwt);
    return st;
}


/* --- base64url --------------------------------------------------------- */

static void
test_b64url_strict(void **state)
{
    unsigned char  out[16];

    assert_int_equal(ngsp_b64url_decode(out, "YWJj", 4), 3);
    assert_memory_equal(out, "abc", 3);
    assert_int_equal(ngsp_b64url_decode(out, "YWI", 3), 2);
    assert_int_equal(ngsp_b64url_decode(out, "-_8", 3), 2);

    /* padding, standard alphabet, whitespace, 4n+1, trailing bits */
    assert_int_equal(ngsp_b64url_decode(out, "YWI=", 4), -1);
    assert_int_equal(ngsp_b64url_decode(out, "+/8", 3), -1);
    assert_int_equal(ngsp_b64url_decode(out, "YW I", 4), -1);
    assert_int_equal(ngsp_b64url_decode(out, "YWJjZ", 5), -1);
    assert_int_equal(ngsp_b64url_decode(out, "YWJ", 3), -1);
}


/* --- algorithms that verify ------------------------------------------- */

static void
test_all_algorithms_verify(void **state)
{
    struct { const char *alg; EVP_PKEY **key; } cases[] = {
        { "RS256", &rsa }, { "RS384", &rsa }, { "RS512", &rsa },
        { "PS256", &rsa }, { "PS384", &rsa }, { "PS512", &rsa },
        { "ES256", &ec256 }, { "ES384", &ec384 }, { "EdDSA", &ed },
    };
    char                header[64], *tok;
    size_t              i, len;
    ngsp_jwt_keyset_t  *ks;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ks = keyset_pem(*cases[i].key, 0, NULL);
        snprintf(header, sizeof(header), "{\"alg\":\"%s\"}", cases[i].alg);
        tok = mint(cases[i].alg, *cases[i].key, NULL, 0, header, CLAIMS);
        assert_int_equal(check(ks, tok), NGSP_JWT_OK);

        /* one flipped bit in the signature fails */
        len = strlen(tok);
        tok[len - 3] = (tok[len - 3] == 'A') ? 'B' : 'A';
        assert_int_equal(check(ks, tok), NGSP_JWT_BAD_SIGNATURE);

        free(tok);
        ngsp_jwt_keyset_free(ks);
    }
}


static void
test_hmac(void **state)
{
    char                err[256], *tok;
    ngsp_jwt_keyset_t  *ks;

    ks = ngsp_jwt_keyset_new();
    assert_int_equal(ngsp_jwt_keyset_add(ks, secret, 64,
                     NGSP_ALG_BIT(NGSP_ALG_HS256) | NGSP_ALG_BIT(NGSP_ALG_HS512),
                     NULL, err, sizeof(err)), 1);

    tok = mint("HS256", NULL, secret, 64, "{\"alg\":\"HS256\"}", CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_OK);
    free(tok);

    tok = mint("HS512", NULL, secret, 64, "{\"alg\":\"HS512\"}", CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_OK);
    free(tok);

    /* HS384 is not among the pins */
    tok = mint("HS384", NULL, secret, 64, "{\"alg\":\"HS384\"}", CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_ALG_NOT_ALLOWED);
    free(tok);

    tok = mint("HS256", NULL, (unsigned char *) "another secret of 32 bytes!!!!!!",
               32, "{\"alg\":\"HS256\"}", CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_BAD_SIGNATURE);
    free(tok);

    ngsp_jwt_keyset_free(ks);
}


/* --- the attacks --------------------------------------------------------- */

static void
test_alg_none_any_case(void **state)
{
    const char         *algs[] = { "none", "NONE", "None", "nOnE" };
    char                header[64], *h, *p, tok[512];
    size_t              i;
    ngsp_jwt_keyset_t  *ks;

    ks = keyset_pem(rsa, 0, NULL);

    for (i = 0; i < 4; i++) {
        snprintf(header, sizeof(header), "{\"alg\":\"%s\"}", algs[i]);
        h = b64(header, strlen(header));
        p = b64(CLAIMS, strlen(CLAIMS));

        snprintf(tok, sizeof(tok), "%s.%s.", h, p);
        assert_int_equal(check(ks, tok), NGSP_JWT_ALG_NOT_ALLOWED);

        snprintf(tok, sizeof(tok), "%s.%s.c2ln", h, p);
        assert_int_equal(check(ks, tok), NGSP_JWT_ALG_NOT_ALLOWED);

        free(h);
        free(p);
    }

    ngsp_jwt_keyset_free(ks);
}


static void
test_alg_confusion(void **state)
{
    char               *pem, *tok;
    size_t              len;
    ngsp_jwt_keyset_t  *ks;

    /* an HS256 token whose secret is the RSA public key's PEM text */
    ks = keyset_pem(rsa, 0, NULL);
    pem = pubkey_pem(rsa, &len);
    tok = mint("HS256", NULL, (unsigned char *) pem, len,
               "{\"alg\":\"HS256\"}", CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_ALG_NOT_ALLOWED);
    free(tok);
    free(pem);

    /* an ES256 key cannot verify ES384, an RSA key pinned to RS256 no PS256 */
    ngsp_jwt_keyset_free(ks);
    ks = keyset_pem(ec256, 0, NULL);
    tok = mint("ES384", ec384, NULL, 0, "{\"alg\":\"ES384\"}", CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_ALG_NOT_ALLOWED);
    free(tok);
    ngsp_jwt_keyset_free(ks);

    ks = keyset_pem(rsa, NGSP_ALG_BIT(NGSP_ALG_RS256), NULL);
    tok = mint("PS256", rsa, NULL, 0, "{\"alg\":\"PS256\"}", CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_ALG_NOT_ALLOWED);
    free(tok);
    ngsp_jwt_keyset_free(ks);
}


static void
test_kid_never_falls_back(void **state)
{
    char                err[256], *pem, *tok;
    size_t              len;
    ngsp_jwt_keyset_t  *ks;

    ks = keyset_pem(rsa, 0, "a");
    pem = pubkey_pem(rsa_other, &len);
    assert_int_equal(ngsp_jwt_keyset_add(ks, (unsigned char *) pem, len, 0,
                                         "b", err, sizeof(err)), 1);
    free(pem);

    /* signed by key "a" but naming "b": no second try with "a" */
    tok = mint("RS256", rsa, NULL, 0, "{\"alg\":\"RS256\",\"kid\":\"b\"}",
               CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_BAD_SIGNATURE);
    free(tok);

    tok = mint("RS256", rsa, NULL, 0, "{\"alg\":\"RS256\",\"kid\":\"zz\"}",
               CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_UNKNOWN_KEY);
    free(tok);

    /* no kid: every fitting key is tried */
    tok = mint("RS256", rsa_other, NULL, 0, "{\"alg\":\"RS256\"}", CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_OK);
    free(tok);

    tok = mint("RS256", rsa, NULL, 0, "{\"alg\":\"RS256\",\"kid\":\"a\"}",
               CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_OK);
    free(tok);

    ngsp_jwt_keyset_free(ks);
}


static void
test_malformed(void **state)
{
    const char  *bad[] = {
        "", "abc", "a.b", "a.b.c.d", ".eyJ9.sig", "eyJhbGciOiJIUzI1NiJ9..sig",
        "eyJhbGciOiJIUzI1NiJ9.eyJ9.sig",            /* payload "{}" broken */
        "eyJhbGciOiJIUzI1NiJ9=.e30.c2ln",           /* padding */
        "WyJhbGciXQ.e30.c2ln",                      /* header ["alg"] */
        "ImFsZyI.e30.c2ln",                         /* header "alg" */
        "eyJhbGciOiJIUzI1NiJ9.WzFd.c2ln",           /* payload [1] */
        "eyJhbGciOiJIUzI1NiJ9.e30",                 /* truncated */
        "eyJhbGciOiJIUzI1NiJ9.e30.",                /* empty signature */
        "eyJhbGciOjF9.e30.c2ln",                    /* alg: 1 */
        "eyJhbGciOiJIUzI1NiIsImtpZCI6MX0.e30.c2ln", /* kid: 1 */
    };
    size_t               i;
    ngsp_jwt_t           jwt;
    ngsp_jwt_status_t    st;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        st = ngsp_jwt_parse(&jwt, bad[i], strlen(bad[i]));
        ngsp_jwt_free(&jwt);
        if (i == 0) {
            assert_int_equal(st, NGSP_JWT_MISSING);
        } else {
            assert_int_not_equal(st, NGSP_JWT_OK);
        }
    }
}


static void
test_duplicate_members(void **state)
{
    char                *tok;
    ngsp_jwt_keyset_t   *ks;

    ks = keyset_pem(rsa, 0, NULL);

    tok = mint("RS256", rsa, NULL, 0,
               "{\"alg\":\"RS256\",\"alg\":\"none\"}", CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_MALFORMED);
    free(tok);

    tok = mint("RS256", rsa, NULL, 0, "{\"alg\":\"RS256\"}",
               "{\"exp\":1,\"exp\":4102444000}");
    assert_int_equal(check(ks, tok), NGSP_JWT_MALFORMED);
    free(tok);

    ngsp_jwt_keyset_free(ks);
}


static void
test_crit_and_typ(void **state)
{
    char                *tok;
    ngsp_jwt_keyset_t   *ks;

    ks = keyset_pem(rsa, 0, NULL);

    tok = mint("RS256", rsa, NULL, 0,
               "{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1}", CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_UNSUPPORTED_CRIT);
    free(tok);

    tok = mint("RS256", rsa, NULL, 0,
               "{\"alg\":\"RS256\",\"b64\":false,\"crit\":[\"b64\"]}", CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_UNSUPPORTED_CRIT);
    free(tok);

    /* RFC 9068 access tokens */
    tok = mint("RS256", rsa, NULL, 0,
               "{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_OK);
    free(tok);

    ngsp_jwt_keyset_free(ks);
}


static ngsp_jwt_status_t
claims_status(const char *payload, const ngsp_jwt_checks_t *c, time_t now)
{
    char               *tok;
    ngsp_jwt_t          jwt;
    ngsp_jwt_status_t   st;

    tok = mint("HS256", NULL, secret, 64, "{\"alg\":\"HS256\"}", payload);
    st = ngsp_jwt_parse(&jwt, tok, strlen(tok));
    if (st == NGSP_JWT_OK) {
        st = ngsp_jwt_check_claims(&jwt, c, now);
    }
    ngsp_jwt_free(&jwt);
    free(tok);
    return st;
}


static void
test_time_claims(void **state)
{
    ngsp_jwt_checks_t  c = { NULL, NULL, 0 };

    assert_int_equal(claims_status("{\"exp\":1000}", &c, 999), NGSP_JWT_OK);
    assert_int_equal(claims_status("{\"exp\":1000}", &c, 1000),
                     NGSP_JWT_EXPIRED);
    c.leeway = 30;
    assert_int_equal(claims_status("{\"exp\":1000}", &c, 1029), NGSP_JWT_OK);
    assert_int_equal(claims_status("{\"exp\":1000}", &c, 1030),
                     NGSP_JWT_EXPIRED);
    assert_int_equal(claims_status("{\"nbf\":1000}", &c, 970), NGSP_JWT_OK);
    assert_int_equal(claims_status("{\"nbf\":1000}", &c, 969),
                     NGSP_JWT_NOT_YET_VALID);

    assert_int_equal(claims_status("{\"exp\":\"4102444000\"}", &c, 1),
                     NGSP_JWT_BAD_CLAIM);
    assert_int_equal(claims_status("{\"nbf\":null}", &c, 1),
                     NGSP_JWT_BAD_CLAIM);
    assert_int_equal(claims_status("{\"iat\":[1]}", &c, 1),
                     NGSP_JWT_BAD_CLAIM);
}


static void
test_iss_aud(void **state)
{
    const char         *iss[] = { "https://lgsp.example.gov.vn", NULL };
    const char         *aud[] = { "resident-api", NULL };
    ngsp_jwt_checks_t   c = { iss, aud, 0 };

    assert_int_equal(claims_status("{\"iss\":\"https://lgsp.example.gov.vn\","
                     "\"aud\":\"resident-api\"}", &c, 1), NGSP_JWT_OK);
    assert_int_equal(claims_status("{\"iss\":\"https://lgsp.example.gov.vn\","
                     "\"aud\":[\"x\",\"resident-api\"]}", &c, 1), NGSP_JWT_OK);
    assert_int_equal(claims_status("{\"iss\":\"https://evil\","
                     "\"aud\":\"resident-api\"}", &c, 1), NGSP_JWT_BAD_ISSUER);
    assert_int_equal(claims_status("{\"aud\":\"resident-api\"}", &c, 1),
                     NGSP_JWT_BAD_ISSUER);
    assert_int_equal(claims_status("{\"iss\":\"https://lgsp.example.gov.vn\","
                     "\"aud\":[\"x\"]}", &c, 1), NGSP_JWT_BAD_AUDIENCE);
    assert_int_equal(claims_status("{\"iss\":\"https://lgsp.example.gov.vn\"}",
                     &c, 1), NGSP_JWT_BAD_AUDIENCE);
}


static int
posix_match(void *re, const char *s, size_t len)
{
    (void) len;
    return regexec(re, s, 0, NULL, 0) == 0;
}


static void
test_require(void **state)
{
    json_t          *claims;
    regex_t          re;
    void            *res[1] = { &re };
    const char      *v_read[] = { "dancu.read", NULL };
    const char      *v_admin[] = { "admin", NULL };
    const char      *v_in[] = { "a", "so-tu-phap", NULL };
    const char      *v_none[] = { NULL };
    const char      *v_re[] = { "^so-", NULL };
    ngsp_jwt_req_t   r;

    claims = json_loads("{\"scope\":\"openid dancu.readwrite dancu.read\","
                        "\"client_id\":\"so-tu-phap\",\"n\":5,"
                        "\"realm_access\":{\"roles\":[\"admin\",\"x\"]}}",
                        0, NULL);
    regcomp(&re, "^so-", REG_EXTENDED | REG_NOSUB);

    r = (ngsp_jwt_req_t) { "scope", NGSP_REQ_CONTAINS, v_read, NULL };
    assert_true(ngsp_jwt_req_eval(&r, claims, posix_match));
    r = (ngsp_jwt_req_t) { "scope", NGSP_REQ_CONTAINS, v_admin, NULL };
    assert_false(ngsp_jwt_req_eval(&r, claims, posix_match));
    r = (ngsp_jwt_req_t) { "realm_access.roles", NGSP_REQ_CONTAINS, v_admin,
                           NULL };
    assert_true(ngsp_jwt_req_eval(&r, claims, posix_match));
    r = (ngsp_jwt_req_t) { "client_id", NGSP_REQ_IN, v_in, NULL };
    assert_true(ngsp_jwt_req_eval(&r, claims, posix_match));
    r = (ngsp_jwt_req_t) { "client_id", NGSP_REQ_EQ, v_admin, NULL };
    assert_false(ngsp_jwt_req_eval(&r, claims, posix_match));
    r = (ngsp_jwt_req_t) { "client_id", NGSP_REQ_NE, v_admin, NULL };
    assert_true(ngsp_jwt_req_eval(&r, claims, posix_match));
    r = (ngsp_jwt_req_t) { "missing", NGSP_REQ_NE, v_admin, NULL };
    assert_false(ngsp_jwt_req_eval(&r, claims, posix_match));
    r = (ngsp_jwt_req_t) { "n", NGSP_REQ_EXISTS, v_none, NULL };
    assert_true(ngsp_jwt_req_eval(&r, claims, posix_match));
    r = (ngsp_jwt_req_t) { "realm_access.nope", NGSP_REQ_EXISTS, v_none,
                           NULL };
    assert_false(ngsp_jwt_req_eval(&r, claims, posix_match));
    r = (ngsp_jwt_req_t) { "client_id", NGSP_REQ_MATCH, v_re, res };
    assert_true(ngsp_jwt_req_eval(&r, claims, posix_match));
    r = (ngsp_jwt_req_t) { "scope", NGSP_REQ_MATCH, v_re, res };
    assert_false(ngsp_jwt_req_eval(&r, claims, posix_match));

    regfree(&re);
    json_decref(claims);
}


/* --- key files ---------------------------------------------------------- */

static int
add(ngsp_jwt_keyset_t *ks, const char *data, unsigned algs, const char *kid,
    char *err)
{
    return ngsp_jwt_keyset_add(ks, (const unsigned char *) data, strlen(data),
                               algs, kid, err, 256);
}


static void
test_key_errors(void **state)
{
    char                err[256], *pem;
    size_t              len;
    BIO                *bio;
    long                n;
    ngsp_jwt_keyset_t  *ks;

    ks = ngsp_jwt_keyset_new();

    /* a short HMAC secret */
    assert_int_equal(add(ks, "short", NGSP_ALG_BIT(NGSP_ALG_HS256), NULL, err),
                     -1);
    assert_non_null(strstr(err, "too short"));

    /* a raw secret without alg= */
    assert_int_equal(add(ks, (char *) secret, 0, NULL, err), -1);
    assert_non_null(strstr(err, "alg=HS256"));

    /* a private key */
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, rsa, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(bio, &pem);
    assert_int_equal(ngsp_jwt_keyset_add(ks, (unsigned char *) pem, (size_t) n,
                                         0, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "private key"));
    BIO_free(bio);

    /* pins that do not fit the key */
    pem = pubkey_pem(rsa, &len);
    assert_int_equal(add(ks, pem, NGSP_ALG_BIT(NGSP_ALG_ES256), NULL, err),
                     -1);
    assert_non_null(strstr(err, "does not fit"));
    assert_int_equal(add(ks, pem, NGSP_ALG_BIT(NGSP_ALG_HS256), NULL, err),
                     -1);
    free(pem);

    assert_int_equal(add(ks, "{\"keys\":[]}", 0, NULL, err), -1);
    assert_int_equal(add(ks, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\","
                     "\"e\":\"AQAB\"}]}", 0, NULL, err), -1);
    assert_int_equal(add(ks, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\","
                     "\"y\":\"AAAA\"}", 0, NULL, err), -1);
    assert_int_equal(add(ks, "not a key", 0, NULL, err), -1);
    assert_int_equal(add(ks, "{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}", 0, NULL,
                     err), -1);

    assert_int_equal(ngsp_jwt_keyset_count(ks), 0);
    ngsp_jwt_keyset_free(ks);
}


static void
test_jwks(void **state)
{
    char                jwks[2048], err[256], *n, *e, *tok;
    BIGNUM             *bn_n = NULL, *bn_e = NULL;
    unsigned char       buf[512];
    int                 nl, el;
    ngsp_jwt_keyset_t  *ks;
    unsigned char       d1[32];

    EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &bn_n);
    EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_E, &bn_e);
    nl = BN_bn2bin(bn_n, buf);
    n = b64(buf, (size_t) nl);
    el = BN_bn2bin(bn_e, buf);
    e = b64(buf, (size_t) el);

    snprintf(jwks, sizeof(jwks),
             "{\"keys\":["
             "{\"kty\":\"RSA\",\"use\":\"enc\",\"kid\":\"enc\",\"n\":\"%s\","
             "\"e\":\"%s\"},"
             "{\"kty\":\"RSA\",\"kid\":\"k1\",\"alg\":\"RS256\",\"n\":\"%s\","
             "\"e\":\"%s\"},"
             "{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"%s\"}]}",
             n, e, n, e, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY");

    ks = ngsp_jwt_keyset_new();
    assert_int_equal(add(ks, jwks, 0, NULL, err), 2);
    memcpy(d1, ngsp_jwt_keyset_digest(ks), 32);

    tok = mint("RS256", rsa, NULL, 0, "{\"alg\":\"RS256\",\"kid\":\"k1\"}",
               CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_OK);
    free(tok);

    /* the JWK's alg pins it: PS256 with the same key is refused */
    tok = mint("PS256", rsa, NULL, 0, "{\"alg\":\"PS256\",\"kid\":\"k1\"}",
               CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_ALG_NOT_ALLOWED);
    free(tok);

    /* the encryption key is not loaded */
    tok = mint("RS256", rsa, NULL, 0, "{\"alg\":\"RS256\",\"kid\":\"enc\"}",
               CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_UNKNOWN_KEY);
    free(tok);

    tok = mint("HS256", NULL, (unsigned char *) "0123456789abcdef0123456789abcdef",
               32, "{\"alg\":\"HS256\",\"kid\":\"h\"}", CLAIMS);
    assert_int_equal(check(ks, tok), NGSP_JWT_OK);
    free(tok);

    /* another key set has another digest */
    ngsp_jwt_keyset_free(ks);
    ks = keyset_pem(rsa, 0, NULL);
    assert_memory_not_equal(d1, ngsp_jwt_keyset_digest(ks), 32);

    ngsp_jwt_keyset_free(ks);
    BN_free(bn_n);
    BN_free(bn_e);
    free(n);
    free(e);
}


/* the public members of the test RSA key, base64url */
static void
rsa_ne(char **n, char **e)
{
    int             len;
    BIGNUM         *bn = NULL;
    unsigned char   buf[512];

    EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &bn);
    len = BN_bn2bin(bn, buf);
    *n = b64(buf, (size_t) len);
    BN_free(bn);
    bn = NULL;

    EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_E, &bn);
    len = BN_bn2bin(bn, buf);
    *e = b64(buf, (size_t) len);
    BN_free(bn);
}


/* private key members refuse the file, naming the key and its kid */
static void
test_private_jwk(void **state)
{
    char                jwk[2048], err[256], *n, *e;
    size_t              i;
    ngsp_jwt_keyset_t  *ks;
    static const char  *members[] = { "d", "p", "q", "dp", "dq", "qi",
                                      "oth" };

    rsa_ne(&n, &e);
    ks = ngsp_jwt_keyset_new();

    for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        snprintf(jwk, sizeof(jwk), "{\"kty\":\"RSA\",\"kid\":\"r1\","
                 "\"n\":\"%s\",\"e\":\"%s\",\"%s\":\"AQAB\"}", n, e,
                 members[i]);
        assert_int_equal(add(ks, jwk, 0, NULL, err), -1);
        assert_non_null(strstr(err, "kid \"r1\""));
        assert_non_null(strstr(err, "private key"));
        assert_non_null(strstr(err, members[i]));
    }

    /* an EC or OKP private key ("d"), even one meant for encryption */
    assert_int_equal(add(ks, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e1\","
                     "\"x\":\"AAAA\",\"y\":\"AAAA\",\"d\":\"AAAA\"}", 0, NULL,
                     err), -1);
    assert_non_null(strstr(err, "JWK, kid \"e1\": holds a private key"));
    assert_int_equal(add(ks, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                     "\"use\":\"enc\",\"x\":\"AAAA\",\"d\":\"AAAA\"}", 0, NULL,
                     err), -1);
    assert_non_null(strstr(err, "JWK, no kid: holds a private key"));

    /* a JWK without a kid of its own is named by the directive's kid= */
    assert_int_equal(add(ks, "{\"kty\":\"EC\",\"crv\":\"P-256\","
                     "\"x\":\"AAAA\",\"y\":\"AAAA\",\"d\":\"AAAA\"}", 0,
                     "given", err), -1);
    assert_non_null(strstr(err, "kid \"given\""));

    /* one private key among public ones refuses the whole set */
    snprintf(jwk, sizeof(jwk), "{\"keys\":["
             "{\"kty\":\"RSA\",\"kid\":\"pub\",\"n\":\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"RSA\",\"kid\":\"priv\",\"n\":\"%s\",\"e\":\"%s\","
             "\"d\":\"AQAB\",\"p\":\"AQAB\"}]}", n, e, n, e);
    assert_int_equal(add(ks, jwk, 0, NULL, err), -1);
    assert_non_null(strstr(err, "key #2, kid \"priv\": holds a private key"));
    assert_int_equal(ngsp_jwt_keyset_count(ks), 0);

    /* an oct key's "k" is the shared secret itself: accepted */
    assert_int_equal(add(ks, "{\"kty\":\"oct\",\"kid\":\"h\",\"k\":"
                     "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}", 0,
                     NULL, err), 1);

    /* the public part of the same RSA key loads */
    snprintf(jwk, sizeof(jwk), "{\"kty\":\"RSA\",\"kid\":\"r1\","
             "\"n\":\"%s\",\"e\":\"%s\"}", n, e);
    assert_int_equal(add(ks, jwk, 0, NULL, err), 1);
    assert_int_equal(ngsp_jwt_keyset_count(ks), 2);

    ngsp_jwt_keyset_free(ks);
    free(n);
    free(e);
}


static void
test_claim_text(void **state)
{
    char    *t;
    size_t   len;
    json_t  *c;

    c = json_loads("{\"s\":\"x\",\"n\":12,\"b\":true,\"a\":[\"p\",\"q\",3],"
                   "\"o\":{\"k\":1},\"d.e\":\"dotted\"}", 0, NULL);

    t = ngsp_jwt_claim_text(ngsp_jwt_claim(c, "s", 1), &len);
    assert_string_equal(t, "x"); free(t);
    t = ngsp_jwt_claim_text(ngsp_jwt_claim(c, "n", 1), &len);
    assert_string_equal(t, "12"); free(t);
    t = ngsp_jwt_claim_text(ngsp_jwt_claim(c, "b", 1), &len);
    assert_string_equal(t, "true"); free(t);
    t = ngsp_jwt_claim_text(ngsp_jwt_claim(c, "a", 1), &len);
    assert_string_equal(t, "p,q,3"); free(t);
    t = ngsp_jwt_claim_text(ngsp_jwt_claim(c, "o", 1), &len);
    assert_string_equal(t, "{\"k\":1}"); free(t);
    t = ngsp_jwt_claim_text(ngsp_jwt_claim(c, "o.k", 3), &len);
    assert_string_equal(t, "1"); free(t);
    t = ngsp_jwt_claim_text(ngsp_jwt_claim(c, "d.e", 3), &len);
    assert_string_equal(t, "dotted"); free(t);
    assert_null(ngsp_jwt_claim(c, "zz", 2));

    json_decref(c);
}


/* no claim text ever holds a control character: JSON escapes them */
static void
test_claim_text_controls(void **state)
{
    char    *t;
    size_t   len;
    json_t  *c;

    c = json_loads("{\"s\":\"a\\r\\nX-Role: admin\","
                   "\"all\":\"\\b\\f\\t\\u0001\\u001f\\u007f!\","
                   "\"a\":[\"p\\nq\",\"r\\u0002\",3],"
                   "\"o\":{\"k\":\"x\\ny\"},"
                   "\"keep\":\"Nguy\u1ec5n \\\\ \\\"q\\\"\"}", 0, NULL);
    assert_non_null(c);

    t = ngsp_jwt_claim_text(ngsp_jwt_claim(c, "s", 1), &len);
    assert_string_equal(t, "a\\r\\nX-Role: admin");
    assert_int_equal(len, strlen(t));
    free(t);

    t = ngsp_jwt_claim_text(ngsp_jwt_claim(c, "all", 3), &len);
    assert_string_equal(t, "\\b\\f\\t\\u0001\\u001f\\u007f!");
    assert_int_equal(len, strlen(t));
    free(t);

    t = ngsp_jwt_claim_text(ngsp_jwt_claim(c, "a", 1), &len);
    assert_string_equal(t, "p\\nq,r\\u0002,3");
    assert_int_equal(len, strlen(t));
    free(t);

    t = ngsp_jwt_claim_text(ngsp_jwt_claim(c, "o", 1), &len);
    assert_string_equal(t, "{\"k\":\"x\\ny\"}");
    free(t);

    /* printable text, UTF-8, backslashes and quotes stay as they are */
    t = ngsp_jwt_claim_text(ngsp_jwt_claim(c, "keep", 4), &len);
    assert_string_equal(t, "Nguy\u1ec5n \\ \"q\"");
    assert_int_equal(len, strlen(t));
    free(t);

    json_decref(c);
}


static void
test_agency(void **state)
{
    char               long_ok[NGSP_JWT_MAX_AGENCY + 2];
    size_t             len;
    json_t            *c;
    const char        *text;
    ngsp_jwt_status_t  st;

    c = json_loads("{\"ok\":\"so-tu-phap\","
                   "\"vi\":\"S\u1edf T\u01b0 ph\u00e1p\","
                   "\"empty\":\"\",\"null\":null,\"n\":12,\"b\":true,"
                   "\"arr\":[\"x\"],\"obj\":{},"
                   "\"crlf\":\"a\\r\\nX-Agency: b\",\"tab\":\"a\\tb\","
                   "\"del\":\"a\\u007f\",\"esc\":\"\\u001b[0m\"}", 0, NULL);
    assert_non_null(c);

    text = NULL;
    assert_int_equal(ngsp_jwt_agency(json_object_get(c, "ok"), &text, &len),
                     NGSP_JWT_OK);
    assert_int_equal(len, 10);
    assert_memory_equal(text, "so-tu-phap", 10);

    assert_int_equal(ngsp_jwt_agency(json_object_get(c, "vi"), &text, &len),
                     NGSP_JWT_OK);

    /* absent, null and empty: the next agency claim is tried */
    assert_int_equal(ngsp_jwt_agency(NULL, &text, &len), NGSP_JWT_NO_AGENCY);
    assert_int_equal(ngsp_jwt_agency(json_object_get(c, "empty"), &text,
                                     &len), NGSP_JWT_NO_AGENCY);
    assert_int_equal(ngsp_jwt_agency(json_object_get(c, "null"), &text,
                                     &len), NGSP_JWT_NO_AGENCY);

    /* present but unusable */
    assert_int_equal(ngsp_jwt_agency(json_object_get(c, "n"), &text, &len),
                     NGSP_JWT_BAD_AGENCY);
    assert_int_equal(ngsp_jwt_agency(json_object_get(c, "b"), &text, &len),
                     NGSP_JWT_BAD_AGENCY);
    assert_int_equal(ngsp_jwt_agency(json_object_get(c, "arr"), &text, &len),
                     NGSP_JWT_BAD_AGENCY);
    assert_int_equal(ngsp_jwt_agency(json_object_get(c, "obj"), &text, &len),
                     NGSP_JWT_BAD_AGENCY);
    assert_int_equal(ngsp_jwt_agency(json_object_get(c, "crlf"), &text,
                                     &len), NGSP_JWT_BAD_AGENCY);
    assert_int_equal(ngsp_jwt_agency(json_object_get(c, "tab"), &text, &len),
                     NGSP_JWT_BAD_AGENCY);
    assert_int_equal(ngsp_jwt_agency(json_object_get(c, "del"), &text, &len),
                     NGSP_JWT_BAD_AGENCY);
    assert_int_equal(ngsp_jwt_agency(json_object_get(c, "esc"), &text, &len),
                     NGSP_JWT_BAD_AGENCY);

    memset(long_ok, 'a', sizeof(long_ok) - 1);
    long_ok[NGSP_JWT_MAX_AGENCY] = '\0';
    json_object_set_new(c, "max", json_string(long_ok));
    assert_int_equal(ngsp_jwt_agency(json_object_get(c, "max"), &text, &len),
                     NGSP_JWT_OK);
    assert_int_equal(len, NGSP_JWT_MAX_AGENCY);

    long_ok[NGSP_JWT_MAX_AGENCY] = 'a';
    long_ok[NGSP_JWT_MAX_AGENCY + 1] = '\0';
    json_object_set_new(c, "long", json_string(long_ok));
    st = ngsp_jwt_agency(json_object_get(c, "long"), &text, &len);
    assert_int_equal(st, NGSP_JWT_BAD_AGENCY);
    assert_string_equal(ngsp_jwt_status_name(st), "bad_agency");

    json_decref(c);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_strict),
        cmocka_unit_test(test_all_algorithms_verify),
        cmocka_unit_test(test_hmac),
        cmocka_unit_test(test_alg_none_any_case),
        cmocka_unit_test(test_alg_confusion),
        cmocka_unit_test(test_kid_never_falls_back),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_duplicate_members),
        cmocka_unit_test(test_crit_and_typ),
        cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_iss_aud),
        cmocka_unit_test(test_require),
        cmocka_unit_test(test_key_errors),
        cmocka_unit_test(test_jwks),
        cmocka_unit_test(test_private_jwk),
        cmocka_unit_test(test_claim_text),
        cmocka_unit_test(test_claim_text_controls),
        cmocka_unit_test(test_agency),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
