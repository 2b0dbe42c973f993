/* glob.c - Redis-compatible glob matching (see glob.h).
 *
 * The pattern is walked with one saved position for the last `*`: when a
 * later part fails, matching resumes one byte further into the string from
 * that star. Each star only ever moves forward, so the cost is at most
 * pattern length times string length, where a recursive matcher (Redis'
 * own stringmatchlen) can take exponential time on patterns like a*a*a*b. */
#include "glob.h"

static int fold(int c, int nocase)
{
    return nocase && c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Matches one class "[...]" starting after '[' at p against byte c; sets
 * *end to the byte after the class. The class grammar follows Redis':
 * '^' first negates, '\' escapes, "x-y" is a range (ends swapped when
 * reversed), ']' ends it, the end of the pattern ends it too. */
static int class_match(const uint8_t *p, const uint8_t *pe, int c, int nocase, const uint8_t **end)
{
    int negate = 0, match = 0;
    if (p < pe && *p == '^') {
        negate = 1;
        p++;
    }
    for (;;) {
        if (p < pe && *p == '\\' && pe - p >= 2) {
            p++;
            if (fold(*p, nocase) == fold(c, nocase))
                match = 1;
        } else if (p < pe && *p == ']') {
            break;
        } else if (p >= pe) {
            break;
        } else if (pe - p >= 3 && p[1] == '-') {
            /* swapped before folding, as Redis does */
            int lo = p[0], hi = p[2], x = fold(c, nocase);
            if (lo > hi) {
                int t = lo;
                lo = hi;
                hi = t;
            }
            lo = fold(lo, nocase);
            hi = fold(hi, nocase);
            p += 2;
            if (x >= lo && x <= hi)
                match = 1;
        } else if (fold(*p, nocase) == fold(c, nocase)) {
            match = 1;
        }
        p++;
    }
    *end = p < pe ? p + 1 : pe;
    return negate ? !match : match;
}

int rmig_glob_match(const uint8_t *pattern, size_t plen, const uint8_t *s, size_t slen, int nocase)
{
    const uint8_t *p = pattern, *pe = pattern + plen, *t = s, *te = s + slen;
    const uint8_t *star_p = NULL, *star_t = NULL;

    /* Redis matches an empty name only with an empty pattern, or "*"
     * (which KEYS and SCAN take as "everything") */
    if (slen == 0)
        return plen == 0 || (plen == 1 && pattern[0] == '*');

    while (t < te || p < pe) {
        if (p < pe) {
            switch (*p) {
            case '*':
                while (p < pe && *p == '*')
                    p++;
                if (p == pe)
                    return 1; /* a trailing star matches the rest */
                star_p = p;
                star_t = t;
                continue;
            case '?':
                if (t < te) {
                    p++;
                    t++;
                    continue;
                }
                break;
            case '[':
                if (t < te) {
                    const uint8_t *after;
                    if (class_match(p + 1, pe, *t, nocase, &after)) {
                        p = after;
                        t++;
                        continue;
                    }
                }
                break;
            case '\\':
                if (pe - p >= 2) {
                    if (t < te && fold(p[1], nocase) == fold(*t, nocase)) {
                        p += 2;
                        t++;
                        continue;
                    }
                    break;
                }
                /* a trailing backslash is itself */
                /* fall through */
            default:
                if (t < te && fold(*p, nocase) == fold(*t, nocase)) {
                    p++;
                    t++;
                    continue;
                }
                break;
            }
        }
        /* a mismatch: give the last star one more byte, or fail */
        if (star_p && star_t < te) {
            p = star_p;
            t = ++star_t;
            continue;
        }
        return 0;
    }
    return 1;
}
