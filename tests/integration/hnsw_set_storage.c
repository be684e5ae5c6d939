/*
 * hnsw_set_storage.c - test tool: rewrites the storage field of a saved vector index
 * (src/index/hnsw.c's file header) and reseals its checksum, to make the file an older
 * version or other settings would have written: a float32 + int8 file and a float32 one
 * differ only there.
 *   hnsw_set_storage FILE STORAGE   (0 float32, 2 float32 + int8)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: hnsw_set_storage FILE STORAGE\n");
        return 2;
    }
    if (strcmp(argv[2], "0") && strcmp(argv[2], "2")) {
        fprintf(stderr, "STORAGE must be 0 (float32) or 2 (float32 + int8)\n");
        return 2;
    }
    unsigned long st = strtoul(argv[2], NULL, 10);
    FILE *f = fopen(argv[1], "rb");
    if (!f) return perror(argv[1]), 1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = len >= 96 ? malloc((size_t)len) : NULL;
    bool ok = b && fread(b, 1, (size_t)len, f) == (size_t)len;
    fclose(f);
    if (!ok) {
        fprintf(stderr, "%s: not an index file\n", argv[1]);
        free(b);
        return 1;
    }
    for (int i = 0; i < 4; i++) /* little-endian u32 at offset 40 */
        b[40 + i] = (unsigned char)(st >> (8 * i));
    ta_hnsw_image_reseal(b, (size_t)len);
    f = fopen(argv[1], "wb");
    if (!f || fwrite(b, 1, (size_t)len, f) != (size_t)len || fclose(f)) return perror(argv[1]), 1;
    free(b);
    return 0;
}
