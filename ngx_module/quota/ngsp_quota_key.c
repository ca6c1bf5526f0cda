/*
 * Redis keys of an agency.  The agency comes from a token claim, so it is
 * untrusted: only a short run of plain characters is used as it is; any
 * other value is replaced by its SHA-256, so "{", "}", spaces, CR/LF or
 * 10 KB of bytes can neither break the Cluster hash tag nor collide with
 * another agency ("~" never occurs in a plain agency).
 */

#include <string.h>

#include <openssl/evp.h>

#include "ngsp_quota.h"


static int
ngsp_quota_plain(const unsigned char *s, size_t len)
{
    size_t  i;

    if (len > NGSP_QUOTA_SAFE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.'
              || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


size_t
ngsp_quota_tag(const unsigned char *agency, size_t len, char *out)
{
    size_t               i;
    unsigned int         n;
    unsigned char        md[EVP_MAX_MD_SIZE];
    static const char    hex[] = "0123456789abcdef";

    if (len == 0) {
        return 0;
    }

    if (ngsp_quota_plain(agency, len)) {
        memcpy(out, agency, len);
        out[len] = '\0';
        return len;
    }

    if (EVP_Digest(agency, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
        return 0;
    }

    out[0] = '~';

    for (i = 0; i < 32; i++) {
        out[1 + 2 * i] = hex[md[i] >> 4];
        out[2 + 2 * i] = hex[md[i] & 0xf];
    }

    out[65] = '\0';

    return 65;
}


static char *
ngsp_quota_cpy(char *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    return p + len;
}


size_t
ngsp_quota_limits_key(const char *tag, size_t tag_len, char *out)
{
    char  *p;

    p = ngsp_quota_cpy(out, "ngsp:{", 6);
    p = ngsp_quota_cpy(p, tag, tag_len);
    p = ngsp_quota_cpy(p, "}:limits", 8);
    *p = '\0';

    return p - out;
}


size_t
ngsp_quota_state_key(const char *tag, size_t tag_len, const char *policy,
    char *out)
{
    char    *p;
    size_t   plen;

    plen = strlen(policy);
    if (plen > NGSP_QUOTA_NAME_MAX) {
        return 0;
    }

    p = ngsp_quota_cpy(out, "ngsp:{", 6);
    p = ngsp_quota_cpy(p, tag, tag_len);
    p = ngsp_quota_cpy(p, "}:q:", 4);
    p = ngsp_quota_cpy(p, policy, plen);
    *p = '\0';

    return p - out;
}


/*
 * CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), the checksum Redis
 * Cluster takes of a key's hash tag, bit by bit: it runs once per
 * decision at most, on a key of a few dozen bytes.
 */
static unsigned
ngsp_quota_crc16(const unsigned char *p, size_t len)
{
    int       k;
    size_t    i;
    unsigned  crc;

    crc = 0;

    for (i = 0; i < len; i++) {
        crc ^= (unsigned) p[i] << 8;

        for (k = 0; k < 8; k++) {
            crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
        }

        crc &= 0xffff;
    }

    return crc;
}


unsigned
ngsp_quota_slot(const char *key, size_t len)
{
    size_t  s, e;

    /* the first "{" and the first "}" after it, if something is between */
    for (s = 0; s < len && key[s] != '{'; s++) { /* void */ }

    if (s < len) {
        for (e = s + 1; e < len && key[e] != '}'; e++) { /* void */ }

        if (e < len && e > s + 1) {
            return ngsp_quota_crc16((const unsigned char *) key + s + 1,
                                    e - s - 1) & 16383;
        }
    }

    return ngsp_quota_crc16((const unsigned char *) key, len) & 16383;
}
