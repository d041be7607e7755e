#include "residual_search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/matvec.h"

LC_DEFINE_MATVEC(lc_matvec, float, float) /* gains against the transposed codebook */

/* Sum of a[d] * b[d] (a residual's squared norm) in eight lanes, then a
 * fixed tree: the same bits whatever the vector width the compiler chose. */
static inline float dot(const float *a, const float *b, int32_t dim) {
    float lane[8] = {0};
    int32_t d = 0;
    for (; d + 8 <= dim; d += 8)
        for (int j = 0; j < 8; j++) lane[j] += a[d + j] * b[d + j];
    for (; d < dim; d++) lane[d & 7] += a[d] * b[d];
    return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

typedef struct {
    float score;
    int32_t origin, index;
} candidate;

/* The m best (least score) of the nb * size candidates, sorted, earlier
 * candidates first among equals. */
static int best_candidates(const float *g, const float *err, int nb, int32_t size, int m, candidate *top) {
    int count = 0;
    for (int b = 0; b < nb; b++)
        for (int32_t k = 0; k < size; k++) {
            const float score = err[b] - 2.0f * g[(size_t)b * size + k];
            if (count == m && !(score < top[m - 1].score)) continue;
            int at = count < m ? count++ : m - 1;
            while (at > 0 && score < top[at - 1].score) {
                top[at] = top[at - 1];
                at--;
            }
            top[at] = (candidate){score, b, k};
        }
    return count;
}

int lc_residual_search(const float *codebooks, const float *transposed, const float *half_norms, int32_t size,
                       int32_t dim, const float *z, size_t n, int32_t stages, int32_t beam, double threshold,
                       int64_t *paths, float *norms) {
    const size_t width = (size_t)beam * dim, depth = (size_t)stages;
    float *res = malloc(2 * width * sizeof *res), *g = malloc((size_t)beam * size * sizeof *g);
    float err[2 * LC_SEARCH_MAX_BEAM];
    int64_t *path = malloc(2 * (size_t)beam * depth * sizeof *path);
    candidate top[LC_SEARCH_MAX_BEAM];
    if (!res || !g || !path) {
        free(res), free(g), free(path);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        float *cur = res, *next = res + width, *e = err, *ne = err + beam;
        int64_t *p = path, *np = path + (size_t)beam * depth;
        int64_t *out = paths + i * depth * depth;
        float *norm = norms + i * depth;
        int nb = 1;
        memcpy(cur, z + i * dim, dim * sizeof *cur);
        e[0] = dot(cur, cur, dim);
        for (size_t k = 0; k < depth * depth; k++) out[k] = -1;
        for (size_t k = 0; k < depth; k++) norm[k] = 0.0f;
        for (int32_t s = 0; s < stages; s++) {
            norm[s] = s ? sqrtf(e[0]) : INFINITY;
            if (s && threshold >= 0 && norm[s] <= threshold) break;
            const float *codebook = codebooks + (size_t)s * size * dim, *half = half_norms + (size_t)s * size;
            for (int b = 0; b < nb; b++) { /* the squared error of r_b falls by 2 (r_b . c_k - |c_k|^2 / 2) */
                float *gb = g + (size_t)b * size;
                lc_matvec(transposed + (size_t)s * size * dim, NULL, dim, size, cur + (size_t)b * dim, gb);
                for (int32_t k = 0; k < size; k++) gb[k] -= half[k];
            }
            int m;
            if (beam == 1) { /* greedy: the largest gain, the lowest index among equals */
                int32_t k = 0;
                for (int32_t j = 1; j < size; j++)
                    if (g[j] > g[k]) k = j;
                top[0] = (candidate){0.0f, 0, k};
                m = 1;
            } else {
                m = best_candidates(g, e, nb, size, beam, top);
            }
            for (int j = 0; j < m; j++) {
                const float *from = cur + (size_t)top[j].origin * dim, *c = codebook + (size_t)top[j].index * dim;
                float *to = next + (size_t)j * dim;
                for (int32_t d = 0; d < dim; d++) to[d] = from[d] - c[d];
                ne[j] = dot(to, to, dim);
                memcpy(np + j * depth, p + top[j].origin * depth, s * sizeof *np);
                np[j * depth + s] = top[j].index;
            }
            /* best path first, by its exact error (stable) */
            for (int j = 1; j < m; j++)
                for (int k = j; k > 0 && ne[k] < ne[k - 1]; k--) {
                    float t = ne[k];
                    ne[k] = ne[k - 1], ne[k - 1] = t;
                    for (int32_t d = 0; d < dim; d++) {
                        float u = next[k * dim + d];
                        next[k * dim + d] = next[(k - 1) * dim + d], next[(k - 1) * dim + d] = u;
                    }
                    for (int32_t d = 0; d <= s; d++) {
                        int64_t u = np[k * depth + d];
                        np[k * depth + d] = np[(k - 1) * depth + d], np[(k - 1) * depth + d] = u;
                    }
                }
            memcpy(out + (size_t)s * depth, np, (s + 1) * sizeof *out);
            float *t = cur;
            cur = next, next = t;
            e = ne, ne = (e == err) ? err + beam : err;
            int64_t *q = p;
            p = np, np = q;
            nb = m;
        }
    }
    free(res), free(g), free(path);
    return 0;
}
