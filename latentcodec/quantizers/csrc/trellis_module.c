/* CPython binding of trellis.c. The Python wrapper (quantizers/trellis.py)
 * passes contiguous arrays of the right dtypes; this checks their sizes. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>

#include "lattice_trellis.h"
#include "trellis.h"

/* Whether every next state and quantizer of m is in range. */
static int machine_ok(const lc_trellis *m) {
    for (int32_t i = 0; i < m->n_states; i++)
        if ((uint32_t)m->next[2 * i] >= (uint32_t)m->n_states || (uint32_t)m->next[2 * i + 1] >= (uint32_t)m->n_states ||
            (uint32_t)m->quantizer[i] > 1)
            return 0;
    return 1;
}

static PyObject *search(PyObject *self, PyObject *args) {
    Py_buffer r, t, next, quant, bits, lengths, offsets, sym, st;
    int max_len, q1_shift, state;
    double lambda;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*iidiw*w*:search", &r, &t, &next, &quant, &bits,
                          &lengths, &offsets, &max_len, &q1_shift, &lambda, &state, &sym, &st))
        return NULL;
    Py_buffer *all[] = {&r, &t, &next, &quant, &bits, &lengths, &offsets, &sym, &st};
    const Py_ssize_t n = r.len / 4, n_states = quant.len / 4, n_tables = lengths.len / 4;
    lc_trellis m = {(int32_t)n_states, next.buf, quant.buf};
    lc_trellis_costs c = {bits.buf, lengths.buf, offsets.buf, (int32_t)n_tables, max_len, q1_shift};
    const char *bad = NULL;
    if (t.len != r.len || sym.len != r.len || st.len != r.len) bad = "arrays differ in length";
    else if (n_states < 1 || n_states > LC_TRELLIS_MAX_STATES || next.len != 8 * n_states)
        bad = "bad state machine";
    else if (state < 0 || state >= n_states) bad = "start state out of range";
    else if (max_len < 2 || offsets.len != lengths.len || bits.len != 4 * n_tables * (Py_ssize_t)max_len)
        bad = "bad cost tables";
    if (!bad && !machine_ok(&m)) bad = "bad state machine";
    for (Py_ssize_t i = 0; !bad && i < n_tables; i++) {
        const int32_t len = ((const int32_t *)lengths.buf)[i];
        if (len < 2 || len > max_len) bad = "bad cost tables";
    }
    int status = 0;
    int32_t end = state;
    if (!bad) {
        Py_BEGIN_ALLOW_THREADS
        status = lc_trellis_search(r.buf, t.buf, (size_t)n, &m, &c, lambda, &end, sym.buf, st.buf);
        Py_END_ALLOW_THREADS
    }
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) PyBuffer_Release(all[i]);
    if (bad) return PyErr_Format(PyExc_ValueError, "trellis search: %s", bad);
    if (status == -1) return PyErr_Format(PyExc_ValueError, "trellis search: a table index is out of range");
    if (status) return PyErr_NoMemory();
    return PyLong_FromLong(end);
}

static PyObject *lattice_search(PyObject *self, PyObject *args) {
    Py_buffer y, mean, scale, next, quant, out;
    double lambda;
    int limit;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*diw*:lattice_search", &y, &mean, &scale, &next, &quant, &lambda, &limit,
                          &out))
        return NULL;
    Py_buffer *all[] = {&y, &mean, &scale, &next, &quant, &out};
    const Py_ssize_t n = y.len / 4, n_states = quant.len / 4;
    lc_trellis m = {(int32_t)n_states, next.buf, quant.buf};
    const char *bad = NULL;
    if (mean.len != y.len || scale.len != y.len || out.len != y.len) bad = "arrays differ in length";
    else if (n_states < 1 || n_states > LC_TRELLIS_MAX_STATES || next.len != 8 * n_states) bad = "bad state machine";
    else if (limit < 2) bad = "limit must be at least 2";
    if (!bad && !machine_ok(&m)) bad = "bad state machine";
    for (Py_ssize_t i = 0; !bad && i < n; i++) {
        const float v = ((const float *)y.buf)[i], s = ((const float *)scale.buf)[i];
        if (!(fabsf(v) <= 0.5f * (float)limit - 1) || !(s > 0) || !isfinite(((const float *)mean.buf)[i]))
            bad = "latents must be finite and within the limit, scales positive";
    }
    int status = 0;
    if (!bad) {
        Py_BEGIN_ALLOW_THREADS
        status = lc_lattice_trellis_search(y.buf, mean.buf, scale.buf, (size_t)n, &m, lambda, limit, out.buf);
        Py_END_ALLOW_THREADS
    }
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) PyBuffer_Release(all[i]);
    if (bad) return PyErr_Format(PyExc_ValueError, "lattice trellis search: %s", bad);
    if (status) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"lattice_search", lattice_search, METH_VARARGS,
     "lattice_search(y, mean, scale, next_states, quantizer_of_state, lambda, limit, twice_out): TCQ on Z/2"},
    {"search", search, METH_VARARGS,
     "search(residual, tables, next_states, quantizer_of_state, bits, lengths, offsets, max_len, "
     "q1_shift, lambda, state, symbols_out, states_out) -> end state"},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_trellis",
                                    "Viterbi search of trellis-coded quantization (C core).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__trellis(void) { return PyModule_Create(&module); }
