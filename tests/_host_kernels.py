"""CuPy ``ElementwiseKernel`` sources compiled by the host's C++ compiler, so that kernels
written for a GPU (xpnet.engine.masks) are checked bit for bit on machines without one.

:class:`HostCupy` stands in for the parts of CuPy the engines ask for; each
:class:`HostKernel` runs the kernel's operation in a loop over ``i`` (CuPy runs one thread per
index) over NumPy arrays. As CuPy does, a non-``raw`` array parameter names the element ``i``
of its array, a non-``raw`` scalar parameter its value, and the type placeholder ``T`` is the
dtype of the first array declared with it. The source is compiled once per such signature.

With CuPy and NVRTC installed (no GPU needed: ``pip install cupy-cuda13x nvidia-cuda-nvrtc``),
:class:`NvrtcCheck` also compiles, for each signature, the very source CuPy would generate for
it (CuPy's own code generator and compiler options) for a GPU architecture: what only a GPU
run would find otherwise, a kernel that g++ accepts and NVRTC does not (raw arrays are CuPy's
``CArray``, not pointers), fails here with NVRTC's log.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import re
import shutil
import subprocess

import numpy as np

CXX = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")

#: A kernel parameter's type: its C++ spelling, its ctypes scalar, its NumPy type.
C_TYPES = {"uint32": ("unsigned int", ctypes.c_uint32, np.uint32),
           "uint64": ("unsigned long long", ctypes.c_uint64, np.uint64),
           "int32": ("int", ctypes.c_int32, np.int32),
           "int64": ("long long", ctypes.c_int64, np.int64),
           "float32": ("float", ctypes.c_float, np.float32),
           "float64": ("double", ctypes.c_double, np.float64),
           "bool": ("bool", ctypes.c_bool, np.bool_)}
_BY_DTYPE = {np.dtype(v[2]): k for k, v in C_TYPES.items()}


class HostKernel:
    """An ElementwiseKernel's source compiled by the host's C++ compiler."""

    def __init__(self, folder, in_params, out_params, operation, name, preamble="",
                 options=(), nvrtc=None, module=None):
        self.folder, self.operation, self.name, self.preamble = folder, operation, name, preamble
        self.module = module  # the HostCupy that made it (its recording, if any)
        self.in_params, self.out_params, self.options = in_params, out_params, tuple(options)
        self.nvrtc = nvrtc
        self.n_in = len(re.split(r"\s*,\s*", in_params))
        self.params = [(p.split()[0] == "raw", *p.split()[-2:])
                       for p in re.split(r"\s*,\s*", f"{in_params}, {out_params}")]
        self._compiled = {}
        self.launches = 0

    def _resolve(self, args):
        """The name of ``T``, and for each parameter its type name and whether its argument
        is an element of an array (a non-raw array) rather than a pointer or a value."""
        t = next((_BY_DTYPE[a.dtype] for (_, kind, _), a in zip(self.params, args, strict=True)
                  if kind == "T" and isinstance(a, np.ndarray)), None)
        kinds = [t if kind == "T" else kind for _, kind, _ in self.params]
        elements = [not raw and isinstance(a, np.ndarray)
                    for (raw, _, _), a in zip(self.params, args, strict=True)]
        return t, tuple(kinds), tuple(elements)

    def _compile(self, t, kinds, elements):
        key = (t, kinds, elements)
        if key in self._compiled:
            return self._compiled[key]
        signature, locals_ = [], []
        for j, ((raw, _, name), kind, element) in enumerate(
                zip(self.params, kinds, elements, strict=True)):
            c = C_TYPES[kind][0]
            if element:
                signature.append(f"{c}* {name}_p")
                const = "const " if j < self.n_in else ""
                locals_.append(f"{const}{c}& {name} = {name}_p[i];")
            else:
                signature.append(f"{c}{'*' if raw else ''} {name}")
        typedef = f"typedef {C_TYPES[t][0]} T;\n" if t else ""
        body = (f"({', '.join(signature)}, long long size) {{\n{typedef}"
                f"for (std::ptrdiff_t i = 0; i < size; ++i) {{\n{' '.join(locals_)}\n"
                f"{self.operation}\n}}\n}}\n")
        # a name per source: the loader hands back a library already loaded from a path
        digest = hashlib.sha1(f"{self.preamble}{body}".encode()).hexdigest()[:12]
        tag = f"{self.name}_{digest}"
        # CUDA's math overloads in the global namespace: sqrt(float) is a float's sqrt, not
        # the C library's double one
        source = (f"#include <cstddef>\n#include <cmath>\n"
                  f"using std::sqrt; using std::exp; using std::log; using std::fabs;\n"
                  f"#define __device__\n#define __forceinline__ inline\n{self.preamble}\n"
                  f"extern \"C\" void {tag}{body}")
        path = os.path.join(self.folder, f"{tag}.cpp")
        with open(path, "w") as f:
            f.write(source)
        # no -ffast-math: IEEE semantics (signed zeros, NaN, inf) as on the device; no
        # contraction of a * b + c into one rounding (the CUDA kernels that promise the host's
        # bits are compiled with --fmad=false)
        subprocess.run([CXX, "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-o",
                        path[:-4] + ".so", path], check=True, capture_output=True)
        function = getattr(ctypes.CDLL(path[:-4] + ".so"), tag)
        function.argtypes = [ctypes.c_void_p if raw or element else C_TYPES[kind][1]
                             for (raw, _, _), kind, element
                             in zip(self.params, kinds, elements, strict=True)]
        function.argtypes += [ctypes.c_longlong]
        self._compiled[key] = function
        return function

    def __call__(self, *args, size=None):
        recorded = None if self.module is None else self.module.recorded
        if recorded is not None:  # inside a capture: kept for the replays, not run
            recorded.append((self, args, size))
            return args[-1]
        t, kinds, _ = self._resolve(args)
        # a Python number becomes the parameter's type, as CuPy converts it
        args = tuple(C_TYPES[kind][2](a) if isinstance(a, int | float) and
                     not isinstance(a, np.generic) else a
                     for kind, a in zip(kinds, args, strict=True))
        t, kinds, elements = self._resolve(args)
        function = self._compile(t, kinds, elements)
        if self.nvrtc is not None:
            self.nvrtc.check(self, t, args, size)
        # the element arrays broadcast to one shape, as in CuPy (inputs only: an output is
        # written in place, so it must have that shape)
        shape = np.broadcast_shapes(*(a.shape for a, e in zip(args, elements, strict=True)
                                      if e))
        converted = []
        for j, ((raw, _, name), kind, element, a) in enumerate(
                zip(self.params, kinds, elements, args, strict=True)):
            want = C_TYPES[kind][2]
            if raw or element:  # what CuPy would be handed: an array of the type
                assert a.dtype == want and a.flags.c_contiguous, (name, a.dtype)
                if element:
                    if a.shape != shape:
                        assert j < self.n_in, (name, a.shape, shape)
                        a = np.ascontiguousarray(np.broadcast_to(a, shape))
                    size = a.size if size is None else size
                converted.append(a)  # kept alive until the call: a broadcast copy
            else:
                assert isinstance(a, want), (name, type(a))
                converted.append(a)
        function(*(a.ctypes.data if isinstance(a, np.ndarray) else a for a in converted),
                 size)
        self.launches += 1
        return args[-1]


class NvrtcCheck:
    """CuPy's source for a kernel's signature, compiled by NVRTC for ``arch``: CuPy's own
    code generation (``cupy._core._kernel``) and compiler options, without a GPU.

    :meth:`available` is None where CuPy or NVRTC is missing. :attr:`compiled` counts the
    distinct sources compiled; :attr:`sources` keeps them by kernel name, for reading.
    """

    #: CuPy's argument kinds (``cupy/_core/_kernel.pxd``).
    NDARRAY, INDEXER, SCALAR = 1, 2, 3

    def __init__(self, arch="90"):
        import cupy
        from cupy._core import _carray, _kernel, _scalar, core
        from cupy.cuda import compiler

        self._cupy, self._kernel, self._compiler = cupy, _kernel, compiler
        self._indexer, self._scalar = _carray.Indexer, _scalar.CScalar
        self.headers = "".join(f"#include <{h}>\n" for h in core._cupy_header_list)
        self.options = (*core.assemble_cupy_compiler_options(()), f"-arch=compute_{arch}")
        self._done: set[str] = set()
        self.sources: dict[str, list[str]] = {}

    #: why :meth:`available` found no check, the last time it found none
    why_not = ""

    @classmethod
    def available(cls, arch="90"):
        """A check, or None without CuPy or a loadable NVRTC (:attr:`why_not` says)."""
        try:
            check = cls(arch)
            check.compile("extern \"C\" __global__ void xpnet_probe() {}", "xpnet_probe")
        except Exception as e:
            cls.why_not = f"{type(e).__name__}: {e}"
            return None
        return check

    @property
    def compiled(self):
        return len(self._done)

    def compile(self, source, name, options=()):
        """Compile ``source``; a failure raises with NVRTC's log and the numbered source."""
        program = self._compiler._NVRTCProgram(self.headers + source, f"{name}.cu")
        try:
            program.compile(self.options + tuple(options))
        except self._compiler.CompileException as e:
            numbered = "\n".join(f"{k + 1:4} {line}" for k, line in
                                  enumerate((self.headers + source).splitlines()))
            raise AssertionError(f"NVRTC rejects {name}:\n{e}\n{numbered}") from None

    def _arginfo(self, a, raw, ndim):
        k = self._kernel
        if isinstance(a, np.ndarray):
            contiguous = bool(a.flags.c_contiguous) and (raw or ndim == 1)
            return k._ArgInfo(self.NDARRAY, self._cupy.ndarray, a.dtype,
                              a.ndim if raw else ndim, contiguous, a.nbytes < 2**31)
        return k._ArgInfo(self.SCALAR, self._scalar, np.dtype(type(a)), 0, True, True)

    def check(self, kernel, t, args, size):
        """Compile the source CuPy generates for ``kernel`` called with ``args``."""
        k = self._kernel
        params = (k._get_param_info(kernel.in_params, True)
                  + k._get_param_info(kernel.out_params, False)
                  + k._get_param_info("CIndexer _ind", False))
        elements = [a for (raw, _, _), a in zip(kernel.params, args, strict=True)
                    if not raw and isinstance(a, np.ndarray)]
        shape = np.broadcast_shapes(*(a.shape for a in elements)) if elements else (size,)
        # CuPy reduces contiguous element arrays to one dimension; a broadcast keeps the
        # broadcast shape's (it may merge some axes: the same code, indexed otherwise)
        broadcast = any(a.shape != shape for a in elements)
        ndim = len(shape) if broadcast else min(len(shape), 1)
        n = int(np.prod(shape)) if size is None else size
        infos = tuple(self._arginfo(a, raw, ndim)
                      for (raw, _, _), a in zip(kernel.params, args, strict=True))
        infos += (k._ArgInfo(self.INDEXER, self._indexer, None, ndim, True, n < 2**31),)
        type_map = k._TypeMap((("T", np.dtype(C_TYPES[t][2])),) if t else ())
        source = k._get_elementwise_kernel_code(infos, type_map, params, kernel.operation,
                                                kernel.name, kernel.preamble)
        if source in self._done:
            return
        self.compile(source, kernel.name, kernel.options)
        self._done.add(source)
        self.sources.setdefault(kernel.name, []).append(source)


class HostCupy:
    """What the engines ask of CuPy, on the host; with ``nvrtc`` (an :class:`NvrtcCheck`)
    each kernel's CuPy source is also compiled for the GPU."""

    def __init__(self, folder, nvrtc=None):
        self.folder, self.nvrtc = folder, nvrtc
        #: the launches of the capture under way (see :meth:`recording`), else None
        self.recorded = None

    def ElementwiseKernel(self, in_params, out_params, operation, name, preamble="",
                          options=()):
        return HostKernel(self.folder, in_params, out_params, operation, name, preamble,
                          options, self.nvrtc, module=self)

    @contextlib.contextmanager
    def recording(self):
        """Keep the launches of this module's kernels made inside (a list, yielded) instead
        of running them: a stream capture's stand-in."""
        self.recorded = launches = []
        try:
            yield launches
        finally:
            self.recorded = None

    @staticmethod
    def asarray(a):
        return np.array(a)


def replay(launches):
    """Run recorded launches (:meth:`HostCupy.recording`) again, with their arguments as
    they were recorded."""
    for kernel, args, size in launches:
        kernel(*args, size=size)
