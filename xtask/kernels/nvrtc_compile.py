"""Compile one CUDA C++ file to PTX with NVRTC, through ctypes.

Run by `cargo xtask kernels` with the Python of its private virtualenv, where
PyPI's `nvidia-cuda-nvrtc-cu12` wheel provides libnvrtc. Standard library
only, so nothing else needs installing.

    python nvrtc_compile.py SOURCE.cu OUT.ptx --arch compute_80

Writes OUT.ptx and prints one JSON line: {"nvrtc_version": "12.4",
"library": "...", "options": [...]}. Exits 1 with NVRTC's log on a compile
error, 2 when libnvrtc cannot be found or loaded.
"""

import argparse
import ctypes
import glob
import json
import os
import sys


def find_nvrtc():
    """libnvrtc.so.12 from the nvidia-cuda-nvrtc-cu12 wheel of this Python."""
    try:
        import nvidia.cuda_nvrtc  # namespace package from the wheel
    except ImportError:
        return None
    for root in list(nvidia.cuda_nvrtc.__path__):
        for name in sorted(glob.glob(os.path.join(root, "lib", "libnvrtc.so*"))):
            if "builtins" not in os.path.basename(name):
                return name
    return None


def load_nvrtc(path):
    lib_dir = os.path.dirname(path)
    # libnvrtc dlopens its builtins library by name; load it first, globally,
    # so the lookup does not depend on LD_LIBRARY_PATH.
    for builtins in sorted(glob.glob(os.path.join(lib_dir, "libnvrtc-builtins.so*"))):
        ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
    return ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--arch", default="compute_80")
    args = parser.parse_args()

    path = find_nvrtc()
    if path is None:
        print("nvrtc_compile: libnvrtc not found; install nvidia-cuda-nvrtc-cu12", file=sys.stderr)
        return 2
    try:
        nvrtc = load_nvrtc(path)
    except OSError as e:
        print(f"nvrtc_compile: cannot load {path}: {e}", file=sys.stderr)
        return 2

    nvrtc.nvrtcGetErrorString.restype = ctypes.c_char_p

    def check(result, what):
        if result != 0:
            message = nvrtc.nvrtcGetErrorString(result).decode()
            raise RuntimeError(f"{what}: {message} ({result})")

    major, minor = ctypes.c_int(), ctypes.c_int()
    check(nvrtc.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")

    with open(args.source, "rb") as f:
        source = f.read()
    # -std=c++17: fixed, so a newer NVRTC's default cannot change the output.
    options = [f"--gpu-architecture={args.arch}", "--std=c++17"]
    program = ctypes.c_void_p()
    check(
        nvrtc.nvrtcCreateProgram(
            ctypes.byref(program),
            ctypes.c_char_p(source),
            ctypes.c_char_p(os.path.basename(args.source).encode()),
            0,
            None,
            None,
        ),
        "nvrtcCreateProgram",
    )
    try:
        c_options = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
        result = nvrtc.nvrtcCompileProgram(program, len(options), c_options)
        log_size = ctypes.c_size_t()
        check(nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(log_size)), "log size")
        log = ctypes.create_string_buffer(log_size.value)
        check(nvrtc.nvrtcGetProgramLog(program, log), "log")
        text = log.value.decode(errors="replace").strip()
        if result != 0:
            print(f"nvrtc_compile: {args.source} does not compile:\n{text}", file=sys.stderr)
            return 1
        if text:
            # Warnings: shown, and fatal, so the committed PTX comes from clean source.
            print(f"nvrtc_compile: warnings for {args.source}:\n{text}", file=sys.stderr)
            return 1
        ptx_size = ctypes.c_size_t()
        check(nvrtc.nvrtcGetPTXSize(program, ctypes.byref(ptx_size)), "nvrtcGetPTXSize")
        ptx = ctypes.create_string_buffer(ptx_size.value)
        check(nvrtc.nvrtcGetPTX(program, ptx), "nvrtcGetPTX")
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(program))

    with open(args.out, "wb") as f:
        f.write(ptx.value)  # without the terminating NUL
    print(
        json.dumps(
            {
                "nvrtc_version": f"{major.value}.{minor.value}",
                "library": os.path.basename(path),
                "options": options,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
