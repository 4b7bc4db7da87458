"""CuPy ``ElementwiseKernel`` sources compiled by the host's C++ compiler, so that kernels
written for a GPU (xpnet.engine.masks) are checked bit for bit on machines without one.

:class:`HostCupy` stands in for the parts of CuPy the engines ask for; each
:class:`HostKernel` runs the kernel's operation in a loop over ``i`` (CuPy runs one thread per
index) over NumPy arrays. As CuPy does, a non-``raw`` array parameter names the element ``i``
of its array, a non-``raw`` scalar parameter its value, and the type placeholder ``T`` is the
dtype of the first array declared with it. The source is compiled once per such signature.
"""

from __future__ import annotations

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

    def __init__(self, folder, in_params, out_params, operation, name, preamble=""):
        self.folder, self.operation, self.name, self.preamble = folder, operation, name, preamble
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
        source = (f"#include <cstddef>\n#include <cmath>\n"
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
        t, kinds, elements = self._resolve(args)
        function = self._compile(t, kinds, elements)
        converted = []
        for (raw, _, name), kind, element, a in zip(self.params, kinds, elements, args,
                                                    strict=True):
            want = C_TYPES[kind][2]
            if raw or element:  # what CuPy would be handed: a contiguous array of the type
                assert a.dtype == want and a.flags.c_contiguous, (name, a.dtype)
                if element:
                    sizes = {b.size for b, e in zip(args, elements, strict=True) if e}
                    assert sizes == {a.size}, (name, sizes)  # no broadcasting here
                    size = a.size if size is None else size
                converted.append(a.ctypes.data)
            else:
                assert isinstance(a, want), (name, type(a))
                converted.append(a)
        function(*converted, size)
        self.launches += 1
        return args[-1]


class HostCupy:
    """What the engines ask of CuPy, on the host."""

    def __init__(self, folder):
        self.folder = folder

    def ElementwiseKernel(self, in_params, out_params, operation, name, preamble=""):
        return HostKernel(self.folder, in_params, out_params, operation, name, preamble)

    @staticmethod
    def asarray(a):
        return np.array(a)
