/* CPython binding of the streaming trunk's kernels (causal_block.c and
 * matvec.h). The Python side (codecs/audio.py, FrozenTrunk) passes
 * contiguous float32 arrays; this checks their sizes. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "../../csrc/matvec.h"
#include "causal_block.h"

static PyObject *matvec(PyObject *self, PyObject *args) {
    Py_buffer wt, bias, x, y;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*w*:matvec", &wt, &bias, &x, &y)) return NULL;
    const Py_ssize_t in = x.len / 4, out = y.len / 4;
    const int ok = wt.len == 4 * in * out && bias.len == 4 * out;
    if (ok) lc_matvec(wt.buf, bias.buf, (int32_t)in, (int32_t)out, x.buf, y.buf);
    PyBuffer_Release(&wt), PyBuffer_Release(&bias), PyBuffer_Release(&x), PyBuffer_Release(&y);
    if (!ok) return PyErr_Format(PyExc_ValueError, "matvec: arrays of the wrong sizes");
    Py_RETURN_NONE;
}

static PyObject *block(PyObject *self, PyObject *args) {
    Py_buffer dw, dwb, ex, exb, pr, prb, x, window;
    float eps;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*fw*w*:block", &dw, &dwb, &ex, &exb, &pr, &prb, &eps, &x, &window))
        return NULL;
    Py_buffer *all[] = {&dw, &dwb, &ex, &exb, &pr, &prb, &x, &window};
    const Py_ssize_t c = dwb.len / 4, w = exb.len / 4;
    const Py_ssize_t k = c ? dw.len / (4 * c) : 0;
    const int ok = c > 0 && k > 0 && dw.len == 4 * k * c && window.len == dw.len && x.len == 4 * c &&
                   ex.len == 4 * c * w && pr.len == ex.len && prb.len == 4 * c;
    int status = 0;
    if (ok) {
        lc_causal_block b = {(int32_t)c, (int32_t)w, (int32_t)k, dw.buf, dwb.buf, ex.buf, exb.buf, pr.buf, prb.buf, eps};
        status = lc_causal_block_step(&b, x.buf, window.buf);
    }
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) PyBuffer_Release(all[i]);
    if (!ok) return PyErr_Format(PyExc_ValueError, "block: arrays of the wrong sizes");
    if (status) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"matvec", matvec, METH_VARARGS, "matvec(w_transposed, bias, x, y_out): y = W x + bias"},
    {"block", block, METH_VARARGS,
     "block(depthwise, depthwise_bias, expand_t, expand_bias, project_t, project_bias, eps, x, window): "
     "x += block(x), window updated"},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_stream_kernels",
                                    "One frame through the audio codec's trunk (C core).", -1, methods};

PyMODINIT_FUNC PyInit__stream_kernels(void) { return PyModule_Create(&module); }
