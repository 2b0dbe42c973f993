/* glob.h - Redis' glob patterns (KEYS, SCAN MATCH, PSUBSCRIBE), byte for byte.
 *
 * `*` any run of bytes, `?` any one byte, `[abc]`, `[^abc]`, `[a-z]` (a
 * reversed range counts as its sorted form), `\x` a literal x (inside
 * classes too); an unterminated class is closed at the end of the pattern.
 * The results are Redis' own (checked against a live server by the tests);
 * the matching is iterative, so no pattern takes exponential time. */
#ifndef RMIG_GLOB_H
#define RMIG_GLOB_H

#include <stddef.h>
#include <stdint.h>

/* 1 when s matches pattern, else 0; nocase folds ASCII letters. */
int rmig_glob_match(const uint8_t *pattern, size_t plen, const uint8_t *s, size_t slen, int nocase);

#endif
