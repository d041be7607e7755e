/* CPython binding of autoregressive.c. The network arrives as one int32
 * array: [n_context, hidden, shift0, shift1, shift2, w0, b0, w1, b1, w2, b2]. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "autoregressive.h"
#include "autoregressive_training.h"

static PyObject *BitstreamError;

#define MAX_LEVELS 16

typedef struct {
    Py_buffer view[MAX_LEVELS + 8];
    int held;
} buffers;

static void release(buffers *b) {
    for (int i = 0; i < b->held; i++) PyBuffer_Release(&b->view[i]);
    b->held = 0;
}

static Py_buffer *get_int32(buffers *b, PyObject *obj, const char *name, int ndim, int writable) {
    Py_buffer *v = &b->view[b->held];
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, v, flags) < 0) return NULL;
    b->held++;
    if (v->itemsize != 4 || v->ndim != ndim || !v->format || !strchr("iI", v->format[strlen(v->format) - 1])) {
        PyErr_Format(PyExc_TypeError, "%s must be a %d-D int32 array", name, ndim);
        return NULL;
    }
    return v;
}

static int get_arm(buffers *b, PyObject *obj, lc_arm *a) {
    Py_buffer *v = get_int32(b, obj, "net", 1, 0);
    if (!v) return 0;
    const int32_t *p = v->buf;
    const Py_ssize_t n = v->shape[0];
    if (n < 5) goto size;
    a->n_context = p[0];
    a->hidden = p[1];
    for (int l = 0; l < 3; l++) a->shift[l] = p[2 + l];
    if (a->n_context < 1 || a->n_context > LC_ARM_MAX_CONTEXT || a->hidden < 1 || a->hidden > LC_ARM_MAX_HIDDEN)
        goto size;
    const Py_ssize_t h = a->hidden, n_in = a->n_context + LC_ARM_PARENTS;
    if (n != 5 + n_in * h + h + h * h + h + 2 * h + 2) goto size;
    p += 5;
    a->w0 = p, p += n_in * h;
    a->b0 = p, p += h;
    a->w1 = p, p += h * h;
    a->b1 = p, p += h;
    a->w2 = p, p += 2 * h;
    a->b2 = p;
    const char *bad = lc_arm_check(a);
    if (bad) {
        PyErr_Format(PyExc_ValueError, "autoregressive model: %s", bad);
        return 0;
    }
    return 1;
size:
    PyErr_SetString(PyExc_ValueError, "autoregressive model: net has the wrong size for its header");
    return 0;
}

/* None, or a [n_states, 2] int32 state machine (next state after an even / odd index). */
static int get_trellis(buffers *b, PyObject *obj, lc_arm_trellis *t, const lc_arm_trellis **out) {
    *out = 0;
    if (obj == Py_None) return 1;
    Py_buffer *v = get_int32(b, obj, "trellis", 2, 0);
    if (!v) return 0;
    t->n_states = (int32_t)v->shape[0];
    t->next = v->buf;
    int ok = v->shape[1] == 2 && t->n_states >= 2 && t->n_states <= 16 && t->n_states % 2 == 0;
    for (int32_t i = 0; ok && i < 2 * t->n_states; i++) ok = t->next[i] >= 0 && t->next[i] < t->n_states;
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "trellis must be [n_states, 2] (2 to 16 states) with entries in [0, n_states)");
        return 0;
    }
    *out = t;
    return 1;
}

/* Grids finest first, each (ceil of) half the one before: the parents' layout needs it. */
static int get_levels(buffers *b, PyObject *list, int writable, lc_pyramid *p, int32_t *heights,
                      int32_t *widths, int32_t **data, size_t *total) {
    if (!PyList_Check(list) || PyList_GET_SIZE(list) < 1 || PyList_GET_SIZE(list) > MAX_LEVELS) {
        PyErr_Format(PyExc_ValueError, "levels must be a list of 1 to %d grids", MAX_LEVELS);
        return 0;
    }
    p->n_levels = (int32_t)PyList_GET_SIZE(list);
    *total = 0;
    for (int32_t l = 0; l < p->n_levels; l++) {
        Py_buffer *v = get_int32(b, PyList_GET_ITEM(list, l), "each level", 2, writable);
        if (!v) return 0;
        if (v->shape[0] < 1 || v->shape[1] < 1 || v->shape[0] > (1 << 16) || v->shape[1] > (1 << 16) ||
            (l > 0 && (v->shape[0] != (heights[l - 1] + 1) / 2 || v->shape[1] != (widths[l - 1] + 1) / 2))) {
            PyErr_SetString(PyExc_ValueError, "each level must be non-empty and half the size of the one before");
            return 0;
        }
        heights[l] = (int32_t)v->shape[0];
        widths[l] = (int32_t)v->shape[1];
        data[l] = v->buf;
        *total += (size_t)heights[l] * (size_t)widths[l];
    }
    p->heights = heights;
    p->widths = widths;
    return 1;
}

static PyObject *symbols(PyObject *self, PyObject *args) {
    PyObject *net, *list, *out_symbols, *out_indexes, *trellis = Py_None;
    if (!PyArg_ParseTuple(args, "OOOO|O:symbols", &net, &list, &out_symbols, &out_indexes, &trellis)) return NULL;
    buffers b = {.held = 0};
    lc_arm a;
    lc_arm_trellis tr;
    const lc_arm_trellis *trp;
    lc_pyramid p;
    int32_t heights[MAX_LEVELS], widths[MAX_LEVELS], *data[MAX_LEVELS];
    size_t total;
    Py_buffer *s, *i;
    if (!get_arm(&b, net, &a) || !get_trellis(&b, trellis, &tr, &trp) ||
        !get_levels(&b, list, 0, &p, heights, widths, data, &total) || !(s = get_int32(&b, out_symbols, "symbols", 1, 1)) || !(i = get_int32(&b, out_indexes, "indexes", 1, 1))) {
        release(&b);
        return NULL;
    }
    if ((size_t)s->shape[0] != total || (size_t)i->shape[0] != total) {
        release(&b);
        return PyErr_Format(PyExc_ValueError, "symbols and indexes need %zu entries", total);
    }
    for (int32_t l = 0; l < p.n_levels; l++)
        for (size_t k = 0; k < (size_t)heights[l] * (size_t)widths[l]; k++)
            if (data[l][k] < -LC_ARM_LATENT_MAX || data[l][k] > LC_ARM_LATENT_MAX) {
                release(&b);
                return PyErr_Format(PyExc_ValueError, "latents must lie in [-%d, %d]", LC_ARM_LATENT_MAX,
                                    LC_ARM_LATENT_MAX);
            }
    lc_status st;
    size_t at;
    Py_BEGIN_ALLOW_THREADS
    st = lc_arm_symbols(&a, &p, trp, (const int32_t *const *)data, s->buf, i->buf, &at);
    Py_END_ALLOW_THREADS
    release(&b);
    if (st == LC_ERR_INDEX)
        return PyErr_Format(PyExc_ValueError, "latent %zu (in coding order) is not on its trellis state's quantizer", at);
    if (st != LC_OK) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *decode(PyObject *self, PyObject *args) {
    Py_buffer stream;
    PyObject *net, *list, *cdfs, *lengths, *offsets, *trellis = Py_None;
    if (!PyArg_ParseTuple(args, "y*OOOOO|O:decode", &stream, &net, &list, &cdfs, &lengths, &offsets, &trellis))
        return NULL;
    buffers b = {.held = 0};
    b.view[b.held++] = stream;
    lc_arm a;
    lc_arm_trellis tr;
    const lc_arm_trellis *trp;
    lc_pyramid p;
    int32_t heights[MAX_LEVELS], widths[MAX_LEVELS], *data[MAX_LEVELS];
    size_t total;
    Py_buffer *c, *n, *o;
    if (!get_arm(&b, net, &a) || !get_trellis(&b, trellis, &tr, &trp) || !get_levels(&b, list, 1, &p, heights, widths, data, &total) ||
        !(c = get_int32(&b, cdfs, "cdfs", 2, 0)) || !(n = get_int32(&b, lengths, "cdf_lengths", 1, 0)) ||
        !(o = get_int32(&b, offsets, "offsets", 1, 0))) {
        release(&b);
        return NULL;
    }
    lc_tables t = {c->buf, n->buf, o->buf, (int32_t)c->shape[0], (int32_t)c->shape[1]};
    int32_t bad;
    if (c->shape[0] != LC_ARM_TABLES || n->shape[0] != LC_ARM_TABLES || o->shape[0] != LC_ARM_TABLES ||
        lc_tables_check(&t, &bad) != LC_OK) {
        release(&b);
        return PyErr_Format(PyExc_ValueError, "the model needs %d valid cdf tables", LC_ARM_TABLES);
    }
    lc_decoder d;
    lc_decoder_init(&d);
    size_t at = 0;
    uint64_t offset = 0;
    lc_status st = lc_decoder_feed(&d, stream.buf, (size_t)stream.len, 1);
    if (st == LC_OK) {
        Py_BEGIN_ALLOW_THREADS
        st = lc_arm_decode(&a, &p, trp, &d, &t, data, &at, &offset);
        Py_END_ALLOW_THREADS
    }
    lc_decoder_free(&d);
    release(&b);
    switch (st) {
    case LC_OK: Py_RETURN_NONE;
    case LC_ERR_TRUNCATED:
        return PyErr_Format(BitstreamError, "latent stream is truncated: it ends before latent %zu of %zu", at, total);
    case LC_ERR_CORRUPT:
    case LC_ERR_OVERFLOW:
        return PyErr_Format(BitstreamError, "latent stream is corrupt: latent %zu of %zu (near byte %llu) "
                            "cannot be decoded or lies outside [-%d, %d]", at, total,
                            (unsigned long long)offset, LC_ARM_LATENT_MAX, LC_ARM_LATENT_MAX);
    case LC_ERR_NOMEM: return PyErr_NoMemory();
    default: return PyErr_Format(BitstreamError, "latent stream cannot be decoded (status %d)", (int)st);
    }
}

static Py_buffer *get_float32(buffers *b, PyObject *obj, const char *name, int ndim, int writable) {
    Py_buffer *v = &b->view[b->held];
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, v, flags) < 0) return NULL;
    b->held++;
    if (v->itemsize != 4 || v->ndim != ndim || !v->format || v->format[strlen(v->format) - 1] != 'f') {
        PyErr_Format(PyExc_TypeError, "%s must be a %d-D float32 array", name, ndim);
        return NULL;
    }
    return v;
}

static PyObject *float_bits(PyObject *self, PyObject *args) {
    PyObject *x, *y, *params, *grad_x, *grad_y, *grad_params;
    lc_arm_float a;
    int threads;
    if (!PyArg_ParseTuple(args, "iiOOOOOOfffi:float_bits", &a.n_in, &a.hidden, &x, &y, &params, &grad_x, &grad_y,
                          &grad_params, &a.log_scale_min, &a.log_scale_max, &a.probability_min, &threads))
        return NULL;
    if (a.n_in < 1 || a.n_in > LC_ARM_TRAIN_MAX_IN || a.hidden < 1 || a.hidden > LC_ARM_TRAIN_MAX_HIDDEN)
        return PyErr_Format(PyExc_ValueError, "n_in must be 1..%d and hidden 1..%d", LC_ARM_TRAIN_MAX_IN,
                            LC_ARM_TRAIN_MAX_HIDDEN);
    buffers b = {.held = 0};
    Py_buffer *vx, *vy, *vp, *gx, *gy, *gp;
    if (!(vx = get_float32(&b, x, "x", 2, 0)) || !(vy = get_float32(&b, y, "y", 1, 0)) ||
        !(vp = get_float32(&b, params, "params", 1, 0)) || !(gx = get_float32(&b, grad_x, "grad_x", 2, 1)) ||
        !(gy = get_float32(&b, grad_y, "grad_y", 1, 1)) || !(gp = get_float32(&b, grad_params, "grad_params", 1, 1))) {
        release(&b);
        return NULL;
    }
    const Py_ssize_t h = a.hidden, n = vy->shape[0], n_params = lc_arm_float_params(a.n_in, a.hidden);
    if (vx->shape[0] != a.n_in || vx->shape[1] != n || gx->shape[0] != a.n_in || gx->shape[1] != n ||
        gy->shape[0] != n || vp->shape[0] != n_params || gp->shape[0] != n_params) {
        release(&b);
        return PyErr_Format(PyExc_ValueError, "float_bits: x and grad_x must be [n_in, n], y and grad_y [n], "
                            "params and grad_params [%zd]", n_params);
    }
    const float *w = vp->buf;
    a.w0 = w, w += a.n_in * h;
    a.b0 = w, w += h;
    a.w1 = w, w += h * h;
    a.b1 = w, w += h;
    a.w2 = w, w += 2 * h;
    a.b2 = w;
    double bits = 0;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = lc_arm_float_bits(&a, vx->buf, vy->buf, n, gx->buf, gy->buf, gp->buf, threads, &bits);
    Py_END_ALLOW_THREADS
    release(&b);
    if (st) return PyErr_Format(PyExc_RuntimeError, "float_bits: a thread could not start");
    return PyFloat_FromDouble(bits);
}

static PyMethodDef methods[] = {
    {"symbols", symbols, METH_VARARGS,
     "symbols(net, levels, out_symbols, out_indexes, trellis=None): each latent's symbol and table index, "
     "coarsest grid first"},
    {"decode", decode, METH_VARARGS, "decode(data, net, levels_out, cdfs, cdf_lengths, offsets, trellis=None)"},
    {"float_bits", float_bits, METH_VARARGS,
     "float_bits(n_in, hidden, x, y, params, grad_x, grad_y, grad_params, log_scale_min, log_scale_max, "
     "probability_min, threads) -> bits: the float model's training step, gradients written in place"},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_autoregressive",
                                    "Integer autoregressive model over latent pyramids (C core).", -1, methods};

PyMODINIT_FUNC PyInit__autoregressive(void) {
    PyObject *errors = PyImport_ImportModule("latentcodec.errors");
    if (!errors) return NULL;
    BitstreamError = PyObject_GetAttrString(errors, "BitstreamError");
    Py_DECREF(errors);
    if (!BitstreamError) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    PyObject *neighbours = PyTuple_New(LC_ARM_MAX_CONTEXT);
    if (!neighbours) return NULL;
    for (int k = 0; k < LC_ARM_MAX_CONTEXT; k++)
        PyTuple_SET_ITEM(neighbours, k, Py_BuildValue("(ii)", lc_arm_neighbours[k][0], lc_arm_neighbours[k][1]));
    if (PyModule_AddObject(m, "NEIGHBOURS", neighbours) < 0 ||
        PyModule_AddIntConstant(m, "PARENTS", LC_ARM_PARENTS) < 0 ||
        PyModule_AddIntConstant(m, "MAX_HIDDEN", LC_ARM_MAX_HIDDEN) < 0 ||
        PyModule_AddIntConstant(m, "FRAC", LC_ARM_FRAC) < 0 ||
        PyModule_AddIntConstant(m, "MAX_SHIFT", LC_ARM_MAX_SHIFT) < 0 ||
        PyModule_AddIntConstant(m, "MAX_WEIGHT", LC_ARM_MAX_WEIGHT) < 0 ||
        PyModule_AddIntConstant(m, "MAX_BIAS", LC_ARM_MAX_BIAS) < 0 ||
        PyModule_AddIntConstant(m, "MAX_ACTIVATION", LC_ARM_MAX_ACTIVATION) < 0 ||
        PyModule_AddIntConstant(m, "LATENT_MAX", LC_ARM_LATENT_MAX) < 0 ||
        PyModule_AddIntConstant(m, "MEAN_STEPS", LC_ARM_MEAN_STEPS) < 0 ||
        PyModule_AddIntConstant(m, "SCALES", LC_ARM_SCALES) < 0 ||
        PyModule_AddIntConstant(m, "LOG_SCALE_MIN", LC_ARM_LOG_SCALE_MIN) < 0 ||
        PyModule_AddIntConstant(m, "LOG_SCALE_STEP_BITS", LC_ARM_LOG_SCALE_STEP_BITS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
