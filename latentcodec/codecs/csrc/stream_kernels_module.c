/* CPython binding of the streaming trunk's kernels (causal_block.c). The
 * Python side (codecs/audio.py, FrozenTrunk) passes contiguous float32
 * arrays, and fp16 matrices; this checks their sizes. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "causal_block.h"

static PyObject *matvec(PyObject *self, PyObject *args) {
    Py_buffer wt, bias, x, y;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*w*:matvec", &wt, &bias, &x, &y)) return NULL;
    const Py_ssize_t in = x.len / 4, out = y.len / 4;
    const int half = wt.len == 2 * in * out; /* else float32 */
    const int ok = (half || wt.len == 4 * in * out) && bias.len == 4 * out;
    if (ok) lc_trunk_matvec(wt.buf, half, bias.buf, (int32_t)in, (int32_t)out, x.buf, y.buf);
    PyBuffer_Release(&wt), PyBuffer_Release(&bias), PyBuffer_Release(&x), PyBuffer_Release(&y);
    if (!ok) return PyErr_Format(PyExc_ValueError, "matvec: arrays of the wrong sizes");
    Py_RETURN_NONE;
}

static PyObject *block(PyObject *self, PyObject *args) {
    Py_buffer dw, dwb, scale, shift, ex, exb, pr, prb, gain, x, window;
    float eps;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*fw*w*:block", &dw, &dwb, &scale, &shift, &ex, &exb, &pr, &prb,
                          &gain, &eps, &x, &window))
        return NULL;
    Py_buffer *all[] = {&dw, &dwb, &scale, &shift, &ex, &exb, &pr, &prb, &gain, &x, &window};
    const Py_ssize_t c = dwb.len / 4, w = exb.len / 4;
    const Py_ssize_t k = c ? dw.len / (4 * c) : 0;
    const int half = ex.len == 2 * c * w; /* else float32 */
    const int ok = c > 0 && k > 0 && dw.len == 4 * k * c && window.len == dw.len && x.len == 4 * c &&
                   scale.len == 4 * c && shift.len == 4 * c && gain.len == 4 * c && prb.len == 4 * c &&
                   (half || ex.len == 4 * c * w) && pr.len == ex.len;
    int status = 0;
    if (ok) {
        lc_causal_block b = {(int32_t)c, (int32_t)w, (int32_t)k, dw.buf, dwb.buf, scale.buf, shift.buf,
                             half,       ex.buf,     exb.buf,    pr.buf, prb.buf, gain.buf,  eps};
        status = lc_causal_block_step(&b, x.buf, window.buf);
    }
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) PyBuffer_Release(all[i]);
    if (!ok) return PyErr_Format(PyExc_ValueError, "block: arrays of the wrong sizes");
    if (status) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *fast_fp16(PyObject *self, PyObject *unused) {
    (void)self, (void)unused;
    return PyBool_FromLong(lc_fast_fp16());
}

static PyMethodDef methods[] = {
    {"fast_fp16", fast_fp16, METH_NOARGS, "fast_fp16() -> whether fp16 matrices are worth passing on this CPU"},
    {"matvec", matvec, METH_VARARGS, "matvec(w_transposed, bias, x, y_out): y = W x + bias (W fp16 or float32)"},
    {"block", block, METH_VARARGS,
     "block(depthwise, depthwise_bias, norm_scale, norm_shift, expand_t, expand_bias, project_t, "
     "project_bias, gain, eps, x, window): x += block(x), window updated (matrices fp16 or float32)"},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_stream_kernels",
                                    "One frame through the audio codec's trunk (C core).", -1, methods};

PyMODINIT_FUNC PyInit__stream_kernels(void) { return PyModule_Create(&module); }
