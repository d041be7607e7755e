/* CPython binding of range_coder.c. Arguments arrive as int32 buffers (the
 * Python wrapper makes them contiguous); no per-symbol Python work. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "range_coder.h"

static PyObject *BitstreamError;
static PyObject *IncompleteStreamError;

/* ------------------------------------------------------------- buffers */

typedef struct {
    Py_buffer view[8];
    int held;
} int32_args;

static void release(int32_args *a) {
    for (int i = 0; i < a->held; i++) PyBuffer_Release(&a->view[i]);
    a->held = 0;
}

static int get_int32(int32_args *a, PyObject *obj, const char *name, int ndim, int writable) {
    Py_buffer *v = &a->view[a->held];
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, v, flags) < 0) return 0;
    a->held++;
    if (v->itemsize != 4 || v->ndim != ndim || !v->format || !strchr("iI", v->format[strlen(v->format) - 1])) {
        PyErr_Format(PyExc_TypeError, "%s must be a %d-D int32 array", name, ndim);
        return 0;
    }
    return 1;
}

/* Parses (..., cdfs, cdf_lengths, offsets) into a checked lc_tables. */
static int get_tables(int32_args *a, PyObject *cdfs, PyObject *lengths, PyObject *offsets,
                      lc_tables *t) {
    if (!get_int32(a, cdfs, "cdfs", 2, 0) || !get_int32(a, lengths, "cdf_lengths", 1, 0) ||
        !get_int32(a, offsets, "offsets", 1, 0))
        return 0;
    Py_buffer *c = &a->view[a->held - 3], *l = &a->view[a->held - 2], *o = &a->view[a->held - 1];
    if (c->shape[0] > INT32_MAX || c->shape[1] > INT32_MAX || l->shape[0] != c->shape[0] ||
        o->shape[0] != c->shape[0]) {
        PyErr_SetString(PyExc_ValueError,
                        "cdfs must be [n_tables, max_len] with cdf_lengths and offsets of length n_tables");
        return 0;
    }
    t->cdfs = c->buf;
    t->lengths = l->buf;
    t->offsets = o->buf;
    t->n_tables = (int32_t)c->shape[0];
    t->max_len = (int32_t)c->shape[1];
    int32_t bad;
    if (lc_tables_check(t, &bad) != LC_OK) {
        PyErr_Format(PyExc_ValueError,
                     "cdf table %d is malformed: need 2 <= cdf_lengths <= %d, cdf[0] == 0 and "
                     "cdf[length - 1] == %d",
                     (int)bad, (int)t->max_len, 1 << LC_PRECISION);
        return 0;
    }
    return 1;
}

static int claim(int *busy) {
    if (*busy) {
        PyErr_SetString(PyExc_RuntimeError, "range coder used from two threads at once");
        return 0;
    }
    *busy = 1;
    return 1;
}

/* ------------------------------------------------------------- encoder */

typedef struct {
    PyObject_HEAD
    lc_encoder enc;
    int busy;
} Encoder;

static int Encoder_init(Encoder *self, PyObject *args, PyObject *kw) {
    if (!PyArg_ParseTuple(args, ":Encoder")) return -1;
    lc_encoder_free(&self->enc);
    lc_encoder_init(&self->enc);
    return 0;
}

static void Encoder_dealloc(Encoder *self) {
    lc_encoder_free(&self->enc);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Encoder_encode(Encoder *self, PyObject *args) {
    PyObject *symbols, *indexes, *cdfs, *lengths, *offsets;
    if (!PyArg_ParseTuple(args, "OOOOO:encode", &symbols, &indexes, &cdfs, &lengths, &offsets))
        return NULL;
    int32_args a = {.held = 0};
    lc_tables t;
    if (!get_int32(&a, symbols, "symbols", 1, 0) || !get_int32(&a, indexes, "indexes", 1, 0) ||
        !get_tables(&a, cdfs, lengths, offsets, &t) || !claim(&self->busy)) {
        release(&a);
        return NULL;
    }
    if (a.view[0].shape[0] != a.view[1].shape[0]) {
        self->busy = 0;
        release(&a);
        return PyErr_Format(PyExc_ValueError, "symbols and indexes differ in length");
    }
    size_t at;
    lc_status st;
    Py_BEGIN_ALLOW_THREADS
    st = lc_encode(&self->enc, a.view[0].buf, a.view[1].buf, (size_t)a.view[0].shape[0], &t, &at);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    PyObject *result = Py_None;
    if (st == LC_ERR_INDEX)
        result = PyErr_Format(PyExc_ValueError, "indexes[%zu] = %d is outside [0, %d)", at,
                              (int)((int32_t *)a.view[1].buf)[at], (int)t.n_tables);
    else if (st == LC_ERR_ZERO_FREQ)
        result = PyErr_Format(PyExc_ValueError,
                              "symbols[%zu] = %d has zero probability in cdf table %d",
                              at, (int)((int32_t *)a.view[0].buf)[at],
                              (int)((int32_t *)a.view[1].buf)[at]);
    else if (st != LC_OK)
        result = PyErr_NoMemory();
    release(&a);
    Py_XINCREF(result);
    return result;
}

static PyObject *take_bytes(lc_encoder *e) {
    PyObject *out = PyBytes_FromStringAndSize((const char *)e->out, (Py_ssize_t)e->out_len);
    if (out) e->out_len = 0;
    return out;
}

static PyObject *Encoder_take(Encoder *self, PyObject *unused) {
    if (!claim(&self->busy)) return NULL;
    PyObject *out = take_bytes(&self->enc);
    self->busy = 0;
    return out;
}

static PyObject *Encoder_finish(Encoder *self, PyObject *unused) {
    if (!claim(&self->busy)) return NULL;
    PyObject *out = lc_encoder_finish(&self->enc) == LC_OK ? take_bytes(&self->enc) : PyErr_NoMemory();
    self->busy = 0;
    return out;
}

static PyMethodDef Encoder_methods[] = {
    {"encode", (PyCFunction)Encoder_encode, METH_VARARGS,
     "encode(symbols, indexes, cdfs, cdf_lengths, offsets)"},
    {"take", (PyCFunction)Encoder_take, METH_NOARGS, "take() -> bytes that are final"},
    {"finish", (PyCFunction)Encoder_finish, METH_NOARGS, "finish() -> remaining bytes; resets"},
    {NULL}};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "latentcodec.entropy._range_coder.Encoder",
    .tp_basicsize = sizeof(Encoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Encoder_init,
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_methods = Encoder_methods,
};

/* ------------------------------------------------------------- decoder */

typedef struct {
    PyObject_HEAD
    lc_decoder dec;
    int busy;
} Decoder;

static int Decoder_init(Decoder *self, PyObject *args, PyObject *kw) {
    if (!PyArg_ParseTuple(args, ":Decoder")) return -1;
    lc_decoder_free(&self->dec);
    lc_decoder_init(&self->dec);
    return 0;
}

static void Decoder_dealloc(Decoder *self) {
    lc_decoder_free(&self->dec);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Decoder_feed(Decoder *self, PyObject *args) {
    Py_buffer data;
    int last;
    if (!PyArg_ParseTuple(args, "y*p:feed", &data, &last)) return NULL;
    if (!claim(&self->busy)) {
        PyBuffer_Release(&data);
        return NULL;
    }
    lc_status st = lc_decoder_feed(&self->dec, data.buf, (size_t)data.len, last);
    self->busy = 0;
    PyBuffer_Release(&data);
    if (st == LC_ERR_ENDED)
        return PyErr_Format(PyExc_ValueError, "cannot feed a range decoder whose input was marked last");
    if (st != LC_OK) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* Parses (states, next, shift, state) into a checked state machine. */
static int get_state_machine(int32_args *a, PyObject *states, PyObject *next, PyObject *shift,
                             int state, Py_ssize_t n, lc_state_machine *m) {
    if (!get_int32(a, states, "states", 1, 1) || !get_int32(a, next, "next_states", 2, 0) ||
        !get_int32(a, shift, "table_shifts", 1, 0))
        return 0;
    Py_buffer *sv = &a->view[a->held - 3], *nv = &a->view[a->held - 2], *hv = &a->view[a->held - 1];
    m->next = nv->buf;
    m->shift = hv->buf;
    m->n_states = (int32_t)hv->shape[0];
    if (sv->shape[0] != n || nv->shape[1] != 2 || nv->shape[0] != hv->shape[0] ||
        hv->shape[0] < 1 || hv->shape[0] > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "states must match out in length, and next_states be "
                                          "[n_states, 2] with table_shifts of length n_states");
        return 0;
    }
    for (int32_t i = 0; i < 2 * m->n_states; i++)
        if ((uint32_t)m->next[i] >= (uint32_t)m->n_states) {
            PyErr_Format(PyExc_ValueError, "next_states holds %d, outside [0, %d)",
                         (int)m->next[i], (int)m->n_states);
            return 0;
        }
    if (state < 0 || state >= m->n_states) {
        PyErr_Format(PyExc_ValueError, "state %d is outside [0, %d)", state, (int)m->n_states);
        return 0;
    }
    return 1;
}

static PyObject *Decoder_decode(Decoder *self, PyObject *args) {
    PyObject *out, *indexes, *cdfs, *lengths, *offsets, *states = NULL, *next = NULL, *shift = NULL;
    int state = 0;
    if (!PyArg_ParseTuple(args, "OOOOO|OOOi:decode", &out, &indexes, &cdfs, &lengths, &offsets,
                          &states, &next, &shift, &state))
        return NULL;
    int32_args a = {.held = 0};
    lc_tables t;
    lc_state_machine m, *machine = states ? &m : NULL;
    if (!get_int32(&a, out, "out", 1, 1) || !get_int32(&a, indexes, "indexes", 1, 0) ||
        !get_tables(&a, cdfs, lengths, offsets, &t)) {
        release(&a);
        return NULL;
    }
    if (a.view[0].shape[0] != a.view[1].shape[0]) {
        release(&a);
        return PyErr_Format(PyExc_ValueError, "out and indexes differ in length");
    }
    if ((machine && (!next || !shift ||
                     !get_state_machine(&a, states, next, shift, state, a.view[0].shape[0], &m))) ||
        !claim(&self->busy)) {
        if (machine && (!next || !shift))
            PyErr_SetString(PyExc_TypeError, "states needs next_states and table_shifts");
        release(&a);
        return NULL;
    }
    size_t at;
    uint64_t offset;
    lc_status st;
    int32_t end_state = state;
    Py_BEGIN_ALLOW_THREADS
    st = lc_decode_states(&self->dec, a.view[0].buf, a.view[1].buf, (size_t)a.view[0].shape[0], &t,
                          machine, &end_state, machine ? a.view[5].buf : NULL, &at, &offset);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    PyObject *result = NULL;
    unsigned long long off = (unsigned long long)offset;
    switch (st) {
    case LC_OK:
        result = machine ? PyLong_FromLong(end_state) : Py_NewRef(Py_None);
        break;
    case LC_NEED_MORE:
        result = PyErr_Format(IncompleteStreamError,
                              "range decoder needs more input for symbol %zu (stream byte %llu); "
                              "feed more bytes or mark the input as last", at, off);
        break;
    case LC_ERR_INDEX:
        result = PyErr_Format(PyExc_ValueError, "indexes[%zu] = %d is outside [0, %d)", at,
                              (int)((int32_t *)a.view[1].buf)[at], (int)t.n_tables);
        break;
    case LC_ERR_TRUNCATED:
        result = PyErr_Format(BitstreamError,
                              "range-coded stream is truncated: it ends at byte %llu, before "
                              "symbol %zu was complete", off - LC_DECODER_PADDING, at);
        break;
    case LC_ERR_CORRUPT:
    case LC_ERR_OVERFLOW:
        result = PyErr_Format(BitstreamError,
                              "range-coded stream is corrupt: symbol %zu cannot be decoded "
                              "from its table near byte %llu", at, off);
        break;
    default: result = PyErr_NoMemory();
    }
    release(&a);
    return result;
}

static PyObject *Decoder_position(Decoder *self, void *unused) {
    return PyLong_FromUnsignedLongLong(self->dec.base + self->dec.pos);
}

static PyMethodDef Decoder_methods[] = {
    {"feed", (PyCFunction)Decoder_feed, METH_VARARGS, "feed(data, last)"},
    {"decode", (PyCFunction)Decoder_decode, METH_VARARGS,
     "decode(out, indexes, cdfs, cdf_lengths, offsets[, states, next_states, table_shifts, state])"
     " -> None, or the end state under a state machine"},
    {NULL}};

static PyGetSetDef Decoder_getset[] = {
    {"position", (getter)Decoder_position, NULL, "stream bytes read so far", NULL}, {NULL}};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "latentcodec.entropy._range_coder.Decoder",
    .tp_basicsize = sizeof(Decoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Decoder_init,
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_methods = Decoder_methods,
    .tp_getset = Decoder_getset,
};

/* -------------------------------------------------------------- module */

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_range_coder",
                                    "Streaming range coder (C core).", -1, NULL};

PyMODINIT_FUNC PyInit__range_coder(void) {
    PyObject *errors = PyImport_ImportModule("latentcodec.errors");
    if (!errors) return NULL;
    BitstreamError = PyObject_GetAttrString(errors, "BitstreamError");
    IncompleteStreamError = PyObject_GetAttrString(errors, "IncompleteStreamError");
    Py_DECREF(errors);
    if (!BitstreamError || !IncompleteStreamError) return NULL;
    if (PyType_Ready(&EncoderType) < 0 || PyType_Ready(&DecoderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&EncoderType);
    Py_INCREF(&DecoderType);
    if (PyModule_AddObject(m, "Encoder", (PyObject *)&EncoderType) < 0 ||
        PyModule_AddObject(m, "Decoder", (PyObject *)&DecoderType) < 0 ||
        PyModule_AddIntConstant(m, "PRECISION", LC_PRECISION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
