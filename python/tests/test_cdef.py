# SPDX-License-Identifier: LGPL-2.1-or-later
"""The cffi declarations (shmk/_ffi.py) against include/shmk/*.h.

A C file includes <shmk/shmk.h>, redeclares every function of the cdef
verbatim (a different parameter or return type is a "conflicting types"
error) and asserts with _Static_assert each constant's value, each
struct's size and each field's offset, size and type as cffi sees them.
The C compiler then says where the copy drifted from the headers.
"""

import os
import re
import subprocess


import shmk
from shmk import _ffi
from conftest import TOP

CC = os.environ.get("CC", "cc")
FUNCS = _ffi.FUNCS + _ffi.WAITSET_FUNCS + _ffi.V04_FUNCS + _ffi.V05_FUNCS
TYPES = _ffi.TYPES + _ffi.WAITSET_TYPES + _ffi.V04_TYPES


def c_checks(funcs=FUNCS, types=TYPES):
    ffi = _ffi.ffi
    out = ["#include <stddef.h>", "#include <stdint.h>",
           "#include <shmk/shmk.h>", "", funcs, ""]

    def sa(cond, what):
        out.append('_Static_assert(%s, "%s");' % (cond, what))

    for m in re.finditer(r"(?m)^#define (\w+) (\S+)$", types):
        sa("%s == %s" % m.groups(), m.group(1))
    for m in re.finditer(r"enum (\w+) \{([^}]*)\}", types):
        for name, value in re.findall(r"(\w+) = (\w+)", m.group(2)):
            sa("%s == %s" % (name, value), name)
    for m in re.finditer(r"(?m)^struct (\w+) \{", types):
        st = "struct " + m.group(1)
        t = ffi.typeof(st)
        sa("sizeof(%s) == %d" % (st, ffi.sizeof(t)), st + ": size")
        for fname, f in t.fields:
            member = "((%s *)0)->%s" % (st, fname)
            sa("offsetof(%s, %s) == %d" % (st, fname, f.offset),
               "%s.%s: offset" % (st, fname))
            sa("sizeof(%s) == %d" % (member, ffi.sizeof(f.type)),
               "%s.%s: size" % (st, fname))
            ctype = ffi.getctype(f.type)
            alts = [ctype]
            if f.type.kind == "array":
                # An array decays in _Generic: compare its address.
                member = "&" + member
                alts = [ffi.getctype(f.type, "(*)")]
            if f.type.kind == "pointer":
                # cffi does not keep a pointee's const: accept either.
                alts.append(ffi.getctype(f.type.item) + " const *")
            sa("_Generic(%s, %s, default: 0)"
               % (member, ", ".join(a + ": 1" for a in alts)),
               "%s.%s: type %s" % (st, fname, ctype))
    return "\n".join(out) + "\n"


def compile_c(tmp_path, text):
    src = tmp_path / "cdef_check.c"
    src.write_text(text)
    return subprocess.run(
        [CC, "-std=c11", "-fsyntax-only", "-Wall", "-Werror",
         "-I", os.path.join(TOP, "include"),
         "-I", os.path.join(TOP, "include", "uapi"), str(src)],
        capture_output=True, text=True)


def test_cdef_matches_headers(tmp_path):
    r = compile_c(tmp_path, c_checks())
    assert r.returncode == 0, r.stderr


def test_check_catches_a_changed_parameter(tmp_path):
    funcs = FUNCS.replace(
        "int shmk_pub_drain(struct shmk_port *p, int64_t timeout_ns);",
        "int shmk_pub_drain(struct shmk_port *p, int32_t timeout_ns);")
    assert funcs != FUNCS
    r = compile_c(tmp_path, c_checks(funcs=funcs))
    assert r.returncode != 0 and "shmk_pub_drain" in r.stderr


def test_check_catches_a_changed_constant(tmp_path):
    types = TYPES.replace("#define SHMK_SVC_EXCL 2",
                          "#define SHMK_SVC_EXCL 4")
    assert types != TYPES
    r = compile_c(tmp_path, c_checks(types=types))
    assert r.returncode != 0 and "SHMK_SVC_EXCL" in r.stderr


def test_check_catches_a_changed_struct(tmp_path):
    # A struct cffi lays out differently from the header (a field's type).
    import cffi
    ffi = cffi.FFI()
    types = TYPES.replace("\tuint64_t seq;", "\tuint32_t seq;")
    ffi.cdef(types)
    saved = _ffi.ffi
    _ffi.ffi = ffi
    try:
        text = c_checks(types=types)
    finally:
        _ffi.ffi = saved
    r = compile_c(tmp_path, text)
    assert r.returncode != 0 and "struct shmk_sample" in r.stderr


def test_every_function_is_in_the_library():
    names = re.findall(r"(\w+)\(", FUNCS)
    assert len(names) > 30
    for n in names:
        assert getattr(shmk.lib, n) is not None, n


def test_the_loaded_library():
    assert os.path.exists(shmk.library_path())
