/* fuzz_glob.c - libFuzzer target for glob matching: the input's first byte
 * says where the pattern ends and the name begins. The matcher must stay
 * inside both, and agree with itself under case folding when the input has
 * no letters. */
#include "glob.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cut = 1 + data[0] % size;
    if (cut > size)
        cut = size;
    const uint8_t *pat = data + 1, *s = data + cut;
    size_t plen = cut - 1, slen = size - cut;
    int a = rmig_glob_match(pat, plen, s, slen, 0);
    int letters = 0;
    for (size_t i = 1; i < size; i++)
        letters |= (data[i] >= 'A' && data[i] <= 'Z') || (data[i] >= 'a' && data[i] <= 'z');
    if (!letters && a != rmig_glob_match(pat, plen, s, slen, 1)) {
        fprintf(stderr, "fuzz_glob: case folding changed a match without letters\n");
        abort();
    }
    return 0;
}
