/*
 * quant_fit.c - the scale search under every quantizer of the project.
 *
 * A block (or sub-block) of n values x_i is stored as small integers L_i on a uniform
 * grid: xhat_i = s * L_i (symmetric formats) or xhat_i = s * L_i + b (formats with a
 * min). We want the grid that minimizes the weighted squared error
 *
 *     E = sum_i w_i (x_i - xhat_i)^2.
 *
 * For a FIXED assignment L, E is a quadratic in the grid parameters, so the best ones
 * are a small least-squares solve:
 *
 *   symmetric:  s = Sxl / Sll                      (S.. = weighted sums: Sxl = sum w x L)
 *               E = Sxx - Sxl^2 / Sll
 *   affine:     [Sll Sl] [s]   [Sxl]
 *               [Sl  S ] [b] = [Sx ]               (S = sum w, Sl = sum w L, ...)
 *               E = Sxx - s Sxl - b Sx             (at the least-squares optimum)
 *
 * For a FIXED grid, the best L is simply each x_i rounded to the nearest grid point
 * (clamped to the integer range). Neither step alone finds the optimum, so we:
 *   1. try a few candidate grids: the one that maps the extreme value(s) exactly to
 *      the end(s) of the integer range, and slightly finer and coarser ones (the
 *      extreme mapped to the range end +- 0.2, 0.4, ... 1.0 steps); finer grids clip the
 *      extreme a little but represent everything else better (a finer search, 0.1
 *      apart, costs twice the time and gains under 0.1% of relative error);
 *   2. for each candidate, round to get L, then solve for the least-squares grid, and
 *      keep the candidate with the smallest E;
 *   3. polish the winner by alternating "round to the grid" and "refit the grid" while
 *      E keeps dropping (each step can only lower E, so this converges quickly).
 * This is the usual approach of good quantizers (ggml's reference quantizers do a
 * similar candidate search); it costs about 12 to 15 passes over the block.
 *
 * Sums are accumulated in double: as cheap as float in this scalar code, and the
 * products of sums below cannot overflow for any finite input. The affine fit also
 * works on x - lo (lo = the block minimum), which keeps its 2x2 solve well conditioned
 * when the block sits far from zero.
 */
#include "quant_internal.h"

#include <string.h>

#define FIT_MAX_N       32
#define FIT_HALF_STEPS  5 /* candidates: extreme mapped to range end + k/5, |k| <= 5 */
#define FIT_POLISH_MAX  4 /* round/refit rounds after the search */
#define FIT_ZERO_THRESH 1e-30f

void ta_fit_weights(int n, const float *x, float *w)
{
    double sum2 = 0.0;
    for (int i = 0; i < n; i++)
        sum2 += (double)x[i] * x[i];
    float rms = (float)sqrt(sum2 / n);
    for (int i = 0; i < n; i++)
        w[i] = rms + fabsf(x[i]);
}

/* ---- symmetric: x ~= s * L ---- */

/* Rounds x * iscale onto lmin..lmax into L; returns the weighted sums for the fit. */
static void sym_assign(int n, const float *x, const float *w, int lmin, int lmax, float iscale,
                       int8_t *L, double *sxl, double *sll)
{
    double a = 0.0, c = 0.0;
    for (int i = 0; i < n; i++) {
        int l = ta_clamp_int(ta_nearest_int(iscale * x[i]), lmin, lmax);
        L[i] = (int8_t)l;
        a += (double)w[i] * x[i] * l;
        c += (double)w[i] * (l * l);
    }
    *sxl = a;
    *sll = c;
}

float ta_fit_symmetric(int n, const float *x, const float *w, int lmin, int lmax, int8_t *L)
{
    /* The value of largest magnitude goes to the longer end of the range, lmin (for
     * two's-complement-like ranges such as -8..7 the negative side has one more step);
     * the sign of s absorbs the sign of that value. */
    float amax = 0.0f, xmax = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            xmax = x[i];
        }
    }
    if (amax < FIT_ZERO_THRESH) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }

    /* Maximizing Sxl^2 / Sll is minimizing E = Sxx - Sxl^2 / Sll. */
    int8_t trial[FIT_MAX_N];
    double best_num = 0.0, best_den = 1.0; /* best Sxl^2 / Sll as a fraction */
    float best_s = 0.0f;
    bool have = false;
    for (int k = -FIT_HALF_STEPS; k <= FIT_HALF_STEPS; k++) {
        float iscale = ((float)lmin - 0.2f * (float)k) / xmax;
        double sxl, sll;
        sym_assign(n, x, w, lmin, lmax, iscale, trial, &sxl, &sll);
        if (sll <= 0.0) continue;
        if (!have || sxl * sxl * best_den > best_num * sll) {
            have = true;
            best_num = sxl * sxl;
            best_den = sll;
            best_s = (float)(sxl / sll);
            memcpy(L, trial, (size_t)n);
        }
    }
    if (!have) { /* cannot happen for amax > 0, kept for safety */
        memset(L, 0, (size_t)n);
        return 0.0f;
    }

    for (int it = 0; it < FIT_POLISH_MAX && best_s != 0.0f; it++) {
        double sxl, sll;
        sym_assign(n, x, w, lmin, lmax, 1.0f / best_s, trial, &sxl, &sll);
        if (sll <= 0.0 || !(sxl * sxl * best_den > best_num * sll)) break;
        best_num = sxl * sxl;
        best_den = sll;
        best_s = (float)(sxl / sll);
        memcpy(L, trial, (size_t)n);
    }
    return best_s;
}

/* ---- affine: x ~= s * L + b ---- */

typedef struct {
    float s, b; /* x ~= s * L + b */
    double err; /* weighted squared error */
} affine_fit;

/* Assigns L = round((x - b0) * iscale) on 0..lmax and solves for the best (s, b).
 * xs = x - lo, so the sums stay small; results are mapped back to x.
 * Returns false when L is constant (the 2x2 system is singular). */
static bool affine_try(int n, const float *xs, float lo, const float *w, int lmax, bool b_nonpos,
                       float iscale, float b0, uint8_t *L, affine_fit *out)
{
    double S = 0, Sl = 0, Sll = 0, Sx = 0, Sxl = 0, Sxx = 0;
    for (int i = 0; i < n; i++) {
        int l = ta_clamp_int(ta_nearest_int((xs[i] + (lo - b0)) * iscale), 0, lmax);
        L[i] = (uint8_t)l;
        double wi = w[i], xi = xs[i];
        S += wi;
        Sl += wi * l;
        Sll += wi * l * l;
        Sx += wi * xi;
        Sxl += wi * xi * l;
        Sxx += wi * xi * xi;
    }
    double det = S * Sll - Sl * Sl;
    if (det <= 0.0 || Sll <= 0.0) return false;
    double s = (S * Sxl - Sl * Sx) / det;
    double bs = (Sll * Sx - Sl * Sxl) / det; /* offset for xs */
    double dlo = lo;
    if (b_nonpos && bs + dlo > 0.0) {
        /* best fit with b pinned to 0, i.e. xs ~= s * L - lo; its error, expanded */
        bs = -dlo;
        s = (Sxl + dlo * Sl) / Sll;
        out->err =
            Sxx + s * s * Sll + dlo * dlo * S - 2.0 * s * Sxl - 2.0 * dlo * s * Sl + 2.0 * dlo * Sx;
    } else {
        out->err = Sxx - s * Sxl - bs * Sx; /* at the unconstrained optimum */
    }
    if (!(s > 0.0)) return false;
    out->s = (float)s;
    out->b = (float)(bs + dlo);
    return true;
}

float ta_fit_affine(int n, const float *x, const float *w, int lmax, bool b_nonpos, uint8_t *L,
                    float *b)
{
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    if (b_nonpos && lo > 0.0f) lo = 0.0f;
    if (!(hi - lo > FIT_ZERO_THRESH)) { /* constant block: exact with s = 0 */
        memset(L, 0, (size_t)n);
        *b = lo;
        return 0.0f;
    }

    float xs[FIT_MAX_N];
    for (int i = 0; i < n; i++)
        xs[i] = x[i] - lo;

    /* Candidates map [lo, hi] onto 0 .. lmax + k/5. */
    uint8_t trial[FIT_MAX_N];
    affine_fit best = {0.0f, lo, 0.0}, f;
    bool have = false;
    for (int k = -FIT_HALF_STEPS; k <= FIT_HALF_STEPS; k++) {
        float iscale = ((float)lmax + 0.2f * (float)k) / (hi - lo);
        if (!affine_try(n, xs, lo, w, lmax, b_nonpos, iscale, lo, trial, &f)) continue;
        if (!have || f.err < best.err) {
            have = true;
            best = f;
            memcpy(L, trial, (size_t)n);
        }
    }
    if (!have) { /* e.g. two distinct values far below rounding; plain min/max grid */
        float s = (hi - lo) / (float)lmax;
        for (int i = 0; i < n; i++)
            L[i] = (uint8_t)ta_clamp_int(ta_nearest_int(xs[i] / s), 0, lmax);
        *b = lo;
        return s;
    }

    for (int it = 0; it < FIT_POLISH_MAX; it++) {
        if (!affine_try(n, xs, lo, w, lmax, b_nonpos, 1.0f / best.s, best.b, trial, &f)) break;
        if (!(f.err < best.err)) break;
        best = f;
        memcpy(L, trial, (size_t)n);
    }
    *b = best.b;
    return best.s;
}
