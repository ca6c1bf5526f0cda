/*
 * ngsp masking: what a response's Content-Type says.  The header filter
 * masks, passes on purpose or refuses a body by it, so a value the
 * masker could misread (a list, a quoted type, a stray character, a
 * charset it does not decode) is refused rather than guessed at.
 */

#ifndef NGSP_MASK_TYPE_H
#define NGSP_MASK_TYPE_H

#include <stddef.h>


typedef enum {
    NGSP_MASK_MEDIA_OTHER = 0,
    NGSP_MASK_MEDIA_JSON,       /* application/json, text/json, any +json */
    NGSP_MASK_MEDIA_XML,        /* text/xml, application/xml, any +xml */
    NGSP_MASK_MEDIA_SEQ         /* a stream of JSON texts: NDJSON, JSON
                                 * Lines, json-seq */
} ngsp_mask_media_t;


typedef struct {
    const unsigned char  *type;         /* "type/subtype", as sent */
    size_t                type_len;
    const unsigned char  *charset;      /* the value, unquoted; NULL: none */
    size_t                charset_len;
    unsigned              charset_escaped:1;  /* a quoted-pair in it */
    unsigned              charset_hidden:1;   /* "charset" elsewhere */
} ngsp_mask_ctype_t;


/*
 * Parses a whole Content-Type value as one media type with parameters
 * (RFC 9110, 8.3.1): type "/" subtype *( OWS ";" OWS [ name "=" value ] ),
 * where type, subtype and name are tokens and value a token or a quoted
 * string.  Returns NULL and fills ct, or the reason it is not one (a
 * static string: no "/", a character a token cannot hold, a list, a
 * quoted type, an unbalanced quote, a parameter without a value, two
 * charset parameters).
 */
const char *ngsp_mask_ctype_parse(const unsigned char *p, size_t len,
    ngsp_mask_ctype_t *ct);

/*
 * 1 without a charset, or with utf-8 or us-ascii (any case), else 0; 0
 * too when "charset" is written anywhere else in the value ("charset*=",
 * inside a quoted parameter): a lenient client may read that one.
 */
int ngsp_mask_ctype_charset_ok(const ngsp_mask_ctype_t *ct);

/* what the media type ("type/subtype", any case) names */
ngsp_mask_media_t ngsp_mask_media(const unsigned char *type, size_t len);

#endif /* NGSP_MASK_TYPE_H */
