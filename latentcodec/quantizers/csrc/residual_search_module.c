/* CPython binding of residual_search.c. The Python wrapper
 * (quantizers/residual_vq.py) passes contiguous arrays of the right dtypes;
 * this checks their sizes. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "residual_search.h"

static PyObject *search(PyObject *self, PyObject *args) {
    Py_buffer codebooks, transposed, half_norms, z, paths, norms;
    (void)self;
    int size, dim, stages, beam;
    double threshold;
    if (!PyArg_ParseTuple(args, "y*y*y*iiy*iidw*w*:search", &codebooks, &transposed, &half_norms, &size, &dim, &z, &stages,
                          &beam, &threshold, &paths, &norms))
        return NULL;
    Py_buffer *all[] = {&codebooks, &transposed, &half_norms, &z, &paths, &norms};
    const char *bad = NULL;
    Py_ssize_t n = 0;
    if (size < 1 || dim < 1 || codebooks.len % (4 * (Py_ssize_t)size * dim) ||
        half_norms.len * dim != codebooks.len || transposed.len != codebooks.len)
        bad = "codebooks and half norms do not agree";
    else if (stages < 1 || (Py_ssize_t)stages * size * dim * 4 > codebooks.len)
        bad = "more stages than codebooks";
    else if (beam < 1 || beam > LC_SEARCH_MAX_BEAM)
        bad = "beam out of range";
    else if (z.len % (4 * (Py_ssize_t)dim))
        bad = "vectors of the wrong size";
    else {
        n = z.len / (4 * (Py_ssize_t)dim);
        if (paths.len != 8 * n * stages * stages || norms.len != 4 * n * stages) bad = "output arrays of the wrong size";
    }
    int status = 0;
    if (!bad) {
        Py_BEGIN_ALLOW_THREADS
        status = lc_residual_search(codebooks.buf, transposed.buf, half_norms.buf, size, dim, z.buf, (size_t)n, stages, beam,
                                    threshold, paths.buf, norms.buf);
        Py_END_ALLOW_THREADS
    }
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) PyBuffer_Release(all[i]);
    if (bad) return PyErr_Format(PyExc_ValueError, "residual search: %s", bad);
    if (status) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"search", search, METH_VARARGS,
     "search(codebooks, transposed, half_norms, size, dim, z, stages, beam, threshold, paths_out, norms_out)"},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_residual_search",
                                    "Greedy and beam search of residual VQ codebooks (C core).", -1, methods};

PyMODINIT_FUNC PyInit__residual_search(void) { return PyModule_Create(&module); }
